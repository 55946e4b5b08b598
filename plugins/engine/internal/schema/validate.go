package schema

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
)

// Violation is one broken rule: where (a JSON pointer into the request),
// which keyword, and a message that says what to fix.
type Violation struct {
	Pointer string
	Rule    string
	Message string
}

// ItemFailure is one failed element of a per-item array.
type ItemFailure struct {
	Index      int
	Violations []Violation
}

// Batch is the per-item verdict of one x-onboard-per-item array.
type Batch struct {
	Pointer string
	Total   int
	Failed  []ItemFailure
}

// Validator checks a JSON document against a compiled schema in one pass
// over the bytes: it scans, validates and notes where defaults go, without
// building a tree. Go code runs about ten times slower in Wasm than
// natively and every function call counts there, so the hot path is a few
// tight loops with no allocation. Alternatives (oneOf, anyOf, not, if) are
// checked by scanning the value's bytes again.
//
// It is stricter than encoding/json: invalid UTF-8, duplicate member names
// and nesting deeper than jsontree.MaxDepth are errors (rules "utf8",
// "duplicate-key", "depth"), like any syntax error (rule "json").
//
// Reuse one Validator per goroutine; it is not safe for concurrent use.
type Validator struct {
	Prefix     string // prepended to every pointer (validating a subtree)
	Violations []Violation
	Batches    []Batch
	Syntax     *jsontree.Error // set when the document is not acceptable JSON

	src     []byte
	i       int
	depth   int
	path    []pathSeg
	sink    *[]Violation
	inserts []insert
	keys    []span // member names of open free-form objects (duplicate check)
	dec     []byte // scratch: decoded string
	dec2    []byte // scratch: decoded key being compared
	itemBuf []Violation
	// rescanning: the value under the cursor was accepted as JSON by the
	// main pass, so what no schema constrains can be skipped unchecked.
	rescanning bool
}

type pathSeg struct {
	start, end int32 // key bytes, or start < 0 for an array index
	index      int32
	escaped    bool
}

type span struct {
	start, end int32
	escaped    bool
	nul        bool // holds the escape \u0000 (rule "nul")
}

// insert records where an object closes and which declared members it
// lacked, so Normalize can add their defaults.
type insert struct {
	at      int // offset of the closing '}'
	s       *Schema
	seen    uint64
	members int
}

// mode says what a scan may do: collect reports violations; main also
// records batches and default insertions (a re-scan for an alternative
// must not record them twice).
type mode uint8

const (
	quiet   mode = 0
	collect mode = 1
	main    mode = 3
)

// Validate checks src against s. Afterwards Syntax is set if src is not
// acceptable JSON (then Violations and Batches are empty), else Violations
// and Batches hold the verdict.
func (v *Validator) Validate(s *Schema, src []byte) {
	v.reset(src)
	v.sink = &v.Violations
	v.skipSpace()
	if v.i >= len(src) {
		msg := "request body is empty: send a JSON object"
		if len(src) > 0 {
			msg = "request body holds only whitespace: send a JSON object"
		}
		v.Syntax = &jsontree.Error{Rule: "json", Offset: v.i, Msg: msg}
	} else {
		v.value(s, main)
		if v.Syntax == nil {
			v.skipSpace()
			if v.i < len(src) {
				v.syntaxError("unexpected %s after the end of the JSON value", jsontree.Describe(src, v.i))
			}
		}
	}
	if v.Syntax != nil {
		v.Violations, v.Batches, v.inserts = v.Violations[:0], v.Batches[:0], v.inserts[:0]
	}
}

// Valid reports whether src conforms, collecting nothing.
func (v *Validator) Valid(s *Schema, src []byte) bool {
	v.reset(src)
	v.skipSpace()
	if v.i >= len(src) {
		return false
	}
	ok := v.value(s, quiet)
	v.skipSpace()
	return ok && v.Syntax == nil && v.i == len(src)
}

func (v *Validator) reset(src []byte) {
	v.src, v.i, v.depth = src, 0, 0
	v.path, v.keys, v.inserts = v.path[:0], v.keys[:0], v.inserts[:0]
	v.Violations, v.Batches, v.Syntax = v.Violations[:0], v.Batches[:0], nil
}

// space skips whitespace; the check is inline so that compact JSON, where
// there is none, pays no call.
func (v *Validator) space() {
	if v.i < len(v.src) && v.src[v.i] <= ' ' {
		v.skipSpace()
	}
}

