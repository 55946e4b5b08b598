package abi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// The codec of the hook messages, both sides: the guest decodes a
// HookRequest (DecodeRequest) and its configuration (DecodeConfig) and
// writes a HookResponse (AppendResponse, AppendError); the host writes the
// HookRequest (AppendRequest) and reads the answer (DecodeResponse).
//
// It is written out by hand. encoding/json's reflection runs about 12x
// slower in Wasm than natively. Worse, under wazero's termination checks
// (the go-sdk path's) every branch that Go's Wasm output takes, and every
// call of a function that branches, passes a loop header whose check
// leaves the compiled code (~30-40 ns); a heap allocation costs ~50
// checks. So the guest's hot paths below take few branches and calls: a
// string of up to 16 (names) or 40 bytes (values) is scanned in one
// branch-free step, member names are compared as two words, values are
// skipped by one function of gotos with an explicit stack, and a guest
// allocates no string it has seen on the last call. encoding/json only
// decodes a Device that the fast path does not recognise. The differential
// tests and FuzzDecodeRequest hold all of it to encoding/json.

// DecodeRequest parses a HookRequest (what a guest does with its input).
// Member names match exactly; the last of a repeated member wins.
func DecodeRequest(b []byte, req *HookRequest) error {
	s := scanner{b: b}
	more, err := s.objectStart()
	for more && err == nil {
		var k name
		if k, err = s.name(); err != nil {
			break
		}
		switch k {
		case kHook:
			err = s.hook(&req.Hook)
		case kOperation:
			err = s.memoStr(&req.Operation, &memoOperation)
		case kProject:
			err = s.memoStr(&req.Project, &memoProject)
		case kRequest:
			var raw []byte
			if raw, err = s.skip(); err == nil {
				req.Request = nil
				if !isNull(raw) {
					req.Request = json.RawMessage(raw)
				}
			}
		case kOrg:
			err = s.memoStr(&req.Org, &memoOrg)
		case kDevice:
			req.Device, err = s.device()
		case kCertificate:
			req.Certificate, err = s.certificate()
		default:
			_, err = s.skip()
		}
		if err != nil {
			break
		}
		if i := s.i; i < len(b) && b[i] == ',' { // objectNext's common case, without the call
			s.i++
			continue
		}
		more, err = s.objectNext()
	}
	if err != nil {
		return err
	}
	return s.end()
}

// name is a member name as the scanner compares it: its length and its
// first 16 bytes as two little-endian words, zero padded. Names longer
// than 16 bytes compare by these alone, so the known names are all
// shorter.
type name struct {
	n      int
	w0, w1 uint64
}

func nameOf(s string) name {
	var a [16]byte
	copy(a[:], s)
	return name{len(s), binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])}
}

var (
	kHook        = nameOf("hook")
	kOperation   = nameOf("operation")
	kProject     = nameOf("project")
	kOrg         = nameOf("org")
	kRequest     = nameOf("request")
	kDevice      = nameOf("device")
	kCertificate = nameOf("certificate")
	kDeviceName  = nameOf("device_name")
	kNodeID      = nameOf("node_id")
	kProductID   = nameOf("product_id")
	kTags        = nameOf("tags")
	kPolicyIDs   = nameOf("policy_ids")
	kTagKey      = nameOf("tag_key")
	kTagValue    = nameOf("tag_value")

	kBeforeCreate    = nameOf(BeforeCreate)
	kBeforeProvision = nameOf(BeforeProvision)
)

// certNames are the subject fields a certificate carries: their names are
// not allocated per call.
var certNames = func() map[name]string {
	m := map[name]string{}
	for _, p := range Parameters {
		m[nameOf(p.Attribute)] = p.Attribute
	}
	return m
}()

// guest is set in a Wasm guest, which runs one call at a time (wasip1
// has one thread, and decoding never blocks): decoding then reuses the
// strings of earlier calls (the memos) and carves new ones out of a shared
// buffer (newString). Natively, where decoding may run concurrently, every
// string is allocated.
var guest = runtime.GOOS == "wasip1"

// A memo keeps the last value of a member whose values repeat from call
// to call (an instance mostly sees one operation and a few projects), so
// that decoding it allocates only when it changes.
var memoOperation, memoProject, memoOrg memo

type memo struct {
	s string
	k name // of s
}

// arena is where a guest's decoded strings are carved from: one heap
// allocation per few hundred strings instead of one each. A string keeps
// its whole chunk alive, which bounds what this can waste.
var arena []byte

const arenaChunk = 4096

