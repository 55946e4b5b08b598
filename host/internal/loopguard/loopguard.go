// Package loopguard rewrites a Wasm module so that a host can stop a
// running call cheaply. It adds two mutable i32 globals, $stop (exported
// as StopExport) and $budget, and makes every loop header count down the
// budget and, every Period iterations, step out to the host and check the
// flag:
//
//	loop …            loop …
//	                    global.get $budget
//	                    i32.eqz
//	                    if
//	                      i32.const Period
//	                      global.set $budget
//	                      i32.const 0
//	                      memory.grow    ;; a trip through the host's Go code
//	                      drop
//	                      global.get $stop
//	                      if
//	                        unreachable
//	                      end
//	                    else
//	                      $budget -= 1
//	                    end
//
// so setting $stop to non-zero (from any goroutine) traps the call within
// Period loop iterations. That is the guarantee wazero's
// WithCloseOnContextDone gives, but wazero implements it with a call out to
// Go at every loop header, which Go's Wasm output reaches on nearly every
// branch; here a few instructions do, and the trip out happens Period
// times less often.
//
// The trip out matters as much as the flag: native Wasm code has no point
// where the Go runtime can preempt it, so a call that never leaves it
// stalls every stop-the-world pause of the host's garbage collector, and
// with it the whole process, the watchdog that would set the flag
// included. memory.grow(0) is the one instruction that leaves compiled
// code without an import (wazero runs it in Go); it changes nothing.
//
// The module's own code cannot reach the new globals: Instrument refuses
// a module whose code or exports name a global index at or past the ones
// it declares (a module wazero would refuse anyway), so an untrusted guest
// can neither clear the flag nor refill its budget.
package loopguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
)

// StopExport is the name under which the stop global is exported.
const StopExport = "onboard_stop"

// Period is how many loop iterations run between two checks of the stop
// flag. At the engine's tens of nanoseconds per iteration it is a check
// about every 100 µs, and the checks cost well under 1% of a call
// (docs/benchmarks.md).
const Period = 4096

// ErrUnsupported: the module uses an instruction or a layout this package
// does not rewrite (the caller falls back to another way of stopping).
var ErrUnsupported = errors.New("loopguard: unsupported module")

// Section ids.
const (
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secCode   = 10
)

// Instrument returns a copy of module with the stop global and the loop
// checks, and the number of loops it guarded.
func Instrument(module []byte) ([]byte, int, error) {
	if len(module) < 8 || !bytes.Equal(module[:8], []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}) {
		return nil, 0, fmt.Errorf("%w: not a Wasm 1.0 binary", ErrUnsupported)
	}
	type section struct {
		id   byte
		body []byte
	}
	var sections []section
	for r := (reader{b: module, i: 8}); r.i < len(r.b); {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, 0, fmt.Errorf("%w: section %d: %v", ErrUnsupported, id, r.err)
		}
		sections = append(sections, section{id, body})
	}
	// The new globals' indices: after the imported and declared ones.
	var globals uint32
	memory := false
	for _, s := range sections {
		switch s.id {
		case secImport:
			n, mem, err := importedGlobals(s.body)
			if err != nil {
				return nil, 0, err
			}
			globals += n
			memory = memory || mem
		case secMemory:
			memory = true
		case secGlobal:
			r := reader{b: s.body}
			globals += r.u32()
			if r.err != nil {
				return nil, 0, fmt.Errorf("%w: global section: %v", ErrUnsupported, r.err)
			}
		}
	}
	if !memory {
		return nil, 0, fmt.Errorf("%w: the module has no memory (the checks step out through memory.grow)", ErrUnsupported)
	}
	stop, budget := globals, globals+1
	out := make([]byte, 0, len(module)+len(module)/8)
	out = append(out, module[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	// $stop: (mut i32) (i32.const 0); $budget: (mut i32) (i32.const Period)
	newGlobals := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b, 0x7f, 0x01, 0x41}
	newGlobals = appendSleb(newGlobals, Period)
	newGlobals = append(newGlobals, 0x0b)
	addedGlobal, addedExport, loops := false, false, 0
	for _, s := range sections {
		// Sections other than custom ones come in id order: the global and
		// export sections go where they belong when the module lacks them.
		if s.id != 0 && s.id > secGlobal && !addedGlobal {
			emit(secGlobal, append([]byte{2}, newGlobals...))
			addedGlobal = true
		}
		if s.id != 0 && s.id > secExport && !addedExport {
			emit(secExport, exportStop(nil, 0, stop))
			addedExport = true
		}
		switch s.id {
		case secGlobal:
			body, err := appendGlobals(s.body, 2, newGlobals)
			if err != nil {
				return nil, 0, err
			}
			emit(secGlobal, body)
			addedGlobal = true
		case secExport:
			body, err := appendExport(s.body, stop)
			if err != nil {
				return nil, 0, err
			}
			emit(secExport, body)
			addedExport = true
		case secCode:
			body, n, err := guardCode(s.body, stop, loopCheck(stop, budget))
			if err != nil {
				return nil, 0, err
			}
			emit(secCode, body)
			loops += n
		default:
			emit(s.id, s.body)
		}
	}
	if !addedGlobal {
		emit(secGlobal, append([]byte{2}, newGlobals...))
	}
	if !addedExport {
		emit(secExport, exportStop(nil, 0, stop))
	}
	return out, loops, nil
}