func (v *Validator) skipSpace() {
	src, i := v.src, v.i
	for i < len(src) {
		switch src[i] {
		case ' ':
			i = spaceRun(src, i)
		case '\n', '\r', '\t':
			i++
		default:
			v.i = i
			return
		}
	}
	v.i = i
}

func (v *Validator) syntaxError(format string, args ...any) bool {
	return v.syntaxRule("json", "", v.i, format, args...)
}

func (v *Validator) syntaxRule(rule, ptr string, at int, format string, args ...any) bool {
	if v.Syntax == nil {
		text := fmt.Sprintf(format, args...)
		v.Syntax = &jsontree.Error{Rule: rule, Offset: at, Pointer: ptr, Text: text,
			Msg: jsontree.Position(v.src, at) + ": " + text}
	}
	return false
}

// pointer materialises the current path (failure paths only).
func (v *Validator) pointer() string {
	var b strings.Builder
	b.WriteString(v.Prefix)
	for _, s := range v.path {
		b.WriteByte('/')
		if s.start < 0 {
			b.WriteString(strconv.Itoa(int(s.index)))
			continue
		}
		b.WriteString(jsontree.EscapePointer(v.keyString(span{start: s.start, end: s.end, escaped: s.escaped})))
	}
	return b.String()
}

func (v *Validator) keyString(k span) string {
	raw := v.src[k.start:k.end]
	if !k.escaped {
		return string(raw)
	}
	return string(abi.Unescape(nil, raw))
}

func (v *Validator) report(m mode, rule string, msg func() string) {
	if m&collect != 0 {
		*v.sink = append(*v.sink, Violation{Pointer: v.pointer(), Rule: rule, Message: msg()})
	}
}