// newString returns b as a string.
func newString(b []byte) string {
	if !guest || len(b) > arenaChunk/8 {
		return string(b)
	}
	if len(b) == 0 {
		return ""
	}
	if cap(arena)-len(arena) < len(b) {
		arena = make([]byte, 0, arenaChunk)
	}
	off := len(arena)
	arena = append(arena, b...) // never reallocates: the chunk's bytes stay put
	return unsafe.String(&arena[off], len(b))
}

func isNull(raw []byte) bool { return len(raw) == 4 && string(raw) == "null" }

func (s *scanner) hook(dst *string) error {
	v, k, err := s.strName()
	switch {
	case err != nil:
		return err
	case k == kBeforeCreate:
		*dst = BeforeCreate
	case k == kBeforeProvision:
		*dst = BeforeProvision
	default:
		*dst = newString(v)
	}
	return nil
}

func (s *scanner) memoStr(dst *string, m *memo) error {
	v, k, err := s.strName()
	if err != nil {
		return err
	}
	if !guest {
		*dst = string(v)
		return nil
	}
	if k != m.k || k.n > 16 && !equal(v[16:], m.s[16:]) {
		m.s, m.k = string(v), k
	}
	*dst = m.s
	return nil
}

func (s *scanner) certificate() (map[string]string, error) {
	if s.peek() == 'n' {
		return nil, s.null()
	}
	m := make(map[string]string, 8)
	more, err := s.objectStart()
	for more && err == nil {
		var k name
		if k, err = s.name(); err != nil {
			break
		}
		n, known := certNames[k]
		if !known {
			n = newString(s.nameBytes())
		}
		var v []byte
		if v, err = s.str(); err != nil {
			break
		}
		m[n] = newString(v)
		more, err = s.objectNext()
	}
	return m, err
}

// null reads a null.
func (s *scanner) null() error {
	if i := s.i; i+4 <= len(s.b) && string(s.b[i:i+4]) == "null" {
		s.i += 4
		return nil
	}
	return s.fail("want an object")
}

