package abi

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The JSON string escaper and unescaper of every message that crosses the
// boundary: the engine's result document, the hook messages on both sides.
// Both are written out because encoding/json's reflection is the largest
// single cost of Go code in Wasm, and both agree with encoding/json
// (AppendString escapes as json.Marshal does, minus the HTML escapes;
// Unescape decodes as json.Unmarshal does).

const (
	lsb       = 0x0101010101010101
	msb       = 0x8080808080808080
	hexDigits = "0123456789abcdef"
)

// stops marks, in the top bit of each byte of x, the bytes that end plain
// string content: '"', '\\' and control characters. Only the lowest mark
// is exact (a borrow may mark bytes above it), and only it is used.
func stops(x uint64) uint64 {
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	return ((q-lsb)&^q | (e-lsb)&^e | (x-lsb*0x20)&^x) & msb
}

// AppendString appends s as a JSON string: '"', '\\' and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped (as encoding/json does, so the output is also safe in
// JavaScript source). strconv.Quote is not JSON (\x, \a and \U escapes).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for i := 0; i < len(b); {
		// Copy the run of bytes that need no escape, a word at a time.
		j := i
		for j+8 <= len(b) {
			if m := stops(binary.LittleEndian.Uint64(b[j:])) | binary.LittleEndian.Uint64(b[j:])&msb; m != 0 {
				j += (bits.TrailingZeros64(m) - 7) >> 3
				goto found
			}
			j += 8
		}
		for j < len(b) && b[j] >= 0x20 && b[j] != '"' && b[j] != '\\' && b[j] < utf8.RuneSelf {
			j++
		}
	found:
		dst = append(dst, b[i:j]...)
		if i = j; i == len(b) {
			break
		}
		c := b[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// Unescape appends the decoded content of a JSON string to dst. s is the
// content without its quotes, and its escapes must be valid (the caller's
// scanner checked them). An unpaired surrogate becomes U+FFFD, as
// encoding/json decodes it; other bytes are copied as they are.
func Unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair only if a low surrogate follows; otherwise the
				// next escape is read on its own.
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s, i+2)); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// hexVal maps a hex digit to its value and any other byte to 0x80.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x80
	}
	for i := byte(0); i < 10; i++ {
		t['0'+i] = i
	}
	for i := byte(0); i < 6; i++ {
		t['a'+i], t['A'+i] = 10+i, 10+i
	}
	return t
}()

// hex4 reads the 4 hex digits at b[i:], or returns -1.
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	h0, h1, h2, h3 := hexVal[b[i]], hexVal[b[i+1]], hexVal[b[i+2]], hexVal[b[i+3]]
	if (h0|h1|h2|h3)&0x80 != 0 {
		return -1
	}
	return rune(h0)<<12 | rune(h1)<<8 | rune(h2)<<4 | rune(h3)
}