// value scans the value at v.i (not whitespace) against s and leaves v.i
// after it. It returns whether the value conforms; v.Syntax is set on a
// syntax error, and every caller stops at once then.
func (v *Validator) value(s *Schema, m mode) bool {
	for s != nil && s.onlyRef {
		s = s.refS
	}
	if s == nil && v.rescanning {
		v.i = skipValid(v.src, v.i)
		return true
	}
	if v.i >= len(v.src) {
		return v.syntaxError("unexpected end of input: the JSON value is truncated")
	}
	start := v.i
	ok := true
	switch c := v.src[v.i]; {
	case c == '{':
		ok = v.object(s, m)
	case c == '[':
		ok = v.array(s, m)
	case c == '"':
		// Fast path: a plain ASCII string needs no call to scan.
		src := v.src
		j := v.i + 1
		j = stringRun(src, j)
		if j < len(src) && src[j] == '"' {
			v.i = j + 1
			if s != nil {
				if s.types != 0 && s.types&tString == 0 {
					sp := span{start: int32(start + 1), end: int32(j)}
					v.typeFails(s, m, func() string { return "string " + quoteShort(v.strText(sp)) })
					ok = false
				} else if s.stringRules {
					ok = v.checkString(s, m, span{start: int32(start + 1), end: int32(j)}, j-start-1)
				}
			}
		} else {
			ok = v.stringValue(s, m)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		ok = v.number(s, m)
	case c == 't':
		ok = v.literal("true", s, m, tBoolean)
	case c == 'f':
		ok = v.literal("false", s, m, tBoolean)
	case c == 'n':
		ok = v.literal("null", s, m, tNull)
	default:
		return v.syntaxError("unexpected %s where a value was expected", jsontree.Describe(v.src, v.i))
	}
	if v.Syntax != nil {
		return false
	}
	if s != nil && s.combines && (ok || m&collect != 0) {
		ok = v.combinators(s, start, v.i, m) && ok
	}
	return ok
}

// typeFails reports a type mismatch; other keywords of s then do not apply.
func (v *Validator) typeFails(s *Schema, m mode, actual func() string) {
	v.report(m, "type", func() string {
		return "must be " + article(typeName(s.types)) + ", got " + actual() + describeSchema(s)
	})
}

func (v *Validator) literal(word string, s *Schema, m mode, bit uint8) bool {
	start := v.i
	if len(v.src)-v.i < len(word) || string(v.src[v.i:v.i+len(word)]) != word {
		return v.syntaxError("invalid literal: expected %s", word)
	}
	v.i += len(word)
	if s == nil {
		return true
	}
	if s.types != 0 && s.types&bit == 0 {
		v.typeFails(s, m, func() string {
			if word == "null" {
				return "null"
			}
			return "boolean " + word
		})
		return false
	}
	return v.scalarEnum(s, m, start)
}

// scalarEnum checks const and enum for a non-string scalar at [start, v.i).
func (v *Validator) scalarEnum(s *Schema, m mode, start int) bool {
	if !s.hasConst && len(s.enum) == 0 {
		return true
	}
	raw := v.src[start:v.i]
	ok := true
	if s.hasConst && !s.constant.equalsRaw(raw) {
		ok = false
		v.report(m, "const", func() string { return "must be " + s.constant.text + ", got " + jsontree.Short(string(raw)) })
	}
	if len(s.enum) > 0 {
		found := false
		for i := range s.enum {
			if s.enum[i].equalsRaw(raw) {
				found = true
				break
			}
		}
		if !found {
			ok = false
			v.report(m, "enum", func() string { return "must be one of " + enumList(s.enum) + "; got " + jsontree.Short(string(raw)) })
		}
	}
	return ok
}

func (v *Validator) number(s *Schema, m mode) bool {
	src, i := v.src, v.i
	start := i
	if src[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
			n++
		}
		return n
	}
	integral := true
	if i < len(src) && src[i] == '0' {
		i++
	} else if digits() == 0 {
		v.i = i
		return v.syntaxError("invalid number: expected a digit")
	}
	if i < len(src) && src[i] == '.' {
		i++
		integral = false
		if digits() == 0 {
			v.i = i
			return v.syntaxError("invalid number: expected a digit after '.'")
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		integral = false
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if digits() == 0 {
			v.i = i
			return v.syntaxError("invalid number: expected a digit in the exponent")
		}
	}
	v.i = i
	if s == nil {
		return true
	}
	raw := src[start:i]
	if s.types != 0 && s.types&tNumber == 0 && (s.types&tInteger == 0 || !(integral || isInteger(raw))) {
		v.typeFails(s, m, func() string {
			if integral || isInteger(raw) {
				return "integer " + jsontree.Short(string(raw))
			}
			return "number " + jsontree.Short(string(raw))
		})
		return false
	}
	ok := v.scalarEnum(s, m, start)
	if s.minimum != nil || s.maximum != nil {
		d := parseDecimal(raw)
		if s.minimum != nil && d.compare(s.minimum.dec) < 0 {
			ok = false
			v.report(m, "minimum", func() string { return "must be at least " + s.minimum.text + ", got " + jsontree.Short(string(raw)) })
		}
		if s.maximum != nil && d.compare(s.maximum.dec) > 0 {
			ok = false
			v.report(m, "maximum", func() string { return "must be at most " + s.maximum.text + ", got " + jsontree.Short(string(raw)) })
		}
	}
	return ok
}

// strSafe marks bytes that need no attention inside a string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString scans the string at v.i (on its opening quote) and returns its
// content span and rune count (of the raw bytes; escaped strings are
// re-counted after decoding).
func (v *Validator) scanString() (sp span, runes int, ok bool) {
	src := v.src
	i := v.i + 1
	start := i
	multi := 0 // bytes beyond the first of multi-byte runes
	escaped, nul := false, false
	for {
		i = stringRun(src, i)
		if i >= len(src) {
			v.i = i
			return sp, 0, v.syntaxError("unexpected end of input inside a string")
		}
		switch c := src[i]; {
		case c == '"':
			v.i = i + 1
			return span{int32(start), int32(i), escaped, nul}, i - start - multi, true
		case c == '\\':
			escaped = true
			if i+1 >= len(src) {
				v.i = i
				return sp, 0, v.syntaxError("unexpected end of input inside a string escape")
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) || !jsontree.IsHex4(src[i+2:i+6]) {
					v.i = i
					return sp, 0, v.syntaxError(`invalid \u escape: expected four hex digits`)
				}
				if string(src[i+2:i+6]) == "0000" {
					nul = true
				}
				i += 6
			default:
				v.i = i
				return sp, 0, v.syntaxError("invalid escape %q in string", src[i:i+2])
			}
		case c < 0x20:
			v.i = i
			return sp, 0, v.syntaxError("control character 0x%02x in string: escape it (for example \\n)", c)
		default:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				v.i = i
				return sp, 0, v.syntaxRule("utf8", v.pointer(), i, "invalid UTF-8 byte 0x%02x in string: send UTF-8 text", c)
			}
			i += size
			multi += size - 1
		}
	}
}

