// Package jsontree parses a JSON document into a flat, reusable tree of
// nodes that point back into the input bytes.
//
// It exists because Go code runs 7–13x slower in Wasm than natively and
// encoding/json into interface values allocates for every value: a parser
// that reuses one node slice between calls and never copies strings keeps the
// engine's hot path allocation-free. It is stricter than encoding/json on
// purpose: invalid UTF-8, duplicate object keys and nesting deeper than
// MaxDepth are errors, because a registration API must not guess which of two
// "name" members the client meant.
//
// It must not do I/O and must not keep references to the input after the
// next Parse.
package jsontree

import (
	"bytes"
	"unicode/utf8"
)

// Kind is the JSON type of a node.
type Kind uint8

// Node kinds.
const (
	Null Kind = iota + 1
	False
	True
	Number
	String
	Object
	Array
)

// Name returns the JSON Schema type name of the kind ("integer" is decided
// by the caller from the number's text).
func (k Kind) Name() string {
	switch k {
	case Null:
		return "null"
	case False, True:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "invalid"
}

// MaxDepth bounds nesting. The documented bodies nest at most six levels;
// 64 leaves room for free-form attribute maps and keeps the stack small.
const MaxDepth = 64

// Node is one JSON value, or one object key (Kind String, Key true).
//
// Object members are stored as a key node immediately followed by its value
// subtree; Next links a key to the next key, or an array element to the next
// element. -1 means none.
type Node struct {
	Kind    Kind
	Escaped bool  // string contains backslash escapes: decode before use
	Key     bool  // node is an object key
	Start   int32 // strings: first byte after the quote; others: first byte
	End     int32 // strings: the closing quote; others: one past the last byte
	First   int32 // containers: first child (a key for objects) or -1
	Next    int32 // next sibling (key or element) or -1
	Len     int32 // containers: number of members or elements
}

// Error is a syntax error with its byte offset and the rule it broke:
// "json", "utf8", "depth" or "duplicate-key".
type Error struct {
	Rule    string
	Offset  int
	Msg     string
	Pointer string // set for duplicate-key and utf8: where in the document
	Text    string // Msg without its position, where the validator set it
}

func (e *Error) Error() string { return e.Msg }

// Tree is a parsed document. The zero value is ready to use; reuse it across
// Parse calls to avoid allocation.
type Tree struct {
	Src   []byte
	Nodes []Node
	stack []int32 // open containers
	last  []int32 // last child of each open container
	dec   []byte  // scratch for decoding escaped keys
}

// Parse parses src. On success the root is Nodes[0].
func (t *Tree) Parse(src []byte) *Error {
	t.Src = src
	t.Nodes = t.Nodes[:0]
	t.stack = t.stack[:0]
	t.last = t.last[:0]
	p := parser{t: t, src: src}
	return p.run()
}

type parser struct {
	t   *Tree
	src []byte
	i   int
}

func (p *parser) skipSpace() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) fail(format string, args ...any) *Error {
	return &Error{Rule: "json", Offset: p.i, Msg: Position(p.src, p.i) + ": " + sprintf(format, args...)}
}

// add appends a node and links it as the next child of the open container.
func (p *parser) add(n Node) int32 {
	t := p.t
	idx := int32(len(t.Nodes))
	n.First, n.Next = -1, -1
	t.Nodes = append(t.Nodes, n)
	if d := len(t.stack); d > 0 {
		parent := &t.Nodes[t.stack[d-1]]
		// Values after a key are reached through the key (key index + 1),
		// so only keys and array elements join the sibling chain.
		if parent.Kind == Array || n.Key {
			if l := t.last[d-1]; l < 0 {
				parent.First = idx
			} else {
				t.Nodes[l].Next = idx
			}
			t.last[d-1] = idx
			parent.Len++
		}
	}
	return idx
}

func (p *parser) run() *Error {
	p.skipSpace()
	if p.i >= len(p.src) {
		if len(p.src) == 0 {
			return &Error{Rule: "json", Msg: "request body is empty: send a JSON object"}
		}
		return &Error{Rule: "json", Offset: p.i, Msg: "request body holds only whitespace: send a JSON object"}
	}
	if err := p.value(); err != nil {
		return err
	}
	p.skipSpace()
	if p.i != len(p.src) {
		return p.fail("unexpected %s after the end of the JSON value", Describe(p.src, p.i))
	}
	return nil
}