// device reads a Device. The fast path takes the members Device names,
// spelt as its tags, each once, with no nulls; anything else (which
// encoding/json may still accept: names in another case, nulls, unknown
// members) is decoded by encoding/json, whose rules are then exact.
func (s *scanner) device() (*Device, error) {
	if s.peek() == 'n' {
		return nil, s.null()
	}
	mark := s.i
	d := new(Device)
	if s.fastDevice(d) {
		return d, nil
	}
	s.i = mark
	raw, err := s.skip()
	if err != nil {
		return nil, err
	}
	*d = Device{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *scanner) fastDevice(d *Device) bool {
	var seen uint8
	more, err := s.objectStart()
	for more && err == nil {
		var k name
		if k, err = s.name(); err != nil {
			return false
		}
		var bit uint8
		switch k {
		case kDeviceName:
			bit = 1
			d.DeviceName, err = s.strValue()
		case kNodeID:
			bit = 2
			d.NodeID, err = s.strValue()
		case kProductID:
			bit = 4
			d.ProductID, err = s.strValue()
		case kTags:
			bit = 8
			d.Tags, err = s.fastTags()
		case kPolicyIDs:
			bit = 16
			d.PolicyIDs, err = s.fastStrings()
		default:
			return false
		}
		if err != nil || seen&bit != 0 {
			return false
		}
		seen |= bit
		more, err = s.objectNext()
	}
	return err == nil
}

var errSlow = errors.New("not for the fast path")

func (s *scanner) strValue() (string, error) {
	if s.peek() != '"' {
		return "", errSlow
	}
	v, err := s.str()
	return newString(v), err
}

func (s *scanner) fastStrings() ([]string, error) {
	more, err := s.arrayStart()
	out := []string{}
	for more && err == nil {
		var v string
		if v, err = s.strValue(); err != nil {
			break
		}
		out = append(out, v)
		more, err = s.arrayNext()
	}
	return out, err
}

func (s *scanner) fastTags() ([]Tag, error) {
	more, err := s.arrayStart()
	out := []Tag{}
	for more && err == nil {
		var t Tag
		var seen uint8
		if s.peek() != '{' {
			return nil, errSlow
		}
		var inner bool
		inner, err = s.objectStart()
		for inner && err == nil {
			var k name
			if k, err = s.name(); err != nil {
				return nil, err
			}
			switch {
			case k == kTagKey && seen&1 == 0:
				seen |= 1
				t.Key, err = s.strValue()
			case k == kTagValue && seen&2 == 0:
				seen |= 2
				t.Value, err = s.strValue()
			default:
				return nil, errSlow
			}
			if err == nil {
				inner, err = s.objectNext()
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		more, err = s.arrayNext()
	}
	return out, err
}

// AppendResponse appends r as JSON to dst (what Handle writes as output).
func AppendResponse(dst []byte, r HookResponse) []byte {
	if r.Decision == DecisionAllow && r.Reason == "" && len(r.Patch) == 0 {
		return append(dst, `{"decision":"allow"}`...)
	}
	dst = append(dst, `{"decision":`...)
	dst = AppendString(dst, r.Decision)
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = AppendString(dst, r.Reason)
	}
	if len(r.Patch) > 0 {
		dst = append(dst, `,"patch":`...)
		dst = append(dst, r.Patch...)
	}
	return append(dst, '}')
}

// Lookup returns the string (or the number, as written) at JSON pointer
// ptr (RFC 6901, e.g. "/agent/host_name") in doc, without decoding the
// rest of the document. Of repeated member names, the first counts.
func Lookup(doc []byte, ptr string) (string, bool) {
	p := parsePointer(ptr)
	if p == nil {
		return "", false
	}
	s := scanner{b: doc}
	for i := range p.tokens {
		if !s.enter(&p.tokens[i]) {
			return "", false
		}
	}
	switch c := s.peek(); {
	case c == '"':
		v, err := s.str()
		return newString(v), err == nil
	case c == '-' || (c >= '0' && c <= '9'):
		raw, err := s.skip()
		return newString(raw), err == nil
	}
	return "", false
}

// pointer is a parsed JSON pointer.
type pointer struct {
	ptr    string
	tokens []token
}

type token struct {
	s   string // unescaped
	key name
	idx int // as an array index; -1 if it is none
}

// lastPointer is the last pointer a guest parsed: a hook looks up the
// same few pointers on every call.
var lastPointer *pointer

func parsePointer(ptr string) *pointer {
	if ptr == "" || ptr[0] != '/' {
		return nil
	}
	if p := lastPointer; p != nil && p.ptr == ptr {
		return p
	}
	p := &pointer{ptr: ptr}
	for rest := ptr[1:]; ; {
		tok := rest
		end := indexByte(rest, '/')
		if end >= 0 {
			tok, rest = rest[:end], rest[end+1:]
		}
		if indexByte(tok, '~') >= 0 {
			tok = unescapePointer(tok)
		}
		t := token{s: tok, key: nameOf(tok), idx: -1}
		if n, err := strconv.Atoi(tok); err == nil && n >= 0 {
			t.idx = n
		}
		p.tokens = append(p.tokens, t)
		if end < 0 {
			break
		}
	}
	if guest {
		lastPointer = p
	}
	return p
}

func indexByte(p string, c byte) int {
	for i := 0; i < len(p); i++ {
		if p[i] == c {
			return i
		}
	}
	return -1
}

func unescapePointer(t string) string {
	var b []byte
	for i := 0; i < len(t); i++ {
		if t[i] == '~' && i+1 < len(t) && (t[i+1] == '0' || t[i+1] == '1') {
			if b == nil {
				b = append(b, t[:i]...)
			}
			b = append(b, "~/"[t[i+1]-'0'])
			i++
			continue
		}
		if b != nil {
			b = append(b, t[i])
		}
	}
	if b == nil {
		return t
	}
	return string(b)
}

// enter moves the scanner from a container to its member or element named
// by tok.
func (s *scanner) enter(tok *token) bool {
	switch s.peek() {
	case '{':
		more, err := s.objectStart()
		for more && err == nil {
			var k name
			if k, err = s.name(); err != nil {
				return false
			}
			if k == tok.key && (k.n <= 16 || s.nameIs(tok.s)) {
				return true
			}
			if s.i < len(s.b) && s.b[s.i] == '"' {
				_, err = s.str() // cheaper than skip for the common case
			} else {
				_, err = s.skip()
			}
			if err == nil {
				more, err = s.objectNext()
			}
		}
	case '[':
		if tok.idx < 0 {
			return false
		}
		s.i++
		more, err := s.arrayNext0()
		for n := 0; more && err == nil; n++ {
			if n == tok.idx {
				return true
			}
			if _, err = s.skip(); err == nil {
				more, err = s.arrayNext()
			}
		}
	}
	return false
}

// DecodeConfig parses a hook's configuration as a lean call passes it (its
// params): a JSON object of strings. A guest is passed the same
// configuration on every call, so there it returns the map it returned
// last while b stays the same: the caller must not modify the map.
func DecodeConfig(b []byte) (map[string]string, error) {
	if guest && lastConfig != nil && equal(b, lastConfigParams) {
		return lastConfig, nil
	}
	cfg, err := decodeConfig(b)
	if guest && err == nil {
		lastConfig, lastConfigParams = cfg, string(b)
	}
	return cfg, err
}

// The configuration a guest decoded last (DecodeConfig).
var (
	lastConfig       map[string]string
	lastConfigParams string
)

func decodeConfig(b []byte) (map[string]string, error) {
	cfg := map[string]string{}
	s := scanner{b: b}
	more, err := s.objectStart()
	for more && err == nil {
		if _, err = s.name(); err != nil {
			break
		}
		key := s.nameString()
		var v []byte
		if v, err = s.str(); err != nil {
			break
		}
		cfg[key] = string(v)
		more, err = s.objectNext()
	}
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// AppendError appends the answer of a lean call that failed in the guest
// (bad input, a panic, an invalid response): {"error":msg}. The host fails
// the hook call with msg.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, `{"error":`...)
	dst = AppendString(dst, msg)
	return append(dst, '}')
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type scanner struct {
	b []byte
	i int
	// The last member name (name): b[nameStart:nameEnd], or nameCopy when
	// it had escapes.
	nameStart, nameEnd int
	nameCopy           []byte
}

func (s *scanner) fail(what string) error {
	return errors.New("sdk: invalid JSON at byte " + strconv.Itoa(s.i) + ": " + what)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte at or after i that is not
// whitespace. The callers test b[i] <= ' ' first: compact JSON, what hosts
// send, has none, and a loop costs a check.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// peek returns the next byte that is not whitespace (0 at the end), with
// the scanner on it.
func (s *scanner) peek() byte {
	b, i := s.b, s.i
	if i < len(b) && b[i] > ' ' {
		return b[i]
	}
	i = skipSpace(b, i)
	s.i = i
	if i < len(b) {
		return b[i]
	}
	return 0
}

// objectStart consumes '{' and reports whether a member follows; if not,
// it has consumed the '}' too.
func (s *scanner) objectStart() (bool, error) {
	if s.peek() != '{' {
		return false, s.fail("want an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return false, nil
	}
	return true, nil
}

// objectNext consumes the ',' before a further member (true) or the
// closing '}' (false).
func (s *scanner) objectNext() (bool, error) {
	if i := s.i; i < len(s.b) {
		switch s.b[i] {
		case ',':
			s.i++
			return true, nil
		case '}':
			s.i++
			return false, nil
		}
	}
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case '}':
		s.i++
		return false, nil
	}
	return false, s.fail("want ',' or '}'")
}

func (s *scanner) arrayStart() (bool, error) {
	if s.peek() != '[' {
		return false, errSlow
	}
	s.i++
	return s.arrayNext0()
}

// arrayNext0 is arrayNext after the '['.
func (s *scanner) arrayNext0() (bool, error) {
	if s.peek() == ']' {
		s.i++
		return false, nil
	}
	return true, nil
}

func (s *scanner) arrayNext() (bool, error) {
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case ']':
		s.i++
		return false, nil
	}
	return false, s.fail("want ',' or ']'")
}

// end checks that only whitespace follows.
func (s *scanner) end() error {
	if s.peek() != 0 || s.i != len(s.b) {
		return s.fail("trailing data")
	}
	return nil
}

// The branch-free step, written out where it is used because a call
// costs more than it: with x0, x1 the words at b[i:] and b[i+8:],
//
//	t0 := uint(bits.TrailingZeros64(stops(x0)))
//	t := t0 + uint(bits.TrailingZeros64(stops(x1)))&-(t0>>6)
//
// t is 8 * the index of the first byte that stops + 7, or 128 if none
// does (TrailingZeros64(0) is 64, and t0>>6 is 1 only then). Nesting the
// same sum covers more words.

// name reads a member name and the ':' after it.
func (s *scanner) name() (name, error) {
	b, i := s.b, s.i
	if i+18 <= len(b) && b[i] == '"' {
		x0 := binary.LittleEndian.Uint64(b[i+1:])
		x1 := binary.LittleEndian.Uint64(b[i+9:])
		t0 := uint(bits.TrailingZeros64(stops(x0)))
		t := t0 + uint(bits.TrailingZeros64(stops(x1)))&-(t0>>6)
		j := i + 1 + int(t>>3)
		if t < 128 && b[j] == '"' && b[j+1] == ':' {
			n := int(t >> 3)
			d := n - 8
			n0 := n - d&^(d>>63) // min(n, 8)
			n1 := n - n0
			x0 &^= ^uint64(0) << (8 * uint(n0))
			x1 &^= ^uint64(0) << (8 * uint(n1))
			if (x0|x1)&msb == 0 { // ASCII: nothing to check or coerce
				s.i, s.nameStart, s.nameEnd, s.nameCopy = j+2, i+1, j, nil
				return name{n, x0, x1}, nil
			}
		}
	}
	return s.nameSlow()
}

func (s *scanner) nameSlow() (name, error) {
	if s.peek() != '"' {
		return name{}, s.fail("want a member name")
	}
	start := s.i + 1
	k, err := s.str()
	if err != nil {
		return name{}, err
	}
	s.nameStart, s.nameEnd, s.nameCopy = start, start+len(k), nil
	if len(k) > 0 && &k[0] != &s.b[start] {
		s.nameCopy = k
	}
	if s.peek() != ':' {
		return name{}, s.fail("want ':'")
	}
	s.i++
	var a [16]byte
	copy(a[:], k)
	return name{len(k), binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])}, nil
}

func (s *scanner) nameBytes() []byte {
	if s.nameCopy != nil {
		return s.nameCopy
	}
	return s.b[s.nameStart:s.nameEnd]
}

func (s *scanner) nameString() string { return string(s.nameBytes()) }

func (s *scanner) nameIs(t string) bool { return equal(s.nameBytes(), t) }

// str reads the string at s.i and returns its content: a view of the input
// unless it holds escapes or invalid UTF-8.
func (s *scanner) str() ([]byte, error) {
	v, _, err := s.strName()
	return v, err
}

// strName is str that also returns the string as a name. Strings of up
// to 40 bytes (names, ids, UUIDs, operation ids) take one branch-free
// step.
func (s *scanner) strName() ([]byte, name, error) {
	b, i := s.b, s.i
	if i+41 <= len(b) && b[i] == '"' {
		le := binary.LittleEndian
		x0, x1, x2, x3, x4 := le.Uint64(b[i+1:]), le.Uint64(b[i+9:]), le.Uint64(b[i+17:]), le.Uint64(b[i+25:]), le.Uint64(b[i+33:])
		t0 := uint(bits.TrailingZeros64(stops(x0)))
		t1 := uint(bits.TrailingZeros64(stops(x1)))
		t2 := uint(bits.TrailingZeros64(stops(x2)))
		t3 := uint(bits.TrailingZeros64(stops(x3)))
		t4 := uint(bits.TrailingZeros64(stops(x4)))
		t := t0 + (t1+(t2+(t3+t4&-(t3>>6))&-(t2>>6))&-(t1>>6))&-(t0>>6)
		j := i + 1 + int(t>>3)
		if t < 320 && b[j] == '"' {
			n := int(t >> 3)
			// The bytes before the quote, as masks of the words.
			m := ^uint64(0) << (8 * uint(n&7))
			x0, x1 = x0&maskWord(n, 0, m), x1&maskWord(n, 1, m)
			hi := x0 | x1 | x2&maskWord(n, 2, m) | x3&maskWord(n, 3, m) | x4&maskWord(n, 4, m)
			if hi&msb == 0 || utf8.Valid(b[i+1:j]) {
				s.i = j + 1
				return b[i+1 : j], name{n, x0, x1}, nil
			}
		}
	} else if i+17 <= len(b) && b[i] == '"' { // near the end: 16 bytes
		x0, x1 := binary.LittleEndian.Uint64(b[i+1:]), binary.LittleEndian.Uint64(b[i+9:])
		t0 := uint(bits.TrailingZeros64(stops(x0)))
		t := t0 + uint(bits.TrailingZeros64(stops(x1)))&-(t0>>6)
		j := i + 1 + int(t>>3)
		if t < 128 && b[j] == '"' {
			n := int(t >> 3)
			m := ^uint64(0) << (8 * uint(n&7))
			x0, x1 = x0&maskWord(n, 0, m), x1&maskWord(n, 1, m)
			if (x0|x1)&msb == 0 || utf8.Valid(b[i+1:j]) {
				s.i = j + 1
				return b[i+1 : j], name{n, x0, x1}, nil
			}
		}
	}
	v, err := s.strSlow()
	if err != nil {
		return nil, name{}, err
	}
	var a [16]byte
	copy(a[:], v)
	return v, name{len(v), binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])}, nil
}