func (v *Validator) stringValue(s *Schema, m mode) bool {
	sp, runes, ok := v.scanString()
	if !ok {
		return false
	}
	if sp.nul && !v.nulFails(m, "") {
		ok = false
	}
	if s == nil {
		return ok
	}
	if s.types != 0 && s.types&tString == 0 {
		v.typeFails(s, m, func() string { return "string " + quoteShort(v.strText(sp)) })
		return false
	}
	return v.checkString(s, m, sp, runes) && ok
}

// nulFails applies rule "nul" to a string (what "" for a value, "member
// name " for a key) that holds \u0000: every string, schema or not, because
// PostgreSQL cannot store U+0000 in text and one rule must hold on every
// store. A re-scan for an alternative has nothing to add: the main pass
// reported it once. It returns false when the rule fails.
func (v *Validator) nulFails(m mode, what string) bool {
	if v.rescanning {
		return true
	}
	v.report(m, "nul", func() string {
		return what + "contains U+0000 (\\u0000), which onboard accepts in no string: remove it"
	})
	return false
}

// strText returns a string's decoded text (messages, decoding scratch).
func (v *Validator) strText(sp span) string {
	if !sp.escaped {
		return string(v.src[sp.start:sp.end])
	}
	return string(abi.Unescape(nil, v.src[sp.start:sp.end]))
}

// checkString applies the string keywords of s to the string sp.
func (v *Validator) checkString(s *Schema, m mode, sp span, runes int) bool {
	if !s.stringRules {
		return true
	}
	text := v.src[sp.start:sp.end]
	if sp.escaped {
		v.dec = abi.Unescape(v.dec[:0], text)
		text = v.dec
		runes = utf8.RuneCount(text)
	}
	ok := true
	if runes < s.minLen {
		ok = false
		v.report(m, "minLength", func() string {
			if s.minLen == 1 {
				return "must not be empty" + describeSchema(s)
			}
			return "must be at least " + strconv.Itoa(s.minLen) + " characters, got " + strconv.Itoa(runes) + describeSchema(s)
		})
	}
	if s.maxLen >= 0 && runes > s.maxLen {
		ok = false
		v.report(m, "maxLength", func() string {
			return "must be at most " + strconv.Itoa(s.maxLen) + " characters, got " + strconv.Itoa(runes) + describeSchema(s)
		})
	}
	if s.pattern != nil && !s.pattern.match(text) {
		ok = false
		v.report(m, "pattern", func() string {
			return quoteShort(v.strText(sp)) + " does not match " + s.pattern.src + describeSchema(s)
		})
	}
	if s.hasConst && !(s.constant.kind == jsontree.String && string(text) == s.constant.str) {
		ok = false
		v.report(m, "const", func() string { return "must be " + s.constant.text + ", got " + quoteShort(v.strText(sp)) })
	}
	if len(s.enum) > 0 {
		found := false
		for i := range s.enum {
			if s.enum[i].kind == jsontree.String && string(text) == s.enum[i].str {
				found = true
				break
			}
		}
		if !found {
			ok = false
			v.report(m, "enum", func() string { return "must be one of " + enumList(s.enum) + "; got " + quoteShort(v.strText(sp)) })
		}
	}
	return ok
}

// member scans `"name" :` and returns the name's span.
func (v *Validator) member() (span, bool) {
	if v.i >= len(v.src) {
		return span{}, v.syntaxError("unexpected end of input: expected a member name")
	}
	if v.src[v.i] != '"' {
		return span{}, v.syntaxError("unexpected %s: member names must be double-quoted strings", jsontree.Describe(v.src, v.i))
	}
	k, _, ok := v.scanString()
	if !ok {
		return k, false
	}
	v.skipSpace()
	if v.i >= len(v.src) {
		return k, v.syntaxError("unexpected end of input: expected ':' after the member name")
	}
	if v.src[v.i] != ':' {
		return k, v.syntaxError("unexpected %s: expected ':' after the member name", jsontree.Describe(v.src, v.i))
	}
	v.i++
	v.skipSpace()
	return k, true
}

// propIndex finds the declared property called by key k, or -1.
func (v *Validator) propIndex(s *Schema, k span) int {
	name := v.src[k.start:k.end]
	if k.escaped {
		v.dec2 = abi.Unescape(v.dec2[:0], name)
		name = v.dec2
	}
	for i := range s.props {
		if s.props[i].name == string(name) {
			return i
		}
	}
	return -1
}