// value parses one value iteratively: containers push onto the stack
// instead of recursing, so hostile nesting costs no Go stack.
func (p *parser) value() *Error {
	t := p.t
	for {
		p.skipSpace()
		if p.i >= len(p.src) {
			return p.fail("unexpected end of input: the JSON value is truncated")
		}
		c := p.src[p.i]
		switch {
		case c == '{' || c == '[':
			if len(t.stack) >= MaxDepth {
				return &Error{Rule: "depth", Offset: p.i, Msg: Position(p.src, p.i) + sprintf(": JSON nests deeper than %d levels; flatten the document", MaxDepth)}
			}
			k := Object
			if c == '[' {
				k = Array
			}
			idx := p.add(Node{Kind: k, Start: int32(p.i)})
			t.stack = append(t.stack, idx)
			t.last = append(t.last, -1)
			p.i++
			p.skipSpace()
			closer := byte('}')
			if k == Array {
				closer = ']'
			}
			if p.i < len(p.src) && p.src[p.i] == closer {
				// Empty container: it is complete, like a scalar.
				p.i++
				if done, err := p.closeContainer(); done || err != nil {
					return err
				}
				break
			}
			if k == Object {
				if err := p.key(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if err := p.str(false); err != nil {
				return err
			}
		case c == 't':
			if err := p.literal("true", True); err != nil {
				return err
			}
		case c == 'f':
			if err := p.literal("false", False); err != nil {
				return err
			}
		case c == 'n':
			if err := p.literal("null", Null); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := p.number(); err != nil {
				return err
			}
		default:
			return p.fail("unexpected %s where a value was expected", Describe(p.src, p.i))
		}
		// After a scalar: continue the enclosing container, if any.
		if len(t.stack) == 0 {
			return nil
		}
		if done, err := p.afterValue(); done || err != nil {
			return err
		}
	}
}

// afterValue consumes "," or the closing bracket after a container's
// element. done reports that the whole document is complete.
func (p *parser) afterValue() (done bool, err *Error) {
	t := p.t
	for {
		p.skipSpace()
		top := t.Nodes[t.stack[len(t.stack)-1]].Kind
		if p.i >= len(p.src) {
			return false, p.fail("unexpected end of input: a %s is not closed", top.Name())
		}
		c := p.src[p.i]
		if c == ',' {
			p.i++
			p.skipSpace()
			if p.i < len(p.src) && (p.src[p.i] == ']' || p.src[p.i] == '}') {
				return false, p.fail("trailing comma before %q: remove the comma after the last element", p.src[p.i])
			}
			if top == Object {
				return false, p.key()
			}
			return false, nil
		}
		if (top == Object && c == '}') || (top == Array && c == ']') {
			p.i++
			if done, err := p.closeContainer(); done || err != nil {
				return done, err
			}
			continue
		}
		if top == Object {
			return false, p.fail("unexpected %s in object: expected ',' or '}'", Describe(p.src, p.i))
		}
		return false, p.fail("unexpected %s in array: expected ',' or ']'", Describe(p.src, p.i))
	}
}

// closeContainer pops the finished container; done reports the root closed.
func (p *parser) closeContainer() (bool, *Error) {
	t := p.t
	idx := t.stack[len(t.stack)-1]
	t.Nodes[idx].End = int32(p.i)
	if t.Nodes[idx].Kind == Object && t.Nodes[idx].Len > 1 {
		if err := p.checkDuplicates(idx); err != nil {
			return false, err
		}
	}
	t.stack = t.stack[:len(t.stack)-1]
	t.last = t.last[:len(t.last)-1]
	return len(t.stack) == 0, nil
}

// key parses `"name" :` inside an object.
func (p *parser) key() *Error {
	p.skipSpace()
	if p.i >= len(p.src) {
		return p.fail("unexpected end of input: expected a member name")
	}
	if p.src[p.i] != '"' {
		return p.fail("unexpected %s: member names must be double-quoted strings", Describe(p.src, p.i))
	}
	if err := p.str(true); err != nil {
		return err
	}
	p.skipSpace()
	if p.i >= len(p.src) || p.src[p.i] != ':' {
		if p.i >= len(p.src) {
			return p.fail("unexpected end of input: expected ':' after the member name")
		}
		return p.fail("unexpected %s: expected ':' after the member name", Describe(p.src, p.i))
	}
	p.i++
	return nil
}

func (p *parser) literal(word string, k Kind) *Error {
	if !bytes.HasPrefix(p.src[p.i:], []byte(word)) {
		return p.fail("invalid literal: expected %s", word)
	}
	p.add(Node{Kind: k, Start: int32(p.i), End: int32(p.i + len(word))})
	p.i += len(word)
	return nil
}

func (p *parser) number() *Error {
	start := p.i
	s := p.src
	i := p.i
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		p.i = i
		return p.fail("invalid number: expected a digit")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			p.i = i
			return p.fail("invalid number: expected a digit after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.i = i
			return p.fail("invalid number: expected a digit in the exponent")
		}
	}
	p.i = i
	p.add(Node{Kind: Number, Start: int32(start), End: int32(i)})
	return nil
}

// str scans a string, checking escapes, control characters and UTF-8.
func (p *parser) str(isKey bool) *Error {
	s := p.src
	i := p.i + 1
	start := i
	escaped := false
	for {
		// Fast path: plain ASCII.
		for i < len(s) {
			c := s[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			i++
		}
		if i >= len(s) {
			p.i = i
			return p.fail("unexpected end of input inside a string")
		}
		c := s[i]
		switch {
		case c == '"':
			p.add(Node{Kind: String, Key: isKey, Escaped: escaped, Start: int32(start), End: int32(i)})
			p.i = i + 1
			return nil
		case c == '\\':
			escaped = true
			if i+1 >= len(s) {
				p.i = i
				return p.fail("unexpected end of input inside a string escape")
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !IsHex4(s[i+2:i+6]) {
					p.i = i
					return p.fail(`invalid \u escape: expected four hex digits`)
				}
				i += 6
			default:
				p.i = i
				return p.fail("invalid escape %q in string", s[i:i+2])
			}
		case c < 0x20:
			p.i = i
			return p.fail("control character 0x%02x in string: escape it (for example \\n)", c)
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				p.i = i
				e := p.fail("invalid UTF-8 byte 0x%02x in string: send UTF-8 text", c)
				e.Rule = "utf8"
				e.Pointer = p.t.pointerHere(isKey)
				return e
			}
			i += size
		}
	}
}

// IsHex4 reports whether b holds four hex digits (a \u escape).
func IsHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkDuplicates rejects an object that names a member twice. Small objects
// compare pairwise (no allocation); large free-form maps use a set.
func (p *parser) checkDuplicates(obj int32) *Error {
	t := p.t
	o := t.Nodes[obj]
	if o.Len <= 16 {
		for a := o.First; a >= 0; a = t.Nodes[a].Next {
			for b := t.Nodes[a].Next; b >= 0; b = t.Nodes[b].Next {
				if t.keyEqual(a, b) {
					return p.duplicate(obj, b)
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, o.Len)
	for k := o.First; k >= 0; k = t.Nodes[k].Next {
		name := string(t.Str(k))
		if _, dup := seen[name]; dup {
			return p.duplicate(obj, k)
		}
		seen[name] = struct{}{}
	}
	return nil
}

func (p *parser) duplicate(obj, key int32) *Error {
	t := p.t
	name := string(t.Str(key))
	ptr := t.pointerTo(obj) + "/" + EscapePointer(name)
	return &Error{Rule: "duplicate-key", Offset: int(t.Nodes[key].Start), Pointer: ptr,
		Msg: sprintf("%s: member %s appears more than once; send each member once", Position(p.src, int(t.Nodes[key].Start)), Quote(name))}
}

func (t *Tree) keyEqual(a, b int32) bool {
	na, nb := t.Nodes[a], t.Nodes[b]
	if !na.Escaped && !nb.Escaped {
		return bytes.Equal(t.Src[na.Start:na.End], t.Src[nb.Start:nb.End])
	}
	return string(t.Str(a)) == string(t.Str(b))
}

// pointerHere is the JSON pointer of the string being parsed (for errors);
// a bad member name is reported at its object.
func (t *Tree) pointerHere(isKey bool) string {
	if len(t.stack) == 0 {
		return ""
	}
	top := t.stack[len(t.stack)-1]
	ptr := t.pointerTo(top)
	n := t.Nodes[top]
	last := t.last[len(t.last)-1]
	if n.Kind == Object {
		if isKey || last < 0 {
			return ptr
		}
		return ptr + "/" + EscapePointer(string(t.Str(last)))
	}
	return ptr + "/" + itoa(int(n.Len))
}

// pointerTo builds the JSON pointer of node idx by walking the open stack
// (only used on error paths, so it may allocate).
func (t *Tree) pointerTo(idx int32) string {
	if idx == 0 {
		return ""
	}
	// Find the parent chain by scanning: parents precede children.
	var segs []string
	target := idx
	for target != 0 {
		parent, seg := t.parentOf(target)
		segs = append(segs, seg)
		target = parent
	}
	out := ""
	for i := len(segs) - 1; i >= 0; i-- {
		out += "/" + segs[i]
	}
	return out
}

// parentOf finds the container holding idx and idx's segment in it.
func (t *Tree) parentOf(idx int32) (int32, string) {
	for c := idx - 1; c >= 0; c-- {
		n := t.Nodes[c]
		if n.Kind != Object && n.Kind != Array {
			continue
		}
		pos := 0
		for m := n.First; m >= 0; m = t.Nodes[m].Next {
			v := m
			if n.Kind == Object {
				v = m + 1
			}
			if v == idx {
				if n.Kind == Object {
					return c, EscapePointer(string(t.Str(m)))
				}
				return c, itoa(pos)
			}
			pos++
		}
	}
	return 0, ""
}
