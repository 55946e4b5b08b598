//go:build wasip1

// Command httpwasm is onboard's validating edge filter as an http-wasm
// guest (the ABI of Traefik's Wasm plug-ins, run by http-wasm-host-go): a
// standard Go wasip1 reactor (-buildmode=c-shared) exporting
// handle_request and handle_response and importing http_handler. The
// filter itself is package edge/filter; this file only adapts it.
//
// `make httpwasm` builds plugins/httpwasm/httpwasm.wasm; the guest's
// configuration is filter.Config as JSON (Traefik passes its plug-in
// settings as such).
package main

import (
	"errors"
	"runtime"
	"strconv"

	"github.com/onboardhq/onboard/edge/filter"
)

var f *filter.Filter

// init runs in _initialize, when the host instantiates the guest: a bad
// configuration fails there, at load, with the reason in the host's log.
func init() {
	cfg, err := filter.ParseConfig([]byte(getString(getConfig)))
	if err == nil && len(cfg.ForwardNormalized) > 0 {
		// Measured with a Go reverse proxy behind http-wasm-host-go v0.7.0's
		// net/http host (Traefik's): the request keeps the client's
		// ContentLength, and a normalised body (longer: defaults spliced in)
		// fails upstream with 502. Refused here rather than at run time.
		err = errors.New("onboard filter: configuration: forward_normalized is not supported by http-wasm hosts " +
			"(http-wasm-host-go keeps the client's Content-Length, so a replaced body breaks the upstream request); " +
			"use it with the proxy-wasm plug-in")
	}
	if err == nil {
		f, err = filter.New(cfg)
	}
	if err != nil {
		logLine(logError, err.Error())
		panic(err.Error())
	}
	enableFeatures(featureBufferRequest)
}

func main() {}

var calls uint32

// fault is nil but in the fault tests' build (fault.go).
var fault func(uri string)

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport handle_request
func handleRequest() (next uint64) {
	// A Go reactor seldom runs its GC unless it yields now and then.
	if calls++; calls%16 == 0 {
		runtime.Gosched()
	}
	var call *filter.Call
	defer func() {
		if p := recover(); p != nil {
			answer(call.Trapped(p))
			next = 0
		}
	}()
	method, uri := getString(getMethod), getString(getURI)
	call, v := f.Head(filter.Request{Method: method, URI: uri, Header: headerValues, ContentLength: contentLength()})
	var body []byte
	if v == nil {
		if fault != nil {
			fault(uri)
		}
		body = requestBody(call.BodyLimit())
		v = call.Body(body)
	}
	if !v.Forward {
		answer(v)
		return 0
	}
	if v.Log != "" {
		logLine(logInfo, v.Log)
	}
	for _, h := range v.SetHeaders {
		setHeader(h[0], h[1])
	}
	if len(body) > 0 {
		// The body read goes upstream as the guest writes it back:
		// http-wasm-host-go v0.7.0's nethttp host (Traefik's) buffers
		// only the read that ends with EOF, so a body read in more than
		// one chunk would go upstream truncated.
		writeBody(kindRequest, ptr(body), uint32(len(body)))
	}
	return 1
}

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport handle_response
func handleResponse(reqCtx uint32, isError uint32) {}

// answer writes the filter's own response; the request goes no further.
func answer(v *filter.Verdict) {
	if v.Log != "" {
		logLine(logInfo, v.Log)
	}
	for _, h := range v.Headers {
		setResponseHeader(h[0], h[1])
	}
	setStatusCode(uint32(v.Status))
	writeBody(kindResponse, ptr(v.Body), uint32(len(v.Body)))
}

func contentLength() int64 {
	vs := headerValues("Content-Length")
	if len(vs) != 1 {
		return -1
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