func (v *Validator) sameKey(a, b span) bool {
	if !a.escaped && !b.escaped {
		return string(v.src[a.start:a.end]) == string(v.src[b.start:b.end])
	}
	return v.keyString(a) == v.keyString(b)
}

func (v *Validator) enter() bool {
	v.depth++
	if v.depth > jsontree.MaxDepth {
		return v.syntaxRule("depth", "", v.i, "JSON nests deeper than %d levels; flatten the document", jsontree.MaxDepth)
	}
	return true
}

// object scans an object. Its returns before the end are syntax errors,
// after which nothing is scanned, so only the end restores v.keys and
// v.depth. One function, not a wrapper around the body: every call costs
// a trip through Go's Wasm call sequence and a budget check
// (host/internal/loopguard).
func (v *Validator) object(s *Schema, m mode) bool {
	if !v.enter() {
		return false
	}
	keysBase := len(v.keys)
	start := v.i
	ok := true
	wrongType := s != nil && s.types != 0 && s.types&tObject == 0
	if wrongType {
		ok = false
		v.typeFails(s, m, func() string { return "object" })
		s = nil
	}
	v.i++
	v.space()
	var seen uint64
	members := 0
	next := 0 // the declared property expected next (see below)
	if v.i < len(v.src) && v.src[v.i] == '}' {
		v.i++
	} else {
		src := v.src
		for {
			// Fast path, inline because calls cost ~30 ns each in Go's
			// Wasm: a plain ASCII name followed by ':'.
			var k span
			i := v.i
			j := i + 1
			if i+17 <= len(src) && src[i] == '"' {
				// A name of up to 15 plain bytes ends within two words:
				// found without a call to stringRun.
				if stop := stringStops(load8(src, i+1)); stop != 0 {
					j += bits.TrailingZeros64(stop) >> 3
				} else if stop = stringStops(load8(src, i+9)); stop != 0 {
					j += 8 + bits.TrailingZeros64(stop)>>3
				} else {
					j = stringRun(src, j)
				}
			} else if i < len(src) && src[i] == '"' {
				j = stringRun(src, j)
			}
			if j+1 < len(src) && src[i] == '"' && src[j] == '"' && src[j+1] == ':' {
				k = span{start: int32(i + 1), end: int32(j)}
				v.i = j + 2
				v.space()
			} else {
				if members > 0 && i < len(src) && src[i] == '}' {
					return v.syntaxError("trailing comma before '}': remove the comma after the last member")
				}
				var good bool
				if k, good = v.member(); !good {
					return false
				}
				if k.nul {
					v.path = append(v.path, pathSeg{start: k.start, end: k.end, escaped: k.escaped})
					if !v.nulFails(m, "member name ") {
						ok = false
					}
					v.path = v.path[:len(v.path)-1]
				}
			}
			members++
			idx := -1
			if s != nil && len(s.props) > 0 {
				if n := int(k.end - k.start); !k.escaped && n <= 16 && int(k.start)+16 <= len(src) {
					// Compare words, trying first the property after the
					// last one found: clients mostly send members in the
					// documented order.
					mask := &keyMasks[n]
					w0 := load8(src, int(k.start)) & mask[0]
					w1 := load8(src, int(k.start)+8) & mask[1]
					if p := &s.props[next]; p.w0 == w0 && p.w1 == w1 && p.n == n {
						idx = next
					} else {
						for pi := range s.props {
							if p := &s.props[pi]; p.w0 == w0 && p.w1 == w1 && p.n == n {
								idx = pi
								break
							}
						}
					}
				} else {
					idx = v.propIndex(s, k)
				}
			}
			if idx >= 0 {
				if seen&(1<<uint(idx)) != 0 {
					return v.duplicate(k)
				}
				seen |= 1 << uint(idx)
				if next = idx + 1; next == len(s.props) {
					next = 0
				}
			} else {
				// Free-form members are compared pairwise; maps in these
				// APIs are small, and this needs no allocation.
				for _, prev := range v.keys[keysBase:] {
					if v.sameKey(prev, k) {
						return v.duplicate(k)
					}
				}
				v.keys = append(v.keys, k)
			}
			v.path = append(v.path, pathSeg{start: k.start, end: k.end, escaped: k.escaped})
			var sub *Schema
			switch {
			case s == nil:
			case idx >= 0:
				sub = s.props[idx].schema
			case s.noAdditional:
				ok = false
				v.report(m, "additionalProperties", func() string {
					return "unknown member " + jsontree.Quote(v.keyString(k)) + ": allowed members are " + s.names
				})
			default:
				sub = s.additional
			}
			if s != nil && s.propNames != nil && !v.checkName(s.propNames, k, m) {
				ok = false
			}
			// Fast path for the commonest member, a plain ASCII string
			// under a string schema: what value would do, without the
			// call and its dispatch.
			if j := v.i + 1; v.i < len(src) && src[v.i] == '"' && sub != nil && !sub.onlyRef && !sub.combines &&
				(sub.types == 0 || sub.types&tString != 0) {
				j = stringRun(src, j)
				if j < len(src) && src[j] == '"' {
					at := v.i + 1
					v.i = j + 1
					if sub.stringRules && !v.checkString(sub, m, span{start: int32(at), end: int32(j)}, j-at) {
						ok = false
					}
				} else if !v.stringValue(sub, m) {
					ok = false
					if v.Syntax != nil {
						return false
					}
				}
			} else if !v.value(sub, m) {
				ok = false
				if v.Syntax != nil {
					return false
				}
			}
			v.path = v.path[:len(v.path)-1]
			v.space()
			if v.i >= len(src) {
				return v.syntaxError("unexpected end of input: an object is not closed")
			}
			if c := src[v.i]; c == ',' {
				v.i++
				v.space()
				continue
			} else if c == '}' {
				v.i++
				break
			}
			return v.syntaxError("unexpected %s in object: expected ',' or '}'", jsontree.Describe(v.src, v.i))
		}
	}
	v.keys = v.keys[:keysBase]
	v.depth--
	if s == nil {
		return ok
	}
	if s.requiredMask&^seen != 0 {
		ok = false
		for i := range s.props {
			if s.props[i].required && seen&(1<<uint(i)) == 0 {
				p := &s.props[i]
				v.report(m, "required", func() string { return "missing required member " + strconv.Quote(p.name) + describeProp(p.schema) })
			}
		}
	}
	for _, name := range s.required { // required names without a declared property
		if !v.hasMember(start, name) {
			ok = false
			v.report(m, "required", func() string { return "missing required member " + strconv.Quote(name) })
		}
	}
	if s.minProps >= 0 && members < s.minProps {
		ok = false
		v.report(m, "minProperties", func() string {
			return "must have at least " + strconv.Itoa(s.minProps) + " members, got " + strconv.Itoa(members)
		})
	}
	if s.maxProps >= 0 && members > s.maxProps {
		ok = false
		v.report(m, "maxProperties", func() string {
			return "must have at most " + strconv.Itoa(s.maxProps) + " members, got " + strconv.Itoa(members)
		})
	}
	if m == main && s.defaultsMask&^seen != 0 {
		v.inserts = append(v.inserts, insert{at: v.i - 1, s: s, seen: seen, members: members})
	}
	return ok
}

