// Package filter is onboard's validating edge filter, free of any gateway
// ABI: it matches a request against the catalogue's routes, runs the
// engine (plugins/engine, linked in, its rules not copied) over the
// request's parameters and body, and says what the gateway should do:
// answer an invalid request exactly as `onboard serve` would (status,
// the service's error shape and code, via package edge), or forward a
// valid one, with the operation id in a header and, per route, the
// engine's normalised body.
//
// The Wasm guests in plugins/httpwasm (http-wasm: Traefik) and
// plugins/proxywasm (proxy-wasm: Envoy, Istio, APISIX, Kong) adapt it to
// their ABI. Authentication, quotas and storage stay upstream: the filter
// judges a request's shape only.
package filter

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/schemas"
)

// Filter judges requests. It is not safe for concurrent use: a Wasm
// guest instance serves one request at a time.
type Filter struct {
	cfg     Config
	router  *edge.Router
	eng     *engine.Engine
	forward map[string]bool
	limit   int64
	opHdr   string
	verdHdr string
}

// New builds a filter from a configuration (ParseConfig's, or a literal
// one, which New checks the same way).
func New(cfg Config) (*Filter, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ops, err := schemas.Catalogue()
	if err != nil {
		return nil, err
	}
	var enabled []schemas.Operation
	for _, op := range ops {
		if cfg.enabled(op.Service) {
			enabled = append(enabled, op)
		}
	}
	eng, err := engine.New()
	if err != nil {
		return nil, fmt.Errorf("onboard filter: engine: %w", err)
	}
	f := &Filter{cfg: cfg, router: edge.NewRouter(enabled), eng: eng, forward: map[string]bool{},
		limit: cfg.BodyLimit, opHdr: cfg.OperationHeader, verdHdr: cfg.VerdictHeader}
	if f.limit == 0 {
		f.limit = DefaultBodyLimit
	}
	if f.opHdr == "" {
		f.opHdr = DefaultOperationHeader
	}
	if f.verdHdr == "" {
		f.verdHdr = DefaultVerdictHeader
	}
	for _, id := range cfg.ForwardNormalized {
		f.forward[id] = true
	}
	return f, nil
}

// Request is what the filter reads of a request before its body.
type Request struct {
	Method string
	URI    string // path and query as received ("/v3/p1/agents?x=1")
	// Header returns every value of a header, the name matched
	// case-insensitively.
	Header func(name string) []string
	// ContentLength is the declared body size; -1 when unknown.
	ContentLength int64
}

// Verdict is what the gateway does with a request.
type Verdict struct {
	// Forward: send the request upstream (with SetHeaders and, if not nil,
	// Body in place of the client's). Otherwise answer Status with
	// Headers and Body at the edge.
	Forward    bool
	SetHeaders [][2]string
	Status     int
	Headers    [][2]string
	Body       []byte
	// Log is a line for the gateway's log ("" for none): the verdict of a
	// report-only run, or why a request was refused.
	Log string
}

// pass is the verdict of a request the filter does not judge.
var pass = &Verdict{Forward: true}

// Call is one matched request awaiting its body.
type Call struct {
	f     *Filter
	r     Request
	op    schemas.Operation
	svc   string
	match *edge.Match
	query url.Values // parsed once, as net/http's URL.Query: bad pairs dropped
}

// BodyLimit is the matched operation's body limit (edge.BodyLimit over
// the configured one), as `onboard serve` applies it: a guest reads at
// most one byte more than it before calling Body.
func (c *Call) BodyLimit() int64 { return edge.BodyLimit(c.op, c.f.limit) }

// Op is the matched operation's id.
func (c *Call) Op() string { return c.op.ID }

// ReplacesBody reports whether a valid request goes upstream with the
// engine's normalised body (forward_normalized), so a proxy that frames
// the body itself can drop the client's Content-Length beforehand.
func (c *Call) ReplacesBody() bool { return c.f.forward[c.op.ID] && !c.f.cfg.ReportOnly }

// Head matches r. A request of no enabled route, or a served path called
// with a method it does not serve, passes untouched (nil Call, forward
// verdict): the upstream answers it. A matched request gets a Call, or a
// verdict already when its head alone is refused.
func (f *Filter) Head(r Request) (*Call, *Verdict) {
	path, raw, _ := strings.Cut(r.URI, "?")
	m, ok := f.router.Match(r.Method, path)
	if !ok {
		return nil, pass
	}
	q, _ := url.ParseQuery(raw)
	c := &Call{f: f, r: r, svc: m.Ops[0].Service, match: m, query: q}
	op, err := edge.Select(c.svc, m.Ops, m.OnPath, r.Method, c.query)
	if err != nil {
		return nil, c.refuse(err)
	}
	c.op = op
	if err := edge.HeadersOnce(c.svc, op, r.Header); err != nil {
		return nil, c.refuse(err)
	}
	if limit := c.BodyLimit(); r.ContentLength > limit {
		return nil, c.refuse(edge.DeclaredTooLarge(c.svc, r.ContentLength, limit))
	}
	return c, nil
}