// maskWord returns the mask of word k (of 8 bytes) that keeps the bytes
// before index n: all of them when n is past the word, none when n is
// before it, else ^m (m being ^0 << 8*(n%8)). Without a branch.
func maskWord(n, k int, m uint64) uint64 {
	d := n>>3 - k           // > 0: all, 0: ^m, < 0: none
	all := uint64(-d) >> 63 // 1 if d > 0
	none := uint64(d) >> 63 // 1 if d < 0
	return (^m | -all) &^ -none
}

func (s *scanner) strSlow() ([]byte, error) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return nil, s.fail("want a string")
	}
	j, hi := plainEnd(b, i+1)
	if j < len(b) && b[j] == '"' && (!hi || utf8.Valid(b[i+1:j])) {
		s.i = j + 1
		return b[i+1 : j], nil
	}
	return s.unquote(i + 1)
}

// plainEnd returns the index of the first '"', '\\' or control character
// at or after i (len(b) if none), and whether a byte >= 0x80 comes before
// it. It reads a word per iteration; the last partial word is read as the
// input's last 8 bytes, shifted.
func plainEnd(b []byte, i int) (int, bool) {
	var hi uint64
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := stops(x); m != 0 {
			n := bits.TrailingZeros64(m) - 7 // 8 * the index of the byte
			return i + n>>3, (hi|x&(1<<n-1))&msb != 0
		}
		hi |= x
		i += 8
	}
	if i >= len(b) {
		return i, hi&msb != 0
	}
	if len(b) < 8 {
		for ; i < len(b); i++ {
			c := b[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			hi |= uint64(c)
		}
		return i, hi&msb != 0
	}
	// The bytes shifted in past the end are zeros, which stop.
	x := binary.LittleEndian.Uint64(b[len(b)-8:]) >> (8 * uint(i+8-len(b)))
	n := bits.TrailingZeros64(stops(x)) - 7
	return i + n>>3, (hi|x&(1<<n-1))&msb != 0
}