func (v *Validator) duplicate(k span) bool {
	name := v.keyString(k)
	return v.syntaxRule("duplicate-key", v.pointer()+"/"+jsontree.EscapePointer(name), int(k.start),
		"member %s appears more than once; send each member once", jsontree.Quote(name))
}

// hasMember re-scans the object at start for a member called name (only
// for required names the schema does not declare as properties). It skips
// values in place: building a tree of the object cost a full copy of a
// 1 MiB body per conditional rule.
func (v *Validator) hasMember(start int, name string) bool {
	saved := v.i
	defer func() { v.i = saved }()
	v.i = start + 1
	for {
		v.skipSpace()
		if v.i >= len(v.src) || v.src[v.i] != '"' {
			return false
		}
		k, ok := v.member()
		if !ok {
			return false
		}
		raw := v.src[k.start:k.end]
		if (!k.escaped && string(raw) == name) || (k.escaped && v.keyString(k) == name) {
			return true
		}
		// The object passed the main scan: its values are valid JSON.
		v.i = skipValid(v.src, v.i)
		v.skipSpace()
		if v.i >= len(v.src) || v.src[v.i] != ',' {
			return false
		}
		v.i++
	}
}

// checkName validates a member name against propertyNames.
func (v *Validator) checkName(s *Schema, k span, m mode) bool {
	for s.onlyRef {
		s = s.refS
	}
	if s.types != 0 && s.types&tString == 0 {
		return false
	}
	runes := utf8.RuneCount(v.src[k.start:k.end])
	var tmp []Violation
	outer := v.sink
	v.sink = &tmp
	ok := v.checkString(s, m, k, runes)
	v.sink = outer
	if !ok {
		v.report(m, "propertyNames", func() string {
			return "member name " + jsontree.Quote(v.keyString(k)) + " is not allowed" + nameRule(s)
		})
	}
	return ok
}