// importedGlobals counts the imported globals and reports whether a
// memory is imported.
func importedGlobals(body []byte) (uint32, bool, error) {
	r := reader{b: body}
	var globals uint32
	memory := false
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
			memory = true
		case 0x03: // global: valtype, mutability
			r.byte()
			r.byte()
			globals++
		default:
			return 0, false, fmt.Errorf("%w: import kind %#x", ErrUnsupported, kind)
		}
	}
	if r.err != nil {
		return 0, false, fmt.Errorf("%w: import section: %v", ErrUnsupported, r.err)
	}
	return globals, memory, nil
}

// loopCheck is the code Instrument puts at each loop header (see the
// package comment).
func loopCheck(stop, budget uint32) []byte {
	get := func(b []byte, g uint32) []byte { return binary.AppendUvarint(append(b, 0x23), uint64(g)) }
	set := func(b []byte, g uint32) []byte { return binary.AppendUvarint(append(b, 0x24), uint64(g)) }
	c := get(nil, budget)
	c = append(c, 0x45, 0x04, 0x40, 0x41) // i32.eqz, if, i32.const
	c = appendSleb(c, Period)
	c = set(c, budget)
	c = append(c, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0, memory.grow 0, drop
	c = get(c, stop)
	c = append(c, 0x04, 0x40, 0x00, 0x0b, 0x05) // if, unreachable, end, else
	c = get(c, budget)
	c = append(c, 0x41, 0x01, 0x6b) // i32.const 1, i32.sub
	c = set(c, budget)
	return append(c, 0x0b) // end
}

// appendSleb appends v as a signed LEB128.
func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendGlobals adds n globals to a global section.
func appendGlobals(body []byte, n uint32, globals []byte) ([]byte, error) {
	r := reader{b: body}
	count := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("%w: global section: %v", ErrUnsupported, r.err)
	}
	out := binary.AppendUvarint(nil, uint64(count)+uint64(n))
	out = append(out, body[r.i:]...)
	return append(out, globals...), nil
}

// appendExport adds the stop export to an export section, refusing a
// module that exports a global it does not declare (the stop global's
// index) or already uses the name.
func appendExport(body []byte, stop uint32) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	start := r.i
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		kind := r.byte()
		idx := r.u32()
		if string(name) == StopExport {
			return nil, fmt.Errorf("%w: the module already exports %s", ErrUnsupported, StopExport)
		}
		if kind == 0x03 && idx >= stop {
			return nil, fmt.Errorf("%w: export %q names global %d, which the module does not declare", ErrUnsupported, name, idx)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: export section: %v", ErrUnsupported, r.err)
	}
	return exportStop(body[start:], n, stop), nil
}

func exportStop(entries []byte, n, stop uint32) []byte {
	out := binary.AppendUvarint(nil, uint64(n)+1)
	out = append(out, entries...)
	out = binary.AppendUvarint(out, uint64(len(StopExport)))
	out = append(out, StopExport...)
	out = append(out, 0x03)
	return binary.AppendUvarint(out, uint64(stop))
}

// guardCode rewrites every function body of a code section.
func guardCode(body []byte, stop uint32, check []byte) ([]byte, int, error) {
	r := reader{b: body}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(body)+len(body)/8), uint64(n))
	loops := 0
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, 0, fmt.Errorf("%w: code section: %v", ErrUnsupported, r.err)
		}
		var k int
		var err error
		fn, k, err = guardFunction(fn[:0], code, stop, check)
		if err != nil {
			return nil, 0, fmt.Errorf("function %d of the code section: %w", i, err)
		}
		loops += k
		out = binary.AppendUvarint(out, uint64(len(fn)))
		out = append(out, fn...)
	}
	return out, loops, nil
}

// Immediate kinds of the one-byte opcodes, for guardFunction's scan.
const (
	immInvalid = iota
	immNone
	immU32    // one index
	immU32x2  // memarg (align, offset), call_indirect (type, table)
	immBlock  // block type (s33)
	immLoop   // loop: block type, then the check goes in
	immSleb   // i32/i64.const
	immByte   // memory.size/grow, ref.null
	immF32    // 4 bytes
	immF64    // 8 bytes
	immGlobal // global.get/set: an index the module must declare
	immBrTable
	immSelectT
	immMisc // 0xfc prefix
)

