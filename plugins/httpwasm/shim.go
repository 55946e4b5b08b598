//go:build wasip1

package main

import "unsafe"

// The http-wasm ABI (http_handler module, as http-wasm-host-go v0.7.0
// exports it), written out here because http-wasm-guest-tinygo builds
// with TinyGo only. Only what the filter uses is imported.

const (
	kindRequest  = 0 // header and body kinds
	kindResponse = 1

	featureBufferRequest = 1 // the host keeps the body it gives the guest for the next handler

	logInfo  = 0
	logError = 2
)

//go:wasmimport http_handler enable_features
func enableFeatures(features uint32) uint32

//go:wasmimport http_handler get_config
func getConfig(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler log
func hostLog(level int32, msg unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler read_body
func readBody(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler write_body
func writeBody(kind uint32, buf unsafe.Pointer, n uint32)

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

// scratch is the buffer host functions write into; it grows to what they
// report they need.
var scratch = make([]byte, 2048)

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func strPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// getString calls a get_xxx function that writes a string only when it
// fits its limit and returns its length, growing scratch until it fits.
func getString(get func(buf unsafe.Pointer, limit uint32) uint32) string {
	for {
		n := get(ptr(scratch), uint32(len(scratch)))
		if int(n) <= len(scratch) {
			return string(scratch[:n])
		}
		scratch = make([]byte, n)
	}
}

// headerValues returns every value of a request header. The host writes
// them NUL-terminated and returns count<<32 | length.
func headerValues(name string) []string {
	for {
		cl := getHeaderValues(kindRequest, strPtr(name), uint32(len(name)), ptr(scratch), uint32(len(scratch)))
		count, n := uint32(cl>>32), uint32(cl)
		if count == 0 {
			return nil
		}
		if int(n) > len(scratch) {
			scratch = make([]byte, n)
			continue
		}
		out := make([]string, 0, count)
		rest := scratch[:n]
		for len(rest) > 0 {
			i := 0
			for i < len(rest) && rest[i] != 0 {
				i++
			}
			out = append(out, string(rest[:i]))
			if i == len(rest) {
				break
			}
			rest = rest[i+1:]
		}
		return out
	}
}

func setHeader(name, value string) {
	setHeaderValue(kindRequest, strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))
}

func setResponseHeader(name, value string) {
	setHeaderValue(kindResponse, strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))
}

// requestBody reads at most limit bytes of the request body. The host
// returns eof<<32 | length per read.
func requestBody(limit int64) []byte {
	var body []byte
	chunk := make([]byte, 32<<10)
	for int64(len(body)) <= limit {
		el := readBody(kindRequest, ptr(chunk), uint32(len(chunk)))
		body = append(body, chunk[:uint32(el)]...)
		if el>>32 != 0 {
			break
		}
	}
	return body
}

func logLine(level int32, msg string) { hostLog(level, strPtr(msg), uint32(len(msg))) }
