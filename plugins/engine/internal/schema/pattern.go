package schema

import (
	"fmt"
	"regexp"
)

// matcher tests a string against a schema pattern. Most table rules are a
// run of character classes ("^[A-Za-z0-9_-]{1,36}$"); those compile to byte
// sets matched in one pass with no allocation, which matters in Wasm where
// regexp costs microseconds per call. Anything else falls back to Go's
// regexp, which is what santhosh-tekuri uses, so both agree.
type matcher struct {
	src  string
	segs []segment
	// fixed holds the set of each position when every segment has a fixed
	// length ("^[+-][0-1][0-9]:[0-5][0-9]$"): matching is then one pass
	// with no early exit.
	fixed []byteSet
	re    *regexp.Regexp
}

// byteSet is a set of bytes as a bitmap; only ASCII bytes are ever added.
// Testing c is s[c>>6]>>(c&63)&1, with no branch: in Go's Wasm output
// every taken branch costs a trip through the function's dispatch loop.
type byteSet [4]uint64

// segment is one atom with its repetition bounds (max < 0: unbounded).
type segment struct {
	set      byteSet // ASCII bytes accepted
	min, max int
}

func (s *segment) has(c byte) bool { return s.set[c>>6]&(1<<(c&63)) != 0 }
func (s *segment) add(c byte)      { s.set[c>>6] |= 1 << (c & 63) }

func compilePattern(src string) (*matcher, error) {
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", src, err)
	}
	m := &matcher{src: src, re: re}
	if segs, ok := parseSegments(src); ok {
		m.segs, m.re = segs, nil
		m.fixed = fixedSets(segs)
	}
	return m, nil
}

// fixedSets returns the set of each position if every segment has a fixed
// length (and the total is small), else nil.
func fixedSets(segs []segment) []byteSet {
	var sets []byteSet
	for _, seg := range segs {
		if seg.min != seg.max || len(sets)+seg.max > 64 {
			return nil
		}
		for range seg.max {
			sets = append(sets, seg.set)
		}
	}
	if len(sets) == 0 {
		return nil
	}
	return sets
}

func (m *matcher) match(s []byte) bool {
	if m.re != nil {
		return m.re.Match(s)
	}
	if m.fixed != nil {
		if len(s) != len(m.fixed) {
			return false
		}
		var miss uint64
		for i, c := range s {
			miss |= ^m.fixed[i][c>>6] >> (c & 63)
		}
		return miss&1 == 0
	}
	if len(m.segs) == 0 {
		return len(s) == 0
	}
	i := 0
	last := len(m.segs) - 1
	for k := range last {
		seg := &m.segs[k]
		end := len(s)
		if seg.max >= 0 && i+seg.max < end {
			end = i + seg.max
		}
		j := i
		for j < end && seg.has(s[j]) {
			j++
		}
		if j-i < seg.min {
			return false
		}
		i = j
	}
	// The last segment must take all the rest, so it is checked whole,
	// without a branch per byte.
	seg := &m.segs[last]
	rest := s[i:]
	if len(rest) < seg.min || seg.max >= 0 && len(rest) > seg.max {
		return false
	}
	var miss uint64
	for _, c := range rest {
		miss |= ^seg.set[c>>6] >> (c & 63)
	}
	return miss&1 == 0
}

// parseSegments accepts ^(atom quantifier?)*$ where an atom is an ASCII
// literal or a non-negated ASCII class, and greedy matching is exact: a
// variable-length segment's set must be disjoint from every set that could
// follow it, so the matcher never needs to backtrack.
func parseSegments(p string) ([]segment, bool) {
	if len(p) < 2 || p[0] != '^' || p[len(p)-1] != '$' {
		return nil, false
	}
	body := p[1 : len(p)-1]
	var segs []segment
	for i := 0; i < len(body); {
		var seg segment
		c := body[i]
		switch {
		case c == '[':
			j, ok := parseClass(body, i+1, &seg)
			if !ok {
				return nil, false
			}
			i = j
		case c == '\\':
			if i+1 >= len(body) || !isPunct(body[i+1]) {
				return nil, false
			}
			seg.add(body[i+1])
			i += 2
		case c >= 0x80 || isMeta(c):
			return nil, false
		default:
			seg.add(c)
			i++
		}
		seg.min, seg.max = 1, 1
		if i < len(body) {
			j, ok := parseQuantifier(body, i, &seg)
			if !ok {
				return nil, false
			}
			i = j
		}
		segs = append(segs, seg)
	}
	for k := range segs {
		if segs[k].min == segs[k].max {
			continue
		}
		for f := k + 1; f < len(segs); f++ {
			if segs[k].set[0]&segs[f].set[0] != 0 || segs[k].set[1]&segs[f].set[1] != 0 {
				return nil, false
			}
			if segs[f].min > 0 {
				break
			}
		}
	}
	return segs, true
}

func isMeta(c byte) bool {
	switch c {
	case '.', '(', ')', '|', '*', '+', '?', '{', '}', '^', '$', ']':
		return true
	}
	return false
}

func isPunct(c byte) bool {
	return c < 0x80 && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

// parseClass reads a class body after '['; returns the index after ']'.
func parseClass(b string, i int, seg *segment) (int, bool) {
	if i < len(b) && b[i] == '^' {
		return 0, false
	}
	first := true
	for i < len(b) {
		c := b[i]
		if c == ']' && !first {
			return i + 1, true
		}
		first = false
		if c == '\\' {
			if i+1 >= len(b) || !isPunct(b[i+1]) {
				return 0, false
			}
			c = b[i+1]
			i += 2
		} else {
			if c >= 0x80 || c == '[' {
				return 0, false
			}
			i++
		}
		// A range "a-z"; a '-' first or last is literal.
		if i+1 < len(b) && b[i] == '-' && b[i+1] != ']' {
			hi := b[i+1]
			if hi == '\\' || hi >= 0x80 || hi < c {
				return 0, false
			}
			for x := int(c); x <= int(hi); x++ {
				seg.add(byte(x))
			}
			i += 2
			continue
		}
		seg.add(c)
	}
	return 0, false
}

func parseQuantifier(b string, i int, seg *segment) (int, bool) {
	switch b[i] {
	case '?':
		seg.min, seg.max = 0, 1
		return i + 1, true
	case '*':
		seg.min, seg.max = 0, -1
		return i + 1, true
	case '+':
		seg.min, seg.max = 1, -1
		return i + 1, true
	case '{':
		j := i + 1
		lo, j, ok := readInt(b, j)
		if !ok {
			return 0, false
		}
		hi := lo
		if j < len(b) && b[j] == ',' {
			j++
			if j < len(b) && b[j] == '}' {
				hi = -1
			} else if hi, j, ok = readInt(b, j); !ok || hi < lo {
				return 0, false
			}
		}
		if j >= len(b) || b[j] != '}' {
			return 0, false
		}
		seg.min, seg.max = lo, hi
		return j + 1, true
	}
	return i, true
}

func readInt(b string, i int) (int, int, bool) {
	start, v := i, 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 6 {
		v = v*10 + int(b[i]-'0')
		i++
	}
	return v, i, i > start
}