// unquote decodes the string whose content starts at i as encoding/json
// does: escapes decoded, a lone or broken surrogate and invalid UTF-8
// replaced by U+FFFD.
func (s *scanner) unquote(i int) ([]byte, error) {
	end := skipString(s.b, i)
	if end < 0 {
		s.i = -end
		return nil, s.fail("bad string")
	}
	s.i = end
	return coerceUTF8(Unescape(nil, s.b[i:end-1])), nil
}

// coerceUTF8 replaces each byte of b that is not part of valid UTF-8 with
// U+FFFD, as encoding/json does.
func coerceUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// skip skips one value, checking that it is valid JSON as json.Valid
// does, and returns its bytes. One function of gotos walks the whole
// value, laid out so that compact JSON with short strings and integers
// falls through without a call; the rest (whitespace, escapes, long
// strings, other numbers) takes the slower paths. The open containers are
// bits of a stack, set for an object.
func (s *scanner) skip() ([]byte, error) {
	b := s.b
	i := s.i
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	start := i
	var stack uint64  // the innermost 64 open containers, bit 0 the innermost
	var deeper []byte // the others, outermost first
	depth := 0
	what := "want a value"
	var c byte
	var x0, x1 uint64
	var t0, t uint
	var j int
	goto value

member: // at a member name's opening quote, or whitespace before it
	if i+18 <= len(b) && b[i] == '"' {
		x0 = binary.LittleEndian.Uint64(b[i+1:])
		x1 = binary.LittleEndian.Uint64(b[i+9:])
		t0 = uint(bits.TrailingZeros64(stops(x0)))
		t = t0 + uint(bits.TrailingZeros64(stops(x1)))&-(t0>>6)
		j = i + 1 + int(t>>3)
		if t < 128 && b[j] == '"' && b[j+1] == ':' {
			i = j + 2
			goto value
		}
	}
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= len(b) || b[i] != '"' {
		what = "want a member name"
		goto fail
	}
	if i = skipString(b, i+1); i < 0 {
		i, what = -i, "bad string"
		goto fail
	}
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= len(b) || b[i] != ':' {
		what = "want ':'"
		goto fail
	}
	i++

value: // at a value, or whitespace before it
	if i >= len(b) {
		goto fail
	}
	c = b[i]
	if c == '"' {
		if i+41 <= len(b) { // up to 40 bytes (a UUID is 36) in one step
			le := binary.LittleEndian
			t0 = uint(bits.TrailingZeros64(stops(le.Uint64(b[i+1:]))))
			t1 := uint(bits.TrailingZeros64(stops(le.Uint64(b[i+9:]))))
			t2 := uint(bits.TrailingZeros64(stops(le.Uint64(b[i+17:]))))
			t3 := uint(bits.TrailingZeros64(stops(le.Uint64(b[i+25:]))))
			t4 := uint(bits.TrailingZeros64(stops(le.Uint64(b[i+33:]))))
			t = t0 + (t1+(t2+(t3+t4&-(t3>>6))&-(t2>>6))&-(t1>>6))&-(t0>>6)
			j = i + 1 + int(t>>3)
			if t < 320 && b[j] == '"' {
				i = j + 1
				goto after
			}
		} else if i+17 <= len(b) {
			x0 = binary.LittleEndian.Uint64(b[i+1:])
			x1 = binary.LittleEndian.Uint64(b[i+9:])
			t0 = uint(bits.TrailingZeros64(stops(x0)))
			t = t0 + uint(bits.TrailingZeros64(stops(x1)))&-(t0>>6)
			j = i + 1 + int(t>>3)
			if t < 128 && b[j] == '"' {
				i = j + 1
				goto after
			}
		}
		if i = skipString(b, i+1); i < 0 {
			i, what = -i, "bad string"
			goto fail
		}
		goto after
	}
	if c-'1' < 9 && i+8 <= len(b) {
		// An integer of up to 7 digits, then a byte that does not make it
		// a fraction or an exponent.
		x0 = binary.LittleEndian.Uint64(b[i:])
		x0 = ((x0-lsb*'0')&^x0 | (x0 + lsb*(127-'9')) | x0) & msb // bytes < '0' or > '9'
		if x0 != 0 {
			j = i + bits.TrailingZeros64(x0)>>3
			if c = b[j]; c != '.' && c|0x20 != 'e' {
				i = j
				goto after
			}
		}
	}
	c = b[i]
	if c == '{' || c == '[' {
		if depth == maxDepth-1 { // the object around the member counts
			what = "nested too deeply"
			goto fail
		}
		if depth >= 64 {
			deeper = append(deeper, byte(stack>>63))
		}
		depth++
		stack = stack<<1 | uint64(c>>5&1) // '{' is 0x7b, '[' is 0x5b
		i++
		if i < len(b) && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		if i < len(b) && b[i] == c+2 { // '}' or ']': empty
			i++
			goto pop
		}
		if c == '{' {
			goto member
		}
		goto value
	}
	switch {
	case isSpace(c):
		i = skipSpace(b, i)
		goto value
	case c == '-' || c >= '0' && c <= '9':
		if i = number(b, i); i < 0 {
			i, what = -i, "bad number"
			goto fail
		}
	case c == 't' && i+4 <= len(b) && string(b[i:i+4]) == "true",
		c == 'n' && i+4 <= len(b) && string(b[i:i+4]) == "null":
		i += 4
	case c == 'f' && i+5 <= len(b) && string(b[i:i+5]) == "false":
		i += 5
	default:
		goto fail
	}

after: // a value ended
	if depth == 0 {
		s.i = i
		return b[start:i], nil
	}
	if i < len(b) {
		c = b[i]
		if c == ',' {
			i++
			if stack&1 != 0 {
				goto member
			}
			goto value
		}
		if c == ']'+0x20*byte(stack&1) { // '}' in an object, ']' in an array
			i++
			goto pop
		}
		if isSpace(c) {
			i = skipSpace(b, i)
			goto after
		}
	}
	what = "want ',' or a closing bracket"
	goto fail

pop:
	depth--
	stack >>= 1
	if depth >= 64 {
		stack |= uint64(deeper[len(deeper)-1]) << 63
		deeper = deeper[:len(deeper)-1]
	}
	goto after

fail:
	s.i = i
	return nil, s.fail(what)
}

