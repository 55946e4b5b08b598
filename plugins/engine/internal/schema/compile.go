// Package schema compiles the JSON Schema 2020-12 documents in schemas/ into
// a tree of checks that runs directly over a jsontree.Tree.
//
// Interpreting schemas generically at run time (decode to interface values,
// then walk the schema) costs 112–213 ms for 1,000 devices in Wasm; checks
// compiled once and run over a reused parse tree cost a few. The compiler
// accepts only the keyword subset onboard's schemas use and rejects anything
// else, so a schema can never say more than the engine enforces. A
// differential test holds the result equal to santhosh-tekuri/jsonschema.
//
// It must not do I/O: documents are handed in as bytes.
package schema

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
)

// Type bits.
const (
	tNull uint8 = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tObject
	tArray
)

var typeBits = map[string]uint8{
	"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "object": tObject, "array": tArray,
}

// Schema is one compiled (sub)schema.
type Schema struct {
	Description string
	Location    string // document#pointer, for compile errors and debugging
	PerItem     bool   // x-onboard-per-item: item failures are per-item verdicts

	types        uint8
	props        []prop
	required     []string
	noAdditional bool
	additional   *Schema
	propNames    *Schema
	minProps     int
	maxProps     int
	items        *Schema
	minItems     int
	maxItems     int
	unique       bool
	minLen       int
	maxLen       int
	pattern      *matcher
	enum         []literal
	hasConst     bool
	constant     literal
	minimum      *number
	maximum      *number
	allOf        []*Schema
	anyOf        []*Schema
	oneOf        []*Schema
	ifS          *Schema
	thenS        *Schema
	elseS        *Schema
	not          *Schema
	ref          string
	refS         *Schema
	dflt         []byte // compact JSON of "default"
	names        string // allowed member names, for messages

	// Derived once after compiling, for the validator's fast paths.
	onlyRef      bool   // nothing but a $ref (and annotations): validate the target
	combines     bool   // has $ref beside assertions, allOf, anyOf, oneOf, not or if
	stringRules  bool   // has a string keyword (lengths, pattern, enum, const)
	requiredMask uint64 // bit i: props[i] is required
	defaultsMask uint64 // bit i: props[i] has a default
}

type prop struct {
	name     string
	schema   *Schema
	required bool
	// The name's first 16 bytes as two zero-padded words and its length:
	// member names are matched by comparing words (see keyMasks), not by
	// a byte loop per candidate.
	w0, w1 uint64
	n      int
}

// literal is an enum or const value: strings compare decoded, numbers
// numerically, the rest by kind.
type literal struct {
	kind jsontree.Kind
	str  string
	num  decimal
	text string // JSON text, for messages
}

// number is a minimum or maximum.
type number struct {
	dec  decimal
	text string // as the schema writes it, for messages
}

var keywords = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "$ref": true, "$comment": true,
	"title": true, "description": true, "default": true, "examples": true,
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"propertyNames": true, "minProperties": true, "maxProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minLength": true, "maxLength": true, "pattern": true, "enum": true, "const": true,
	"minimum": true, "maximum": true, "oneOf": true, "anyOf": true, "allOf": true,
	"if": true, "then": true, "else": true, "not": true, "x-onboard-per-item": true,
}

// Document is a compiled schema document whose $defs can be looked up.
type Document struct {
	Name string
	Root *Schema
	defs map[string]*Schema
}

// Def returns the schema at #/$defs/name.
func (d *Document) Def(name string) (*Schema, bool) {
	s, ok := d.defs[name]
	return s, ok
}

type compiler struct {
	name string
	t    *jsontree.Tree
	defs map[string]*Schema
	refs []*Schema
	sh   *shared
}

// shared is what the compilers of one document and the documents it
// references have in common.
type shared struct {
	load  func(name string) ([]byte, error)
	docs  map[string]*compiler // by name, including the root document
	order []*compiler          // docs in the order they were loaded
	all   []*Schema
}

// Loader returns the bytes of the schema document name (a path such as
// "iotda/x.json", the same form as the name given to CompileWith).
type Loader func(name string) ([]byte, error)

// Compile compiles one self-contained schema document: only local
// "#/$defs/Name" references are allowed.
func Compile(name string, src []byte) (*Document, error) {
	return CompileWith(name, src, nil)
}

