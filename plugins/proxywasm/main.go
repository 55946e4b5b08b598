//go:build wasip1

// Command proxywasm is onboard's validating edge filter as a proxy-wasm
// plug-in (the ABI of Envoy, Istio, APISIX, Kong and NGINX's Wasm
// module), built with github.com/proxy-wasm/proxy-wasm-go-sdk as a
// standard Go wasip1 reactor (-buildmode=c-shared). The SDK exports
// proxy_abi_version_0_2_0 and the request callbacks; the filter itself is
// package edge/filter, and this file only adapts it.
//
// The plug-in configuration is filter.Config as JSON. `make proxywasm`
// builds plugins/proxywasm/proxywasm.wasm.
package main

import (
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/onboardhq/onboard/edge/filter"
)

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

func main() {}

// fault is nil but in the fault tests' build (fault.go).
var fault func(uri string)

type plugin struct {
	types.DefaultPluginContext
	f *filter.Filter
}

// OnPluginStart reads the configuration: a bad one fails the plug-in's
// start (Envoy refuses the listener's configuration) with the reason
// logged.
func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	b, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		proxywasm.LogCriticalf("onboard filter: reading the plug-in configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := filter.ParseConfig(b)
	if err == nil {
		p.f, err = filter.New(cfg)
	}
	if err != nil {
		proxywasm.LogCritical(err.Error())
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{f: p.f} }

// stream is one request.
type stream struct {
	types.DefaultHttpContext
	f    *filter.Filter
	call *filter.Call
	uri  string
	done bool // answered or passed: later callbacks continue
}

func (s *stream) OnHttpRequestHeaders(_ int, endOfStream bool) (action types.Action) {
	defer s.recover(&action)
	hs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return s.act(s.call.Trapped(err))
	}
	h := headers(hs)
	s.uri = h.get(":path")
	cl := int64(-1)
	if v := h.values("content-length"); len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			cl = n
		}
	}
	call, v := s.f.Head(filter.Request{Method: h.get(":method"), URI: s.uri, Header: h.values, ContentLength: cl})
	if v != nil {
		return s.act(v)
	}
	s.call = call
	if endOfStream {
		return s.judge(nil)
	}
	if call.ReplacesBody() {
		// The upstream must not get the client's length for another body.
		_ = proxywasm.RemoveHttpRequestHeader("content-length")
	}
	return types.ActionPause
}

func (s *stream) OnHttpRequestBody(size int, endOfStream bool) (action types.Action) {
	if s.done || s.call == nil {
		return types.ActionContinue
	}
	defer s.recover(&action)
	if !endOfStream {
		if int64(size) > s.call.BodyLimit() {
			return s.judge(make([]byte, size)) // a 413, whatever the bytes
		}
		return types.ActionPause // buffer until the whole body is here
	}
	var body []byte
	if size > 0 {
		b, err := proxywasm.GetHttpRequestBody(0, size)
		if err != nil {
			return s.act(s.call.Trapped(err))
		}
		body = b
	}
	return s.judge(body)
}

func (s *stream) judge(body []byte) types.Action {
	if fault != nil {
		fault(s.uri)
	}
	return s.act(s.call.Body(body))
}

// act carries out a verdict.
func (s *stream) act(v *filter.Verdict) types.Action {
	s.done = true
	if v.Log != "" {
		proxywasm.LogInfo(v.Log)
	}
	if !v.Forward {
		if err := proxywasm.SendHttpResponse(uint32(v.Status), v.Headers, v.Body, -1); err != nil {
			proxywasm.LogCriticalf("onboard filter: sending the answer: %v", err)
		}
		return types.ActionPause
	}
	for _, h := range v.SetHeaders {
		if strings.EqualFold(h[0], "Content-Length") {
			continue // the proxy frames the body it forwards
		}
		_ = proxywasm.ReplaceHttpRequestHeader(h[0], h[1])
	}
	if v.Body != nil {
		if err := proxywasm.ReplaceHttpRequestBody(v.Body); err != nil {
			proxywasm.LogCriticalf("onboard filter: replacing the body: %v", err)
		}
	}
	return types.ActionContinue
}

// recover answers a panic in the filter with 503 in the service's shape:
// the request is not forwarded unjudged, and the plug-in serves on.
func (s *stream) recover(action *types.Action) {
	if p := recover(); p != nil {
		*action = s.act(s.call.Trapped(p))
	}
}

// headers looks request headers up case-insensitively (HTTP/2 and
// Envoy give them in lower case).
type headers [][2]string

func (h headers) values(name string) []string {
	var out []string
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) {
			out = append(out, kv[1])
		}
	}
	return out
}

func (h headers) get(name string) string {
	if vs := h.values(name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}