// Body judges the request with its body (at most BodyLimit()+1 bytes of
// it: more is a 413), in the order `onboard serve` checks a request:
// size, media type, parameters, then the engine.
func (c *Call) Body(body []byte) *Verdict {
	if limit := c.BodyLimit(); int64(len(body)) > limit {
		return c.refuse(edge.ReadTooLarge(c.svc, limit))
	}
	if err := edge.CheckContentType(c.svc, c.op, edge.First(c.r.Header("Content-Type"))); err != nil {
		return c.refuse(err)
	}
	header := func(name string) string { return edge.First(c.r.Header(name)) }
	params, _, err := edge.Params(c.svc, c.op, c.match.PathValue, header, c.query)
	if err != nil {
		return c.refuse(err)
	}
	violations, request, err := verdict(c.f.eng.Run(c.op.ID, params, body))
	if err != nil {
		return c.refuse(edge.New(c.svc, edge.Unavailable, "the engine answered no result document: %v", err))
	}
	if len(violations) > 0 {
		return c.refuse(edge.FromResult(c.svc, &abi.Result{Violations: violations}))
	}
	v := &Verdict{Forward: true, SetHeaders: [][2]string{{c.f.opHdr, c.op.ID}}}
	if c.ReplacesBody() && len(request) > 0 {
		v.Body = bytes.Clone(request)
		v.SetHeaders = append(v.SetHeaders, [2]string{"Content-Length", strconv.Itoa(len(v.Body))})
	}
	if c.f.cfg.ReportOnly {
		v.SetHeaders = append(v.SetHeaders, [2]string{c.f.verdHdr, "valid"})
		v.Log = "onboard filter: report-only: " + c.op.ID + " " + c.r.Method + " " + edge.ShortText(c.r.URI) + ": valid"
	}
	return v
}

// Trapped is the verdict when the filter itself failed (a panic the
// guest recovered): 503 in the service's shape, as serve answers when its
// engine is down. The request does not go upstream unjudged.
func (c *Call) Trapped(cause any) *Verdict {
	svc, id := "cbr", "?"
	if c != nil {
		svc, id = c.svc, c.op.ID
	}
	e := edge.New(svc, edge.Unavailable, "the validating filter failed on this request; retry later")
	v := render(svc, e, newRequestID())
	v.Log = fmt.Sprintf("onboard filter: %s: the filter failed: %v", id, cause)
	return v
}

// refuse answers e at the edge, or in report-only mode forwards the
// request with e as its verdict.
func (c *Call) refuse(err error) *Verdict {
	requestID := newRequestID()
	e, ok := err.(*edge.Error)
	if !ok {
		e = edge.New(c.svc, edge.Internal, "internal error (request id %s)", requestID)
	}
	if c.f.cfg.ReportOnly {
		verdict := fmt.Sprintf("invalid %d %s", e.Status, code(c.svc, e))
		return &Verdict{Forward: true, SetHeaders: [][2]string{{c.f.opHdr, c.op.ID}, {c.f.verdHdr, verdict}},
			Log: "onboard filter: report-only: " + c.r.Method + " " + edge.ShortText(c.r.URI) + ": " + verdict + ": " + e.Message}
	}
	v := render(c.svc, e, requestID)
	v.Log = fmt.Sprintf("onboard filter: %s %s: %d %s", c.r.Method, edge.ShortText(c.r.URI), e.Status, code(c.svc, e))
	return v
}

func render(svc string, e *edge.Error, requestID string) *Verdict {
	h := [][2]string{{"Content-Type", edge.ContentType}, {"X-Request-Id", requestID}}
	if e.Status == 401 {
		h = append(h, [2]string{"WWW-Authenticate", edge.Challenge(svc)})
	}
	return &Verdict{Status: e.Status, Headers: h, Body: edge.Body(svc, e, requestID)}
}

func code(svc string, e *edge.Error) string {
	if svc == "enos" {
		return strconv.Itoa(e.EnOS)
	}
	return e.Code
}

// newRequestID mixes the clock into the random bytes: a Wasm host's
// random source may be deterministic (wazero's default, which Traefik
// keeps), and ids must not repeat across instances and restarts.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	now := uint64(time.Now().UnixNano())
	for i := range 8 {
		b[i] ^= byte(now >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
