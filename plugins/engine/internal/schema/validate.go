package schema

import (
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

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

// Validator validates documents. It keeps scratch state between calls, so
// reuse one per goroutine; it is not safe for concurrent use.
type Validator struct {
	Prefix     string // prepended to every pointer (validating a subtree)
	t          *jsontree.Tree
	path       []pathSeg
	Violations []Violation
	Batches    []Batch
	sink       *[]Violation
}

type pathSeg struct {
	key   int32 // key node, or -1 for an array index
	index int
}

// Validate checks node n of tree t against s, collecting violations and
// per-item batches (both reset first).
func (v *Validator) Validate(s *Schema, t *jsontree.Tree, n int32) {
	v.t = t
	v.path = v.path[:0]
	v.Violations = v.Violations[:0]
	v.Batches = v.Batches[:0]
	v.sink = &v.Violations
	v.check(s, n, true)
}

// Valid reports whether node n conforms, without collecting anything.
func (v *Validator) Valid(s *Schema, t *jsontree.Tree, n int32) bool {
	v.t = t
	v.path = v.path[:0]
	return v.check(s, n, false)
}

// pointer materialises the current path (error paths only).
func (v *Validator) pointer() string {
	var b strings.Builder
	b.WriteString(v.Prefix)
	for _, s := range v.path {
		b.WriteByte('/')
		if s.key >= 0 {
			b.WriteString(jsontree.EscapePointer(string(v.t.Str(s.key))))
		} else {
			b.WriteString(strconv.Itoa(s.index))
		}
	}
	return b.String()
}

func (v *Validator) report(rule, msg string) {
	*v.sink = append(*v.sink, Violation{Pointer: v.pointer(), Rule: rule, Message: msg})
}

// check validates n against s. With collect false it stops at the first
// failure and builds no messages: that mode serves oneOf/anyOf/not/if.
func (v *Validator) check(s *Schema, n int32, collect bool) bool {
	t := v.t
	node := &t.Nodes[n]
	ok := true
	// fail records a failure (msg nil: a nested check already reported
	// it) and says whether to keep going, which is only when collecting.
	fail := func(rule string, msg func() string) bool {
		ok = false
		if collect && msg != nil {
			v.report(rule, msg())
		}
		return collect
	}
	if s.refS != nil && !v.check(s.refS, n, collect) {
		if !collect {
			return false
		}
		ok = false
	}
	if s.types != 0 && !typeMatches(s.types, t, n) {
		fail("type", func() string {
			return "must be " + article(typeName(s.types)) + ", got " + actualType(t, n) + describeSchema(s)
		})
		return false // other keywords of this schema do not apply to a wrong type
	}
	if s.hasConst && !s.constant.equals(t, n) {
		if !fail("const", func() string { return "must be " + s.constant.text + ", got " + shortJSON(t, n) }) {
			return false
		}
	}
	if len(s.enum) > 0 {
		found := false
		for i := range s.enum {
			if s.enum[i].equals(t, n) {
				found = true
				break
			}
		}
		if !found && !fail("enum", func() string { return "must be one of " + enumList(s.enum) + "; got " + shortJSON(t, n) }) {
			return false
		}
	}
	switch node.Kind {
	case jsontree.String:
		if !v.checkString(s, n, collect, fail) {
			return false
		}
	case jsontree.Number:
		if s.minimum != nil || s.maximum != nil {
			r, _ := new(big.Rat).SetString(string(t.Raw(n)))
			if s.minimum != nil && r.Cmp(s.minimum) < 0 &&
				!fail("minimum", func() string { return "must be at least " + s.minimum.RatString() + ", got " + string(t.Raw(n)) }) {
				return false
			}
			if s.maximum != nil && r.Cmp(s.maximum) > 0 &&
				!fail("maximum", func() string { return "must be at most " + s.maximum.RatString() + ", got " + string(t.Raw(n)) }) {
				return false
			}
		}
	case jsontree.Object:
		if !v.checkObject(s, n, collect, fail) {
			return false
		}
	case jsontree.Array:
		if !v.checkArray(s, n, collect, fail) {
			return false
		}
	}
	if !v.checkCombinators(s, n, collect, fail) {
		return false
	}
	return ok
}

type failFunc func(rule string, msg func() string) bool

func (v *Validator) checkString(s *Schema, n int32, collect bool, fail failFunc) bool {
	if s.minLen == 0 && s.maxLen < 0 && s.pattern == nil {
		return true
	}
	str := v.t.Str(n)
	if s.minLen > 0 || s.maxLen >= 0 {
		l := utf8.RuneCount(str)
		if l < s.minLen && !fail("minLength", func() string {
			if s.minLen == 1 {
				return "must not be empty" + describeSchema(s)
			}
			return "must be at least " + strconv.Itoa(s.minLen) + " characters, got " + strconv.Itoa(l) + describeSchema(s)
		}) {
			return false
		}
		if s.maxLen >= 0 && l > s.maxLen && !fail("maxLength", func() string {
			return "must be at most " + strconv.Itoa(s.maxLen) + " characters, got " + strconv.Itoa(l) + describeSchema(s)
		}) {
			return false
		}
		str = v.t.Str(n) // RuneCount does not clobber, but keep the view fresh
	}
	if s.pattern != nil && !s.pattern.match(str) {
		if !fail("pattern", func() string {
			return quoteShort(string(v.t.Str(n))) + " does not match " + s.pattern.src + describeSchema(s)
		}) {
			return false
		}
	}
	return true
}

func (v *Validator) checkObject(s *Schema, n int32, collect bool, fail failFunc) bool {
	t := v.t
	node := t.Nodes[n]
	var seen uint64
	for k := node.First; k >= 0; k = t.Nodes[k].Next {
		name := t.Str(k)
		var sub *Schema
		idx := -1
		for i := range s.props {
			if s.props[i].name == string(name) {
				idx = i
				break
			}
		}
		v.path = append(v.path, pathSeg{key: k})
		good := true
		if idx >= 0 {
			seen |= 1 << uint(idx)
			sub = s.props[idx].schema
		} else if s.noAdditional {
			good = !fail("additionalProperties", func() string {
				return "unknown member " + strconv.Quote(string(t.Str(k))) + ": allowed members are " + s.names
			})
		} else {
			sub = s.additional
		}
		if good && s.propNames != nil && !v.checkName(s.propNames, k, collect) {
			good = !fail("propertyNames", func() string {
				return "member name " + strconv.Quote(string(t.Str(k))) + " is not allowed" + nameRule(s.propNames)
			})
		}
		if good && sub != nil && !v.check(sub, k+1, collect) {
			good = fail("", nil)
		}
		v.path = v.path[:len(v.path)-1]
		if !good {
			return false
		}
	}
	for i := range s.props {
		if s.props[i].required && seen&(1<<uint(i)) == 0 {
			name := s.props[i].name
			if !fail("required", func() string {
				return "missing required member " + strconv.Quote(name) + describeProp(s.props[i].schema)
			}) {
				return false
			}
		}
	}
	for _, name := range s.required {
		if t.Member(n, name) < 0 && !fail("required", func() string { return "missing required member " + strconv.Quote(name) }) {
			return false
		}
	}
	if s.minProps >= 0 && int(node.Len) < s.minProps && !fail("minProperties", func() string {
		return "must have at least " + strconv.Itoa(s.minProps) + " members, got " + strconv.Itoa(int(node.Len))
	}) {
		return false
	}
	if s.maxProps >= 0 && int(node.Len) > s.maxProps && !fail("maxProperties", func() string {
		return "must have at most " + strconv.Itoa(s.maxProps) + " members, got " + strconv.Itoa(int(node.Len))
	}) {
		return false
	}
	return true
}

// checkName validates a member name as a string against propertyNames.
func (v *Validator) checkName(s *Schema, key int32, collect bool) bool {
	_ = collect
	return v.check(s, key, false)
}

func (v *Validator) checkArray(s *Schema, n int32, collect bool, fail failFunc) bool {
	t := v.t
	node := t.Nodes[n]
	if int(node.Len) < s.minItems && !fail("minItems", func() string {
		if s.minItems == 1 {
			return "must not be empty: send at least one item" + describeSchema(s)
		}
		return "must have at least " + strconv.Itoa(s.minItems) + " items, got " + strconv.Itoa(int(node.Len))
	}) {
		return false
	}
	if s.maxItems >= 0 && int(node.Len) > s.maxItems && !fail("maxItems", func() string {
		return "must have at most " + strconv.Itoa(s.maxItems) + " items, got " + strconv.Itoa(int(node.Len)) + "; split the request"
	}) {
		return false
	}
	if s.items != nil {
		perItem := collect && s.PerItem
		bi := len(v.Batches)
		if perItem {
			v.Batches = append(v.Batches, Batch{Pointer: v.pointer(), Total: int(node.Len)})
		}
		i := 0
		for e := node.First; e >= 0; e = t.Nodes[e].Next {
			v.path = append(v.path, pathSeg{key: -1, index: i})
			if perItem {
				// An item's failures go to its own verdict, not the request's.
				var itemViolations []Violation
				outer := v.sink
				v.sink = &itemViolations
				if !v.check(s.items, e, true) {
					v.Batches[bi].Failed = append(v.Batches[bi].Failed, ItemFailure{Index: i, Violations: itemViolations})
				}
				v.sink = outer
			} else if !v.check(s.items, e, collect) && !fail("", nil) {
				v.path = v.path[:len(v.path)-1]
				return false
			}
			v.path = v.path[:len(v.path)-1]
			i++
		}
	}
	if s.unique && node.Len > 1 {
		seen := make(map[string]int, node.Len)
		i := 0
		for e := node.First; e >= 0; e = t.Nodes[e].Next {
			key := string(canonical(nil, t, e))
			if first, dup := seen[key]; dup {
				idx := i
				if !fail("uniqueItems", func() string {
					return "items " + strconv.Itoa(first) + " and " + strconv.Itoa(idx) + " are equal; send each item once"
				}) {
					return false
				}
			}
			seen[key] = i
			i++
		}
	}
	return true
}

func (v *Validator) checkCombinators(s *Schema, n int32, collect bool, fail failFunc) bool {
	for _, sub := range s.allOf {
		if !v.check(sub, n, collect) && !fail("", nil) {
			return false
		}
	}
	if len(s.anyOf) > 0 {
		matched := false
		for _, sub := range s.anyOf {
			if v.check(sub, n, false) {
				matched = true
				break
			}
		}
		if !matched {
			if !fail("anyOf", func() string { return "matches none of the allowed forms" + describeSchema(s) }) {
				return false
			}
			v.explain(s.anyOf, n)
		}
	}
	if len(s.oneOf) > 0 {
		count := 0
		for _, sub := range s.oneOf {
			if v.check(sub, n, false) {
				count++
			}
		}
		if count != 1 {
			if !fail("oneOf", func() string {
				if count == 0 {
					return "matches none of the allowed forms" + describeSchema(s)
				}
				return "matches more than one of the allowed forms" + describeSchema(s)
			}) {
				return false
			}
			if count == 0 {
				v.explain(s.oneOf, n)
			}
		}
	}
	if s.not != nil && v.check(s.not, n, false) {
		if !fail("not", func() string { return "must not match" + describeSchema(s.not) }) {
			return false
		}
	}
	if s.ifS != nil {
		branch := s.elseS
		if v.check(s.ifS, n, false) {
			branch = s.thenS
		}
		if branch != nil && !v.check(branch, n, collect) && !fail("", nil) {
			return false
		}
	}
	return true
}

// explain adds the violations of the one alternative whose type fits the
// value, so "product_id is 40 characters" is said rather than only "matches
// none of the allowed forms".
func (v *Validator) explain(alts []*Schema, n int32) {
	var fit *Schema
	for _, a := range alts {
		target := a
		if a.refS != nil && a.types == 0 {
			target = a.refS
		}
		if target.types != 0 && typeMatches(target.types, v.t, n) {
			if fit != nil {
				return // ambiguous: the oneOf message stands alone
			}
			fit = a
		}
	}
	if fit != nil {
		v.check(fit, n, true)
	}
}

func typeMatches(bits uint8, t *jsontree.Tree, n int32) bool {
	switch t.Nodes[n].Kind {
	case jsontree.Null:
		return bits&tNull != 0
	case jsontree.True, jsontree.False:
		return bits&tBoolean != 0
	case jsontree.String:
		return bits&tString != 0
	case jsontree.Object:
		return bits&tObject != 0
	case jsontree.Array:
		return bits&tArray != 0
	case jsontree.Number:
		if bits&tNumber != 0 {
			return true
		}
		return bits&tInteger != 0 && isInteger(t.Raw(n))
	}
	return false
}

// isInteger follows JSON Schema: 1.0 and 1e2 are integers.
func isInteger(raw []byte) bool {
	plain := true
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			plain = false
			break
		}
	}
	if plain {
		return true
	}
	r, ok := new(big.Rat).SetString(string(raw))
	return ok && r.IsInt()
}

func (l *literal) equals(t *jsontree.Tree, n int32) bool {
	k := t.Nodes[n].Kind
	if k != l.kind {
		return false
	}
	switch k {
	case jsontree.String:
		return string(t.Str(n)) == l.str
	case jsontree.Number:
		r, ok := new(big.Rat).SetString(string(t.Raw(n)))
		return ok && r.Cmp(l.num) == 0
	}
	return true
}