var immediates = func() (t [256]byte) {
	for _, op := range []byte{0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1} {
		t[op] = immNone
	}
	for op := 0x45; op <= 0xc4; op++ { // numeric instructions, sign extension
		t[op] = immNone
	}
	for _, op := range []byte{0x0c, 0x0d, 0x10, 0x20, 0x21, 0x22, 0x25, 0x26, 0xd2} {
		t[op] = immU32 // br, br_if, call, local.*, table.get/set, ref.func
	}
	for op := 0x28; op <= 0x3e; op++ { // loads and stores
		t[op] = immU32x2
	}
	t[0x11] = immU32x2
	t[0x02], t[0x04], t[0x03] = immBlock, immBlock, immLoop
	t[0x41], t[0x42] = immSleb, immSleb
	t[0x3f], t[0x40], t[0xd0] = immByte, immByte, immByte
	t[0x43], t[0x44] = immF32, immF64
	t[0x23], t[0x24] = immGlobal, immGlobal
	t[0x0e], t[0x1c], t[0xfc] = immBrTable, immSelectT, immMisc
	return t
}()

// guardFunction copies one function body into dst with check after each
// loop opcode. It is table-driven and skips LEB128 immediates without
// decoding them: the engine's code section is megabytes, and this runs
// on every cold start.
func guardFunction(dst, code []byte, stop uint32, check []byte) ([]byte, int, error) {
	r := reader{b: code}
	for n := r.u32(); n > 0 && r.err == nil; n-- { // locals: count, type
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, 0, fmt.Errorf("%w: locals: %v", ErrUnsupported, r.err)
	}
	loops, copied := 0, 0
	i := r.i
	// skip passes one LEB128 (a malformed one runs off the end and is
	// caught below).
	skip := func(i int) int {
		for i < len(code) && code[i]&0x80 != 0 {
			i++
		}
		return i + 1
	}
	for i < len(code) {
		op := code[i]
		i++
		switch immediates[op] {
		case immNone:
		case immU32, immBlock, immSleb:
			i = skip(i)
		case immU32x2:
			i = skip(skip(i))
		case immLoop:
			i = skip(i)
			if i > len(code) {
				break
			}
			dst = append(dst, code[copied:i]...)
			dst = append(dst, check...)
			copied = i
			loops++
		case immByte:
			i++
		case immF32:
			i += 4
		case immF64:
			i += 8
		case immGlobal:
			r.i = i
			if idx := r.u32(); r.err == nil && idx >= stop {
				return nil, 0, fmt.Errorf("%w: code names global %d, which the module does not declare", ErrUnsupported, idx)
			}
			i = r.i
		case immBrTable:
			r.i = i
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
			i = r.i
		case immSelectT:
			r.i = i
			n := r.u32()
			i = r.i + int(n)
		case immMisc:
			r.i = i
			if err := r.misc(); err != nil {
				return nil, 0, err
			}
			i = r.i
		default:
			return nil, 0, fmt.Errorf("%w: opcode %#x at byte %d", ErrUnsupported, op, i-1)
		}
		if r.err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrUnsupported, r.err)
		}
	}
	if i != len(code) {
		return nil, 0, fmt.Errorf("%w: function body ends inside an instruction", ErrUnsupported)
	}
	return append(dst, code[copied:]...), loops, nil
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

var errShort = errors.New("unexpected end")

func (r *reader) byte() byte {
	if r.err != nil || r.i >= len(r.b) {
		r.err = errShort
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || len(r.b)-r.i < n {
		r.err = errShort
		return nil
	}
	r.i += n
	return r.b[r.i-n : r.i]
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 || v > 1<<32-1 {
		r.err = errors.New("bad unsigned LEB128")
		return 0
	}
	r.i += n
	return uint32(v)
}

func (r *reader) name() []byte { return r.bytes(int(r.u32())) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// misc skips the immediates of an 0xfc-prefixed instruction.
func (r *reader) misc() error {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init: data index, memory
		r.u32()
		r.byte()
	case sub == 9 || sub == 13 || (sub >= 15 && sub <= 17): // data.drop, elem.drop, table.grow/size/fill
		r.u32()
	case sub == 10: // memory.copy: two memories
		r.byte()
		r.byte()
	case sub == 11: // memory.fill
		r.byte()
	case sub == 12 || sub == 14: // table.init, table.copy
		r.u32()
		r.u32()
	default:
		return fmt.Errorf("%w: instruction 0xfc %d", ErrUnsupported, sub)
	}
	return nil
}

var cache struct {
	sync.Mutex
	seed maphash.Seed
	m    map[uint64][]cached
}

type cached struct {
	original, module []byte
	err              error
}

// Cached is Instrument without the loop count, remembered per module
// content for the life of the process: runtimes are created again on every
// config reload. The key is a fast non-cryptographic hash (a SHA-256 of
// engine.wasm alone takes milliseconds), and a hit is confirmed against
// a copy of the original bytes.
func Cached(module []byte) ([]byte, error) {
	cache.Lock()
	defer cache.Unlock()
	if cache.m == nil || len(cache.m) >= 16 { // a handful of modules live at once
		cache.m, cache.seed = map[uint64][]cached{}, maphash.MakeSeed()
	}
	key := maphash.Bytes(cache.seed, module)
	for _, c := range cache.m[key] {
		if bytes.Equal(c.original, module) {
			return c.module, c.err
		}
	}
	out, _, err := Instrument(module)
	cache.m[key] = append(cache.m[key], cached{bytes.Clone(module), out, err})
	return out, err
}
