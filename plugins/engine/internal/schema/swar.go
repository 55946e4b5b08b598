package schema

import (
	"encoding/binary"
	"math/bits"
)

// SWAR ("SIMD within a register") scanning: eight bytes per step. Wasm has
// no vector unit in Go's output and every loop iteration pays for Go's
// dispatch, so testing a whole uint64 per step is what makes string and
// whitespace scanning cheap there.

const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	quotes = 0x2222222222222222 // '"'
	slashs = 0x5c5c5c5c5c5c5c5c // '\\'
	spaces = 0x2020202020202020
)

// load8 reads src[i:i+8] little-endian; the caller ensures i+8 <= len(src).
// The compiler merges the byte loads into one 64-bit load on wasm and on
// the other targets that allow unaligned loads, and it stays correct on
// big-endian ones.
func load8(src []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(src[i : i+8])
}

// stringRun returns the index of the first byte at or after i that ends a
// plain run inside a string: '"', '\\', a control character or a non-ASCII
// byte (which the slow path decodes).
func stringRun(src []byte, i int) int {
	for i+8 <= len(src) {
		if stop := stringStops(load8(src, i)); stop != 0 {
			return i + bits.TrailingZeros64(stop)>>3
		}
		i += 8
	}
	for i < len(src) && strSafe[src[i]] {
		i++
	}
	return i
}

// stringStops has the high bit set in each byte of the word x (eight
// bytes of a string, little-endian) that stringRun would stop at, and
// possibly in bytes after the first such one: only the lowest counts.
func stringStops(x uint64) uint64 {
	q := x ^ quotes
	b := x ^ slashs
	return (((q - ones) &^ q) | ((b - ones) &^ b) | (x - spaces) | x) & highs
}

// structRun returns the index of the first byte at or after i that opens
// or closes a string, object or array: '"', '{', '}', '[' or ']'. Setting
// bit 0x20 maps '[' to '{' and ']' to '}' and no other byte onto either.
func structRun(src []byte, i int) int {
	const (
		opens  = 0x7b7b7b7b7b7b7b7b // '{'
		closes = 0x7d7d7d7d7d7d7d7d // '}'
	)
	for i+8 <= len(src) {
		x := load8(src, i)
		q := x ^ quotes
		y := x | spaces
		o := y ^ opens
		c := y ^ closes
		if stop := (((q - ones) &^ q) | ((o - ones) &^ o) | ((c - ones) &^ c)) & highs; stop != 0 {
			return i + bits.TrailingZeros64(stop)>>3
		}
		i += 8
	}
	for ; i < len(src); i++ {
		switch src[i] {
		case '"', '{', '}', '[', ']':
			return i
		}
	}
	return i
}

// spaceRun returns the index of the first byte at or after i that is not
// a space (runs of indentation), leaving other whitespace to the caller.
func spaceRun(src []byte, i int) int {
	for i+8 <= len(src) {
		if y := load8(src, i) ^ spaces; y != 0 {
			return i + bits.TrailingZeros64(y)>>3
		}
		i += 8
	}
	for i < len(src) && src[i] == ' ' {
		i++
	}
	return i
}

// keyMasks[n] keeps the first n bytes of two little-endian words: a
// member name of n <= 16 bytes, loaded as two words and masked with it, is
// what prop.w0 and prop.w1 hold. A table, not shifts and branches, so the
// comparison stays inline in object.
var keyMasks = func() (t [17][2]uint64) {
	for n := range t {
		for b := 0; b < n; b++ {
			t[n][b/8] |= 0xff << (8 * (b % 8))
		}
	}
	return t
}()