func (v *Validator) array(s *Schema, m mode) bool {
	if !v.enter() {
		return false
	}
	ok := v.arrayBody(s, m)
	v.depth--
	return ok
}

func (v *Validator) arrayBody(s *Schema, m mode) bool {
	start := v.i
	ok := true
	if s != nil && s.types != 0 && s.types&tArray == 0 {
		ok = false
		v.typeFails(s, m, func() string { return "array" })
		s = nil
	}
	var items *Schema
	perItem := false
	batch := -1
	if s != nil {
		items = s.items
		perItem = s.PerItem && m == main
	}
	if perItem {
		batch = len(v.Batches)
		v.Batches = append(v.Batches, Batch{Pointer: v.pointer()})
	}
	v.i++
	v.skipSpace()
	n := 0
	if v.i < len(v.src) && v.src[v.i] == ']' {
		v.i++
	} else {
		for {
			v.path = append(v.path, pathSeg{start: -1, index: int32(n)})
			if s != nil && s.maxItems >= 0 && n == s.maxItems {
				// Past maxItems the array is refused whole: judging the
				// rest would only cost time (half a million tiny items
				// fit in a 1 MiB body) and bury the one violation that
				// matters. The rest is still checked as JSON.
				items, perItem = nil, false
			}
			if perItem {
				// An item's failures go to its own verdict, not the
				// request's; the scratch slice is reused across items.
				outer := v.sink
				v.itemBuf = v.itemBuf[:0]
				v.sink = &v.itemBuf
				good := v.value(items, m)
				v.sink = outer
				if v.Syntax != nil {
					return false
				}
				if !good {
					failed := append([]Violation(nil), v.itemBuf...)
					v.Batches[batch].Failed = append(v.Batches[batch].Failed, ItemFailure{Index: n, Violations: failed})
				}
			} else if !v.value(items, m) {
				ok = false
				if v.Syntax != nil {
					return false
				}
			}
			v.path = v.path[:len(v.path)-1]
			n++
			v.skipSpace()
			if v.i >= len(v.src) {
				return v.syntaxError("unexpected end of input: an array is not closed")
			}
			if c := v.src[v.i]; c == ',' {
				v.i++
				v.skipSpace()
				if v.i < len(v.src) && v.src[v.i] == ']' {
					return v.syntaxError("trailing comma before ']': remove the comma after the last element")
				}
				continue
			} else if c == ']' {
				v.i++
				break
			}
			return v.syntaxError("unexpected %s in array: expected ',' or ']'", jsontree.Describe(v.src, v.i))
		}
	}
	if batch >= 0 { // also past maxItems, where items stopped being judged
		v.Batches[batch].Total = n
	}
	if s == nil {
		return ok
	}
	if n < s.minItems {
		ok = false
		v.report(m, "minItems", func() string {
			if s.minItems == 1 {
				return "must not be empty: send at least one item" + describeSchema(s)
			}
			return "must have at least " + strconv.Itoa(s.minItems) + " items, got " + strconv.Itoa(n)
		})
	}
	if s.maxItems >= 0 && n > s.maxItems {
		ok = false
		v.report(m, "maxItems", func() string {
			return "must have at most " + strconv.Itoa(s.maxItems) + " items, got " + strconv.Itoa(n) + "; split the request"
		})
	}
	if s.unique && n > 1 && (s.maxItems < 0 || n <= s.maxItems) && !v.uniqueItems(start, m) {
		ok = false
	}
	return ok
}

// uniqueItems compares items by canonical form (rare: allocates).
func (v *Validator) uniqueItems(start int, m mode) bool {
	t := jsontree.Tree{}
	if t.Parse(v.src[start:v.i]) != nil {
		return true
	}
	seen := map[string]int{}
	i := 0
	for e := t.Nodes[0].First; e >= 0; e = t.Nodes[e].Next {
		key := string(canonical(nil, &t, e))
		if first, dup := seen[key]; dup {
			idx := i
			v.report(m, "uniqueItems", func() string {
				return "items " + strconv.Itoa(first) + " and " + strconv.Itoa(idx) + " are equal; send each item once"
			})
			return false
		}
		seen[key] = i
		i++
	}
	return true
}

