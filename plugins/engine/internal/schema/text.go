package schema

import (
	"strconv"
	"strings"

	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
)

// Messages quote the schema's description because it cites the doc table
// and states the rule in the doc's words: that is what the client must fix.
func describeSchema(s *Schema) string {
	if s == nil || s.Description == "" {
		return ""
	}
	return " (" + s.Description + ")"
}

func describeProp(s *Schema) string {
	if s.refS != nil && s.Description == "" {
		return describeSchema(s.refS)
	}
	return describeSchema(s)
}

func nameRule(s *Schema) string {
	switch {
	case len(s.enum) > 0:
		return ": allowed names are " + enumList(s.enum)
	case s.pattern != nil:
		return ": names must match " + s.pattern.src + describeSchema(s)
	}
	return describeSchema(s)
}

func typeName(bits uint8) string {
	var names []string
	for _, n := range []string{"null", "boolean", "number", "integer", "string", "object", "array"} {
		if bits&typeBits[n] != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, " or ")
}

func article(name string) string {
	switch name[0] {
	case 'a', 'i', 'o':
		return "an " + name
	}
	return "a " + name
}

// quoteShort quotes a value for a message, cut to jsontree.MaxQuoted
// bytes: a 3,000 character password must not be echoed back whole.
func quoteShort(s string) string { return jsontree.Quote(s) }

func enumList(ls []literal) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.text
	}
	return strings.Join(parts, ", ")
}

// canonical encodes a value with sorted keys and decoded strings, so equal
// JSON values encode equally (uniqueItems).
func canonical(dst []byte, t *jsontree.Tree, n int32) []byte {
	node := t.Nodes[n]
	switch node.Kind {
	case jsontree.String:
		return strconv.AppendQuote(dst, string(t.Str(n)))
	case jsontree.Number:
		return append(dst, canonicalNumber(t.Raw(n))...)
	case jsontree.Object:
		dst = append(dst, '{')
		for i, k := range sortedKeys(t, n) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendQuote(dst, string(t.Str(k)))
			dst = append(dst, ':')
			dst = canonical(dst, t, k+1)
		}
		return append(dst, '}')
	case jsontree.Array:
		dst = append(dst, '[')
		first := true
		for e := node.First; e >= 0; e = t.Nodes[e].Next {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = canonical(dst, t, e)
		}
		return append(dst, ']')
	}
	return append(dst, t.RawJSON(n)...)
}