// CompileWith compiles one schema document whose references may also name
// the $defs of another document, "other.json#/$defs/Name", resolved
// against name's directory as a URI would be against the document's $id.
// load supplies those documents; nil allows local references only.
func CompileWith(name string, src []byte, load Loader) (*Document, error) {
	sh := &shared{load: load, docs: map[string]*compiler{}}
	c, err := sh.document(name, src)
	if err != nil {
		return nil, err
	}
	root := &Schema{}
	if err := c.fill(root, 0, ""); err != nil {
		return nil, err
	}
	// A document's references are all known once it is compiled; resolving
	// them may load another document, which joins the end of the order.
	for i := 0; i < len(sh.order); i++ {
		d := sh.order[i]
		for _, s := range d.refs {
			if err := d.resolve(s); err != nil {
				return nil, err
			}
		}
	}
	for _, s := range sh.all {
		s.derive()
	}
	return &Document{Name: name, Root: root, defs: c.defs}, nil
}

// document parses src and compiles its $defs (not its root).
func (sh *shared) document(name string, src []byte) (*compiler, error) {
	t := &jsontree.Tree{}
	if err := t.Parse(src); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	c := &compiler{name: name, t: t, defs: map[string]*Schema{}, sh: sh}
	sh.docs[name] = c
	sh.order = append(sh.order, c)
	// Every def exists before any is filled, so refs can point forward.
	if d := t.Member(0, "$defs"); d >= 0 {
		for k := t.Nodes[d].First; k >= 0; k = t.Nodes[k].Next {
			c.defs[string(t.Str(k))] = &Schema{}
		}
		for k := t.Nodes[d].First; k >= 0; k = t.Nodes[k].Next {
			defName := string(t.Str(k))
			if err := c.fill(c.defs[defName], k+1, "/$defs/"+defName); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func (c *compiler) resolve(s *Schema) error {
	file, frag, _ := strings.Cut(s.ref, "#")
	const prefix = "/$defs/"
	if !strings.HasPrefix(frag, prefix) {
		return fmt.Errorf("%s: $ref %q: only references to $defs (#/$defs/Name) are supported", s.Location, s.ref)
	}
	d := c
	if file != "" {
		target := path.Join(path.Dir(c.name), file)
		if d = c.sh.docs[target]; d == nil {
			if c.sh.load == nil {
				return fmt.Errorf("%s: $ref %q: this document must be self-contained", s.Location, s.ref)
			}
			src, err := c.sh.load(target)
			if err != nil {
				return fmt.Errorf("%s: $ref %q: %v", s.Location, s.ref, err)
			}
			if d, err = c.sh.document(target, src); err != nil {
				return err
			}
		}
	}
	target, ok := d.defs[strings.TrimPrefix(frag, prefix)]
	if !ok {
		return fmt.Errorf("%s: $ref %q names no definition", s.Location, s.ref)
	}
	s.refS = target
	return nil
}

func (c *compiler) errf(ptr, format string, args ...any) error {
	return fmt.Errorf("%s#%s: %s", c.name, ptr, fmt.Sprintf(format, args...))
}

func (c *compiler) sub(n int32, ptr string) (*Schema, error) {
	s := &Schema{}
	return s, c.fill(s, n, ptr)
}

func (c *compiler) subs(n int32, ptr string) ([]*Schema, error) {
	t := c.t
	if t.Nodes[n].Kind != jsontree.Array {
		return nil, c.errf(ptr, "must be an array of schemas")
	}
	var out []*Schema
	i := 0
	for e := t.Nodes[n].First; e >= 0; e = t.Nodes[e].Next {
		s, err := c.sub(e, ptr+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		i++
	}
	return out, nil
}

// typeSet reads "type": one name or an array of names.
func (c *compiler) typeSet(n int32, ptr string) (uint8, error) {
	t := c.t
	if t.Nodes[n].Kind == jsontree.String {
		if b := typeBits[string(t.Str(n))]; b != 0 {
			return b, nil
		}
	} else if t.Nodes[n].Kind == jsontree.Array && t.Nodes[n].First >= 0 {
		var bits uint8
		for e := t.Nodes[n].First; e >= 0; e = t.Nodes[e].Next {
			b := typeBits[string(t.Str(e))]
			if t.Nodes[e].Kind != jsontree.String || b == 0 || bits&b != 0 {
				return 0, c.errf(ptr, "type must be a type name or an array of distinct type names")
			}
			bits |= b
		}
		return bits, nil
	}
	return 0, c.errf(ptr, "type must be a type name or an array of distinct type names")
}

func (c *compiler) integer(n int32, ptr string) (int, error) {
	t := c.t
	if t.Nodes[n].Kind != jsontree.Number {
		return 0, c.errf(ptr, "must be a non-negative integer")
	}
	v, err := strconv.Atoi(string(t.Raw(n)))
	if err != nil || v < 0 {
		return 0, c.errf(ptr, "must be a non-negative integer")
	}
	return v, nil
}

func (c *compiler) fill(s *Schema, n int32, ptr string) error {
	t := c.t
	c.sh.all = append(c.sh.all, s)
	s.Location = c.name + "#" + ptr
	s.minProps, s.maxProps, s.maxItems, s.maxLen = -1, -1, -1, -1
	if t.Nodes[n].Kind != jsontree.Object {
		return c.errf(ptr, "a schema must be an object (boolean schemas are not used)")
	}
	var required []string
	for k := t.Nodes[n].First; k >= 0; k = t.Nodes[k].Next {
		kw := string(t.Str(k))
		v := k + 1
		kp := ptr + "/" + jsontree.EscapePointer(kw)
		if !keywords[kw] {
			return c.errf(kp, "keyword %q is not supported by the onboard engine", kw)
		}
		var err error
		switch kw {
		case "$schema", "$id", "$comment", "title", "examples", "$defs":
		case "description":
			s.Description = string(t.Str(v))
		case "default":
			s.dflt = AppendCompact(nil, t.RawJSON(v))
		case "x-onboard-per-item":
			s.PerItem = t.Nodes[v].Kind == jsontree.True
		case "type":
			s.types, err = c.typeSet(v, kp)
		case "properties":
			for pk := t.Nodes[v].First; pk >= 0; pk = t.Nodes[pk].Next {
				name := string(t.Str(pk))
				ps, err := c.sub(pk+1, kp+"/"+jsontree.EscapePointer(name))
				if err != nil {
					return err
				}
				s.props = append(s.props, prop{name: name, schema: ps})
			}
		case "required":
			for e := t.Nodes[v].First; e >= 0; e = t.Nodes[e].Next {
				required = append(required, string(t.Str(e)))
			}
		case "additionalProperties":
			if t.Nodes[v].Kind == jsontree.False {
				s.noAdditional = true
			} else if t.Nodes[v].Kind != jsontree.True {
				s.additional, err = c.sub(v, kp)
			}
		case "propertyNames":
			s.propNames, err = c.sub(v, kp)
		case "minProperties":
			s.minProps, err = c.integer(v, kp)
		case "maxProperties":
			s.maxProps, err = c.integer(v, kp)
		case "items":
			s.items, err = c.sub(v, kp)
		case "minItems":
			s.minItems, err = c.integer(v, kp)
		case "maxItems":
			s.maxItems, err = c.integer(v, kp)
		case "uniqueItems":
			s.unique = t.Nodes[v].Kind == jsontree.True
		case "minLength":
			s.minLen, err = c.integer(v, kp)
		case "maxLength":
			s.maxLen, err = c.integer(v, kp)
		case "pattern":
			s.pattern, err = compilePattern(string(t.Str(v)))
			if err != nil {
				return c.errf(kp, "%v", err)
			}
		case "enum":
			for e := t.Nodes[v].First; e >= 0; e = t.Nodes[e].Next {
				l, err := c.literal(e, kp)
				if err != nil {
					return err
				}
				s.enum = append(s.enum, l)
			}
		case "const":
			s.hasConst = true
			s.constant, err = c.literal(v, kp)
		case "minimum":
			s.minimum, err = c.number(v, kp)
		case "maximum":
			s.maximum, err = c.number(v, kp)
		case "allOf":
			s.allOf, err = c.subs(v, kp)
		case "anyOf":
			s.anyOf, err = c.subs(v, kp)
		case "oneOf":
			s.oneOf, err = c.subs(v, kp)
		case "if":
			s.ifS, err = c.sub(v, kp)
		case "then":
			s.thenS, err = c.sub(v, kp)
		case "else":
			s.elseS, err = c.sub(v, kp)
		case "not":
			s.not, err = c.sub(v, kp)
		case "$ref":
			s.ref = string(t.Str(v))
			c.refs = append(c.refs, s)
		}
		if err != nil {
			return err
		}
	}
	for _, r := range required {
		found := false
		for i := range s.props {
			if s.props[i].name == r {
				s.props[i].required = true
				found = true
			}
		}
		if !found {
			s.required = append(s.required, r)
		}
	}
	if len(s.props) > 64 {
		return c.errf(ptr, "more than 64 properties: the validator tracks members in a 64-bit mask")
	}
	names := make([]string, 0, len(s.props))
	for _, p := range s.props {
		names = append(names, p.name)
	}
	s.names = strings.Join(names, ", ")
	return nil
}

func (c *compiler) literal(n int32, ptr string) (literal, error) {
	t := c.t
	l := literal{kind: t.Nodes[n].Kind, text: string(t.RawJSON(n))}
	switch l.kind {
	case jsontree.String:
		l.str = string(t.Str(n))
	case jsontree.Number:
		l.num = parseDecimal(t.Raw(n))
	case jsontree.Object, jsontree.Array:
		return l, c.errf(ptr, "enum and const values must be scalars")
	}
	return l, nil
}

func (c *compiler) number(n int32, ptr string) (*number, error) {
	if c.t.Nodes[n].Kind != jsontree.Number {
		return nil, c.errf(ptr, "must be a number")
	}
	raw := c.t.Raw(n)
	return &number{dec: parseDecimal(raw), text: string(raw)}, nil
}

// derive computes the flags the validator's fast paths test.
func (s *Schema) derive() {
	assertions := s.types != 0 || len(s.props) > 0 || len(s.required) > 0 || s.noAdditional ||
		s.additional != nil || s.propNames != nil || s.minProps >= 0 || s.maxProps >= 0 || s.items != nil ||
		s.minItems > 0 || s.maxItems >= 0 || s.unique || s.minLen > 0 || s.maxLen >= 0 || s.pattern != nil ||
		len(s.enum) > 0 || s.hasConst || s.minimum != nil || s.maximum != nil || s.PerItem
	others := len(s.allOf) > 0 || len(s.anyOf) > 0 || len(s.oneOf) > 0 || s.not != nil || s.ifS != nil
	s.onlyRef = s.refS != nil && !assertions && !others && s.dflt == nil
	s.combines = others || (s.refS != nil && !s.onlyRef)
	s.stringRules = s.minLen > 0 || s.maxLen >= 0 || s.pattern != nil || len(s.enum) > 0 || s.hasConst
	for i := range s.props {
		p := &s.props[i]
		var pad [16]byte
		copy(pad[:], p.name)
		p.w0, p.w1, p.n = load8(pad[:], 0), load8(pad[:], 8), len(p.name)
		if p.required {
			s.requiredMask |= 1 << uint(i)
		}
		d := p.schema
		for d.dflt == nil && d.refS != nil {
			d = d.refS
		}
		if d.dflt != nil {
			s.defaultsMask |= 1 << uint(i)
		}
	}
}

// sortedKeys is used by canonical encoding for uniqueItems.
func sortedKeys(t *jsontree.Tree, obj int32) []int32 {
	var keys []int32
	for k := t.Nodes[obj].First; k >= 0; k = t.Nodes[k].Next {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return string(t.Str(keys[i])) < string(t.Str(keys[j])) })
	return keys
}

// Prop returns the schema of member name (following $ref), or nil.
func (s *Schema) Prop(name string) *Schema {
	for s != nil && s.refS != nil && len(s.props) == 0 {
		s = s.refS
	}
	if s == nil {
		return nil
	}
	for _, p := range s.props {
		if p.name == name {
			return p.schema
		}
	}
	return nil
}

// Items returns the schema of an array's items (following $ref), or nil.
func (s *Schema) Items() *Schema {
	for s != nil && s.refS != nil && s.items == nil {
		s = s.refS
	}
	if s == nil {
		return nil
	}
	return s.items
}

// StringForm returns the schema a plain string must meet at this location:
// the schema itself if it is a string schema, else its string alternative
// in oneOf/anyOf. Template resolution checks substituted values with it, so
// "product_id ≤36 characters" holds for a value that came from a
// certificate just as for a static one.
func (s *Schema) StringForm() *Schema {
	for s != nil && s.refS != nil && s.types == 0 && len(s.oneOf) == 0 && len(s.anyOf) == 0 {
		s = s.refS
	}
	if s == nil {
		return nil
	}
	if s.types == tString {
		return s
	}
	for _, alts := range [2][]*Schema{s.oneOf, s.anyOf} {
		for _, alt := range alts {
			if f := alt.StringForm(); f != nil {
				return f
			}
		}
	}
	return nil
}

// AcceptsString reports whether the string str meets s, a string schema
// (StringForm's): the validator's string rules (lengths, pattern, const,
// enum) applied to str itself, with no JSON to encode and scan. decided
// is false when s has other assertions or str is not valid UTF-8: then
// validate the encoded string instead.
func (s *Schema) AcceptsString(str string) (ok, decided bool) {
	if s.types != tString || s.combines || s.onlyRef || !utf8.ValidString(str) {
		return false, false
	}
	if !s.stringRules {
		return true, true
	}
	runes := utf8.RuneCountInString(str)
	if runes < s.minLen || s.maxLen >= 0 && runes > s.maxLen {
		return false, true
	}
	if s.pattern != nil && !s.pattern.match(unsafe.Slice(unsafe.StringData(str), len(str))) {
		return false, true
	}
	if s.hasConst && !(s.constant.kind == jsontree.String && str == s.constant.str) {
		return false, true
	}
	if len(s.enum) > 0 {
		for i := range s.enum {
			if s.enum[i].kind == jsontree.String && str == s.enum[i].str {
				return true, true
			}
		}
		return false, true
	}
	return true, true
}