// rescan checks the value at [start, end) against s again.
func (v *Validator) rescan(s *Schema, start int, m mode) bool {
	saved, was := v.i, v.rescanning
	v.i, v.rescanning = start, true
	ok := v.value(s, m&collect)
	v.i, v.rescanning = saved, was
	return ok
}

// skipValid returns the end of the JSON value at i, which is known to be
// valid: a conditional rule (if/then) re-reads the whole object, and a
// half-million-item array it does not constrain must not cost a full
// syntax check per rule. Containers are crossed eight bytes at a time.
func skipValid(src []byte, i int) int {
	if i >= len(src) {
		return i
	}
	switch src[i] {
	case '"':
		return skipString(src, i+1)
	case '{', '[':
	default: // a number or a literal ends at the next delimiter
		for ; i < len(src); i++ {
			switch src[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return i
	}
	depth := 0
	for i < len(src) {
		if i = structRun(src, i); i >= len(src) {
			break
		}
		switch src[i] {
		case '"':
			i = skipString(src, i+1)
			continue
		case '{', '[':
			depth++
		default: // '}' or ']'
			if depth--; depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return i
}

// skipString returns the index after the closing quote of the valid string
// whose content starts at i.
func skipString(src []byte, i int) int {
	for {
		if i = stringRun(src, i); i >= len(src) {
			return i
		}
		switch src[i] {
		case '"':
			return i + 1
		case '\\':
			i += 2
		default: // a control or non-ASCII byte inside the string
			i++
		}
	}
}

func (v *Validator) combinators(s *Schema, start, end int, m mode) bool {
	ok := true
	if s.refS != nil && !v.rescan(s.refS, start, m) {
		ok = false
	}
	for _, sub := range s.allOf {
		if !v.rescan(sub, start, m) {
			ok = false
		}
	}
	if len(s.anyOf) > 0 {
		matched := false
		for _, sub := range s.anyOf {
			if v.rescan(sub, start, quiet) {
				matched = true
				break
			}
		}
		if !matched {
			ok = false
			v.report(m, "anyOf", func() string { return "matches none of the allowed forms" + describeSchema(s) })
			v.explain(s.anyOf, start, end, m)
		}
	}
	if len(s.oneOf) > 0 {
		count := 0
		for _, sub := range s.oneOf {
			if v.rescan(sub, start, quiet) {
				count++
			}
		}
		if count != 1 {
			ok = false
			v.report(m, "oneOf", func() string {
				if count == 0 {
					return "matches none of the allowed forms" + describeSchema(s)
				}
				return "matches more than one of the allowed forms" + describeSchema(s)
			})
			if count == 0 {
				v.explain(s.oneOf, start, end, m)
			}
		}
	}
	if s.not != nil && v.rescan(s.not, start, quiet) {
		ok = false
		v.report(m, "not", func() string { return "must not match" + describeSchema(s.not) })
	}
	if s.ifS != nil {
		branch := s.elseS
		if v.rescan(s.ifS, start, quiet) {
			branch = s.thenS
		}
		if branch != nil && !v.rescan(branch, start, m) {
			ok = false
		}
	}
	return ok
}

// explain adds the violations of the one alternative whose type fits the
// value, so "product_id is 40 characters" is said rather than only "matches
// none of the allowed forms".
func (v *Validator) explain(alts []*Schema, start, end int, m mode) {
	if m&collect == 0 {
		return
	}
	bit := kindBit(v.src[start], v.src[start:end])
	var fit *Schema
	for _, a := range alts {
		target := a
		for target.onlyRef {
			target = target.refS
		}
		if target.types&bit != 0 || (bit == tInteger && target.types&tNumber != 0) {
			if fit != nil {
				return // ambiguous: the oneOf message stands alone
			}
			fit = a
		}
	}
	if fit != nil {
		v.rescan(fit, start, collect)
	}
}

// kindBit is the type bit of a value from its first byte.
func kindBit(c byte, raw []byte) uint8 {
	switch {
	case c == '{':
		return tObject
	case c == '[':
		return tArray
	case c == '"':
		return tString
	case c == 't' || c == 'f':
		return tBoolean
	case c == 'n':
		return tNull
	}
	if isInteger(raw) {
		return tInteger
	}
	return tNumber
}

// equalsRaw compares a literal with the raw JSON text of a non-string
// scalar.
func (l *literal) equalsRaw(raw []byte) bool {
	switch l.kind {
	case jsontree.Number:
		return parseDecimal(raw).compare(l.num) == 0
	case jsontree.String:
		return false
	}
	return string(raw) == l.text
}
