package jsontree

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/onboardhq/onboard/abi"
)

// Str returns the decoded bytes of a string node. Unescaped strings are a
// view of the source; escaped ones are decoded into a scratch buffer that the
// next Str call overwrites, so copy the result if it must outlive that.
func (t *Tree) Str(idx int32) []byte {
	n := t.Nodes[idx]
	raw := t.Src[n.Start:n.End]
	if !n.Escaped {
		return raw
	}
	t.dec = abi.Unescape(t.dec[:0], raw)
	return t.dec
}

// Text returns the decoded text of a string node as a string that shares
// the source's memory when the node needs no decoding, so it does not
// allocate. Use it only on a tree whose source is never modified
// afterwards (the engine's copy of a kept template), since the string
// would change with it.
func (t *Tree) Text(idx int32) string {
	n := t.Nodes[idx]
	if n.Escaped {
		return string(t.Str(idx))
	}
	raw := t.Src[n.Start:n.End]
	return unsafe.String(unsafe.SliceData(raw), len(raw))
}

// Raw returns the source bytes of a node (strings without their quotes).
func (t *Tree) Raw(idx int32) []byte {
	n := t.Nodes[idx]
	return t.Src[n.Start:n.End]
}

// RawJSON returns the source bytes of a node as JSON text (strings with
// their quotes).
func (t *Tree) RawJSON(idx int32) []byte {
	n := t.Nodes[idx]
	if n.Kind == String {
		return t.Src[n.Start-1 : n.End+1]
	}
	return t.Src[n.Start:n.End]
}

// Member returns the value node of the object member called name, or -1.
func (t *Tree) Member(obj int32, name string) int32 {
	for k := t.Nodes[obj].First; k >= 0; k = t.Nodes[k].Next {
		n := &t.Nodes[k]
		if !n.Escaped {
			// Most names: compared in place, without a call to Str.
			if string(t.Src[n.Start:n.End]) == name {
				return k + 1
			}
			continue
		}
		if string(t.Str(k)) == name {
			return k + 1
		}
	}
	return -1
}

// EscapePointer escapes one JSON pointer segment (RFC 6901).
func EscapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// Position renders a byte offset as "line L, column C (byte B)" so a client
// can find a syntax error in a pretty-printed body.
func Position(src []byte, off int) string {
	if off > len(src) {
		off = len(src)
	}
	line, col := 1, 1
	for _, c := range src[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("invalid JSON at line %d, column %d (byte %d)", line, col, off)
}

// Describe names the byte at off for an error message.
func Describe(src []byte, off int) string {
	if off >= len(src) {
		return "end of input"
	}
	c := src[off]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// MaxQuoted is how many bytes of a client's value a message may echo: a
// 100,000-digit number or a 3,000-character password must not come back
// whole in an error.
const MaxQuoted = 64

// Quote quotes s for a message, cut at a rune boundary after MaxQuoted
// bytes and followed by its full length when cut.
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cutAt(s)]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// Short is Quote for text that is shown unquoted (a number's literal).
func Short(s string) string {
	if len(s) <= MaxQuoted {
		return s
	}
	return s[:cutAt(s)] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func cutAt(s string) int {
	n := MaxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func itoa(i int) string { return strconv.Itoa(i) }