// skipString returns the index after the string whose content starts at
// i, or minus the index of what makes it invalid.
func skipString(b []byte, i int) int {
	for {
		j, _ := plainEnd(b, i)
		if j >= len(b) {
			return -j
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c < 0x20 || j+1 >= len(b):
			return -j
		}
		switch b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i = j + 2
		case 'u':
			if hex4(b, j+2) < 0 {
				return -j
			}
			i = j + 6
		default:
			return -j
		}
	}
}

// number returns the index after the number at i, or minus the index of
// what makes it invalid.
func number(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -i
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -j
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -j
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// equal reports whether b holds s, comparing words: up to 32 bytes
// without a loop, as overlapping loads.
func equal(b []byte, s string) bool {
	n := len(b)
	if n != len(s) {
		return false
	}
	t := unsafe.Slice(unsafe.StringData(s), n)
	le := binary.LittleEndian
	if n < 8 {
		var x, y [8]byte // an array compare would be a byte loop
		copy(x[:], b)
		copy(y[:], t)
		return le.Uint64(x[:]) == le.Uint64(y[:])
	}
	if n <= 16 {
		return le.Uint64(b) == le.Uint64(t) && le.Uint64(b[n-8:]) == le.Uint64(t[n-8:])
	}
	if n <= 32 {
		return le.Uint64(b) == le.Uint64(t) && le.Uint64(b[8:]) == le.Uint64(t[8:]) &&
			le.Uint64(b[n-16:]) == le.Uint64(t[n-16:]) && le.Uint64(b[n-8:]) == le.Uint64(t[n-8:])
	}
	// 32 bytes an iteration (a hook's whole configuration is compared on
	// every lean call), then the last 32, overlapping.
	// (^ and | bind alike in Go: the parentheses matter.)
	for i := 0; i < n-32; i += 32 {
		if (le.Uint64(b[i:])^le.Uint64(t[i:]))|(le.Uint64(b[i+8:])^le.Uint64(t[i+8:]))|
			(le.Uint64(b[i+16:])^le.Uint64(t[i+16:]))|(le.Uint64(b[i+24:])^le.Uint64(t[i+24:])) != 0 {
			return false
		}
	}
	return (le.Uint64(b[n-32:])^le.Uint64(t[n-32:]))|(le.Uint64(b[n-24:])^le.Uint64(t[n-24:]))|
		(le.Uint64(b[n-16:])^le.Uint64(t[n-16:]))|(le.Uint64(b[n-8:])^le.Uint64(t[n-8:])) == 0
}

// AppendRequest appends req as JSON to dst (what the host sends a hook).
// The output decodes, with encoding/json, to exactly the values
// json.Marshal's does; it differs only in escaping no HTML characters and
// not compacting the request, which a guest reads either way. The request
// member must be valid JSON, as json.Marshal requires too.
func AppendRequest(dst []byte, req *HookRequest) ([]byte, error) {
	dst = append(dst, `{"hook":`...)
	dst = AppendString(dst, req.Hook)
	dst = append(dst, `,"operation":`...)
	dst = AppendString(dst, req.Operation)
	if req.Project != "" {
		dst = append(dst, `,"project":`...)
		dst = AppendString(dst, req.Project)
	}
	if req.Org != "" {
		dst = append(dst, `,"org":`...)
		dst = AppendString(dst, req.Org)
	}
	if len(req.Request) > 0 {
		if !json.Valid(req.Request) {
			return dst, errors.New("abi: the request to pass to the hook is not valid JSON")
		}
		dst = append(dst, `,"request":`...)
		dst = append(dst, req.Request...)
	}
	if d := req.Device; d != nil {
		dst = append(dst, `,"device":`...)
		dst = appendDevice(dst, d)
	}
	if len(req.Certificate) > 0 {
		dst = append(dst, `,"certificate":{`...)
		keys := make([]string, 0, len(req.Certificate))
		for k := range req.Certificate {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			dst = AppendString(dst, req.Certificate[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendDevice appends d as json.Marshal would (a nil slice is null).
func appendDevice(dst []byte, d *Device) []byte {
	dst = append(dst, `{"device_name":`...)
	dst = AppendString(dst, d.DeviceName)
	dst = append(dst, `,"node_id":`...)
	dst = AppendString(dst, d.NodeID)
	dst = append(dst, `,"product_id":`...)
	dst = AppendString(dst, d.ProductID)
	dst = append(dst, `,"tags":`...)
	if d.Tags == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, t := range d.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"tag_key":`...)
			dst = AppendString(dst, t.Key)
			dst = append(dst, `,"tag_value":`...)
			dst = AppendString(dst, t.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"policy_ids":`...)
	if d.PolicyIDs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, p := range d.PolicyIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, p)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// DecodeResponse reads a hook's answer: exactly one valid HookResponse,
// or a lean call's error answer (AppendError), which it returns as the
// error. The answers a guest writes for an allow or a plain deny are read
// directly; anything else goes through encoding/json, strictly. Trailing
// spaces are allowed (the Extism path pads its output with them).
func DecodeResponse(out []byte) (HookResponse, error) {
	if resp, ok := fastResponse(out); ok {
		return resp, nil
	}
	if bytes.HasPrefix(out, errorPrefix) {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return HookResponse{}, errors.New(e.Error)
		}
	}
	var resp HookResponse
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil || dec.More() {
		why := "trailing data"
		if err != nil {
			why = err.Error()
		}
		return resp, fmt.Errorf("output is not a HookResponse (%s): %q", why, clip(out))
	}
	if err := resp.Check(); err != nil {
		return resp, err
	}
	return resp, nil
}

var (
	allowJSON   = []byte(`{"decision":"allow"}`)
	denyPrefix  = []byte(`{"decision":"deny","reason":"`)
	errorPrefix = []byte(`{"error":`)
)

// fastResponse reads {"decision":"allow"} and {"decision":"deny",
// "reason":"…"} with a reason that needs no unescaping, followed by
// nothing but spaces.
func fastResponse(out []byte) (HookResponse, bool) {
	out = bytes.TrimRight(out, " ")
	if bytes.Equal(out, allowJSON) {
		return HookResponse{Decision: DecisionAllow}, true
	}
	if !bytes.HasPrefix(out, denyPrefix) || !bytes.HasSuffix(out, []byte(`"}`)) {
		return HookResponse{}, false
	}
	reason := out[len(denyPrefix) : len(out)-2]
	for _, c := range reason {
		if c < 0x20 || c == '"' || c == '\\' {
			return HookResponse{}, false
		}
	}
	if !utf8.Valid(reason) {
		return HookResponse{}, false
	}
	return HookResponse{Decision: DecisionDeny, Reason: string(reason)}, true
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
