// Package api is onboard's HTTP service: the five registration resources
// with their documented wire formats, authentication (X-Auth-Token, AK/SK
// request signing, EnOS bearer tokens), project and org isolation, body
// limits and idempotency.
//
// Routes come from the operations catalogue (schemas/catalogue); every
// request body and every path, query and header parameter is validated by
// the Wasm engine before a handler runs. Handlers do the side effects (ids,
// certificates, secrets, storage) and must not re-check a rule the engine
// owns.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/admission"
	"github.com/onboardhq/onboard/host/openapi"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/schemas"
)

// Defaults for Config.
const (
	DefaultBodyLimit      = 1 << 20 // 1 MiB
	DefaultEnOSBatchLimit = 1000    // devices per batch per org (EnOS 99400 beyond)

	DefaultIdempotencyLease = 10 * time.Second
	DefaultIdempotencyWait  = 5 * time.Second
)

// Validator is the engine as the service uses it: *host.Runtime or
// *host.Reloadable (Wasm).
type Validator = host.Validator

// Config configures the service. Engine and Store are required.
type Config struct {
	Engine Validator
	Store  store.Store
	// BodyLimit is the body size limit in bytes (larger bodies get 413) of
	// operations whose catalogue entry gives none; an operation with a
	// catalogue body_limit gets the larger of the two. SetLimits changes
	// it live.
	BodyLimit int64
	// EnOSBatchLimit is the default number of devices one batch may create;
	// EnOSBatchLimits overrides it per org.
	EnOSBatchLimit  int
	EnOSBatchLimits map[string]int
	Logger          *slog.Logger
	Now             func() time.Time // the clock (tests pin it)
	// Metrics receives the request, engine, store and pool metrics served
	// at GET /metrics; nil means a new Metrics with a private registry.
	Metrics *Metrics
	// Hooks, when set, runs operators' registration hooks on create
	// operations after engine validation (hooks.go); *hooks.Runner
	// implements it.
	Hooks HookRunner
	// IdempotencyLease is how long a request holds its Idempotency-Key
	// without renewing it (it renews every third of it while it works): a
	// holder that dies frees the key that long after its last renewal.
	// IdempotencyWait bounds how long a retry waits for a live holder
	// before it gets 409 with Retry-After. Defaults: 10 s and 5 s.
	IdempotencyLease time.Duration
	IdempotencyWait  time.Duration
	// Admission sizes the lanes that admit requests by cost class
	// (admission.go); zero fields take DefaultAdmission's values.
	Admission Admission
}

// Server serves the API. Create it with New; it is an http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
	// prefixes are the services' route prefixes, for the error style of a
	// path no operation serves (serviceForPath).
	prefixes []servicePrefix
	// metrics observes every request (accesslog.go, metrics.go).
	metrics *Metrics
	// paths matches the served paths whatever the method, so a request the
	// mux leaves to its catch-all gets 405 on a known path, 404 elsewhere.
	paths *http.ServeMux
	// storeObs measures the store calls of every request (metrics.go).
	storeObs *store.Observer
	// limits are the settings a running server may change (SetLimits).
	limits atomic.Pointer[Limits]
	// lanes admit requests by cost class (admission.go).
	lanes lanes
}

// Limits are the Config settings a running server can change: `onboard
// serve` applies a changed config file's body_limit, enos_batch_limit and
// enos_batch_limits on SIGHUP. A zero field means the default.
type Limits struct {
	BodyLimit      int64
	EnOSBatchLimit int
	// EnOSBatchLimits are per-org batch limits; an org not in it, or with
	// 0, gets EnOSBatchLimit. Not modified after SetLimits.
	EnOSBatchLimits map[string]int
}

// SetLimits changes the limits for the requests that start after it.
func (s *Server) SetLimits(l Limits) {
	if l.BodyLimit <= 0 {
		l.BodyLimit = DefaultBodyLimit
	}
	if l.EnOSBatchLimit <= 0 {
		l.EnOSBatchLimit = DefaultEnOSBatchLimit
	}
	s.limits.Store(&l)
}

// Limits returns the limits in force.
func (s *Server) Limits() Limits { return *s.limits.Load() }

// handler serves one operation after the common checks.
type handler func(s *Server, c *call) error

// handlers holds each resource's handlers by operation id; resource files
// register theirs in init, so adding a resource touches no shared file.
var handlers = map[string]handler{}

func register(op string, h handler) {
	if _, dup := handlers[op]; dup {
		panic("api: handler registered twice for " + op)
	}
	handlers[op] = h
}

// prechecks run on the raw body before the engine, by operation id: cheap
// refusals of requests the engine would otherwise spend its call timeout
// on. They must not judge what the engine owns.
var prechecks = map[string]handler{}

// New builds the service from the catalogue: an operation is served when a
// handler is registered for it.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Store == nil {
		return nil, errors.New("api: Config.Engine and Config.Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.IdempotencyLease <= 0 {
		cfg.IdempotencyLease = DefaultIdempotencyLease
	}
	if cfg.IdempotencyWait < 0 {
		cfg.IdempotencyWait = 0
	} else if cfg.IdempotencyWait == 0 {
		cfg.IdempotencyWait = DefaultIdempotencyWait
	}
	if rt, ok := cfg.Engine.(RuntimeStats); ok {
		cfg.Metrics.WatchRuntime(rt)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, metrics: cfg.Metrics, storeObs: cfg.Metrics.storeObserver(),
		lanes: newLanes(cfg.Admission, cfg.Engine)}
	cfg.Metrics.watchLanes(s.lanes.all())
	s.SetLimits(Limits{BodyLimit: cfg.BodyLimit, EnOSBatchLimit: cfg.EnOSBatchLimit, EnOSBatchLimits: cfg.EnOSBatchLimits})
	ops, err := schemas.Catalogue()
	if err != nil {
		return nil, err
	}
	s.prefixes = routePrefixes(ops)
	// Operations sharing a method and route (EnOS ?action=) are told apart
	// by their fixed query values.
	byRoute := map[string][]schemas.Operation{}
	byPath := map[string][]schemas.Operation{}
	var order []string
	for _, op := range ops {
		if handlers[op.ID] == nil {
			continue
		}
		key := op.Method + " " + op.Route
		if byRoute[key] == nil {
			order = append(order, key)
		}
		byRoute[key] = append(byRoute[key], op)
		byPath[op.Route] = append(byPath[op.Route], op)
	}
	if err := checkEngineKnows(cfg.Engine, s.Operations()); err != nil {
		return nil, err
	}
	s.cfg.Engine = timedEngine{next: cfg.Engine, m: cfg.Metrics} // after the start-up check, so it is not counted
	rt := routes{mux: s.mux, methods: map[string][]string{}, svc: map[string]string{}, serviceFor: s.serviceForPath}
	for _, key := range order {
		ops := byRoute[key]
		rt.handle(ops[0].Method, ops[0].Route, ops[0].Service, s.dispatch(ops, byPath[ops[0].Route]))
	}
	rt.handle("GET", "/healthz", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	rt.handle("GET", "/readyz", "", http.HandlerFunc(s.ready))
	spec, err := openapi.Generate(Version)
	if err != nil {
		return nil, err
	}
	rt.handle("GET", "/openapi.json", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(spec)
	}))
	rt.handle("GET", "/metrics", "", cfg.Metrics.Handler())
	rt.handle("GET", "/docs", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(openapi.DocsHTML)
	}))
	if s.paths, err = s.pathRoutes(&rt); err != nil {
		return nil, err
	}
	s.mux.HandleFunc("/", s.unmatched)
	return s, nil
}

// pathRoutes matches the served paths whatever the method. Without methods
// two routes can conflict where they did not with them (/{a}/b, /a/{b});
// ServeMux panics on that, so it is turned into an error.
func (s *Server) pathRoutes(rt *routes) (mux *http.ServeMux, err error) {
	mux = http.NewServeMux()
	defer func() {
		if p := recover(); p != nil {
			mux, err = nil, fmt.Errorf("api: routes: %v", p)
		}
	}()
	for _, p := range rt.order {
		mux.Handle(p, s.methodNotAllowed(rt.svc[p], rt.methods[p]))
	}
	return mux, nil
}

// routes registers handlers on the mux and remembers each path's methods
// for the 405 answers.
type routes struct {
	mux        *http.ServeMux
	order      []string            // paths in registration order
	methods    map[string][]string // path pattern → methods
	svc        map[string]string   // path pattern → error style
	serviceFor func(path string) string
}

// handle registers h; svc "" takes the error style from the path, as 404s do.
func (rt *routes) handle(method, path, svc string, h http.Handler) {
	rt.mux.Handle(method+" "+path, h)
	if svc == "" {
		svc = rt.serviceFor(path)
	}
	if _, seen := rt.methods[path]; !seen {
		rt.order = append(rt.order, path)
		rt.svc[path] = svc
	}
	rt.methods[path] = append(rt.methods[path], method)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.observe(w, r.WithContext(store.WithObserver(r.Context(), s.storeObs)), s.mux)
}

// Version is reported by /openapi.json.
const Version = "0.1.0"

// ready answers 200 only when the engine answers and the store is
// reachable, so a load balancer sends no traffic to a host that would fail.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, body := http.StatusOK, `{"status":"ready"}`
	if _, err := s.cfg.Engine.Validate(ctx, abi.OpResolve, nil, []byte(`{}`)); err != nil {
		status, body = http.StatusServiceUnavailable, `{"status":"engine unavailable"}`
	} else if err := s.cfg.Store.Ping(ctx); err != nil {
		status, body = http.StatusServiceUnavailable, `{"status":"store unreachable"}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// CheckEngine reports whether e knows every operation this server serves:
// a hot reload must not swap in an engine.wasm older than the catalogue.
func (s *Server) CheckEngine(e Validator) error { return checkEngineKnows(e, s.Operations()) }

// checkEngineKnows refuses to start with an engine.wasm older than the
// catalogue: every request would otherwise fail as "unknown operation".
func checkEngineKnows(e Validator, ops []string) error {
	for _, op := range ops {
		res, err := e.Validate(context.Background(), op, nil, nil)
		if err != nil {
			return fmt.Errorf("api: engine: %w", err)
		}
		for _, v := range res.Violations {
			if v.Rule == "operation" {
				return fmt.Errorf("api: the engine does not know operation %s: rebuild engine.wasm (make wasm)", op)
			}
		}
	}
	return nil
}

// Operations lists the operation ids the server serves.
func (s *Server) Operations() []string {
	var out []string
	ops, _ := schemas.Catalogue()
	for _, op := range ops {
		if handlers[op.ID] != nil {
			out = append(out, op.ID)
		}
	}
	return out
}

// servicePrefix is the route prefix of a service: the leading segments
// all its operations' routes share ({name} segments included).
type servicePrefix struct {
	service  string
	segments []string
}

// routePrefixes reads each service's route prefix from the catalogue, in
// catalogue order: CBR /v3/{project_id}, CES
// /v3/{project_id}/agent-invocations, IoTDA /v5/iot/{project_id}, …
func routePrefixes(ops []schemas.Operation) []servicePrefix {
	var out []servicePrefix
	index := map[string]int{}
	for _, op := range ops {
		segs := strings.Split(strings.TrimPrefix(op.Route, "/"), "/")
		i, seen := index[op.Service]
		if !seen {
			index[op.Service] = len(out)
			out = append(out, servicePrefix{service: op.Service, segments: segs})
			continue
		}
		common := out[i].segments
		n := 0
		for n < len(common) && n < len(segs) && common[n] == segs[n] {
			n++
		}
		out[i].segments = common[:n]
	}
	return out
}

// serviceForPath picks the error style of a path no operation serves: the
// service whose route prefix matches the most leading segments of the
// path, and of those the one with the least of its prefix left unmatched
// (so /v3/p1/nothing is CBR's, whose prefix /v3/{project_id} it matches
// whole, not CES's). A path of no service (/healthz, /metrics, /favicon.ico)
// matches no segment anywhere and gets onboard's own neutral style
// (neutralService): no service's code would be true of it.
func (s *Server) serviceForPath(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	best, bestMatched, bestLeft := neutralService, 0, 0
	for _, sp := range s.prefixes {
		n := 0
		for n < len(sp.segments) && n < len(segs) && segmentMatches(sp.segments[n], segs[n]) {
			n++
		}
		if left := len(sp.segments) - n; n > bestMatched || n == bestMatched && left < bestLeft {
			best, bestMatched, bestLeft = sp.service, n, left
		}
	}
	return best
}

// segmentMatches reports whether a path segment fits a route segment:
// equal, or any non-empty value for a {name}.
func segmentMatches(route, seg string) bool {
	if strings.HasPrefix(route, "{") && strings.HasSuffix(route, "}") {
		return seg != ""
	}
	return route == seg
}

// unmatched answers what no route serves: 405 on a known path, else 404.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	if h, pattern := s.paths.Handler(r); pattern != "" {
		h.ServeHTTP(w, r)
		return
	}
	svc := s.serviceForPath(r.URL.Path)
	c := s.newCall(w, r, svc)
	c.fail(newError(svc, kindNotFound, "no operation serves %s %s: GET /openapi.json lists the routes", shortText(r.Method), shortText(r.URL.Path)))
}

// methodNotAllowed answers a known path called with a method it does not
// serve. GET routes also answer HEAD (net/http), so Allow lists it too.
func (s *Server) methodNotAllowed(svc string, methods []string) http.Handler {
	ms := slices.Clone(methods)
	if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
		ms = append(ms, http.MethodHead)
	}
	slices.Sort(ms)
	ms = slices.Compact(ms)
	allow := strings.Join(ms, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.newCall(w, r, svc)
		w.Header().Set("Allow", allow)
		c.fail(newError(svc, kindMethodNotAllowed, "method %s is not allowed on %s: it serves %s", shortText(r.Method), shortText(r.URL.Path), allow))
	})
}

// newCall starts a call and announces its request id.
func (s *Server) newCall(w http.ResponseWriter, r *http.Request, svc string) *call {
	c := &call{s: s, w: w, r: r, svc: svc, requestID: newRequestID()}
	track(r, c)
	w.Header().Set("X-Request-Id", c.requestID)
	return c
}

// call is one request being served.
type call struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	op        schemas.Operation
	svc       string
	requestID string
	project   string                // Huawei: the authenticated project (= path project_id)
	org       string                // EnOS: the authenticated org (= orgId query)
	account   string                // EnOS: the authenticated service account
	enosAcct  *store.ServiceAccount // EnOS: that account's record
	body      []byte
	headers   map[string]string // header parameters, as the engine validated them
	result    *abi.Result       // the engine's verdict on params and body
	idem      *idempotent       // the Idempotency-Key this request holds, if any
	unit      bool              // the handler runs in a unit of work: reply defers the response
	ticket    *admission.Ticket // the request's place in its admission lane
	lane      *admission.Lane   // the lane admit chose (nil: none, a 413 to come)
	out       *response         // the deferred response, written once the unit commits
}

// response is a reply held back until the unit of work commits.
type response struct {
	status int
	body   []byte
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dispatch serves ops, which share a method and route; onPath are all the
// operations of that route, whatever their method.
func (s *Server) dispatch(ops, onPath []schemas.Operation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc := ops[0].Service
		c := s.newCall(w, r, svc)
		op, err := edge.Select(svc, ops, onPath, r.Method, r.URL.Query())
		if err != nil {
			c.fail(err)
			return
		}
		c.op = op
		if err := c.admit(); err != nil {
			c.fail(err)
			return
		}
		defer c.ticket.Done()
		if err := c.serve(); err != nil {
			c.fail(err)
		}
	})
}

// serve runs the common checks, then the operation's handler:
// headers given once → body (size, type) → authentication → scope →
// Idempotency-Key (replay, wait, or reserve) → prechecks → engine
// validation → registration hooks (creates) → handler, in one unit of
// work unless it only reads.
func (c *call) serve() error {
	if err := c.singleHeaders(); err != nil {
		return err
	}
	if err := c.readBody(); err != nil {
		return err
	}
	if err := c.authenticate(); err != nil {
		return err
	}
	if done, err := c.claimIdempotency(); done || err != nil {
		return err
	}
	defer c.endIdempotency()
	// The body is in, the key is held: now the engine and the store work,
	// at most the lane's slots at once.
	if err := c.runSlot(); err != nil {
		return err
	}
	params, err := c.paramsJSON()
	if err != nil {
		return err
	}
	if pre := prechecks[c.op.ID]; pre != nil {
		if err := pre(c.s, c); err != nil {
			return err
		}
	}
	res, err := c.validate(c.op.ID, params, c.body)
	if err != nil {
		return err
	}
	if !res.Accepted() {
		return invalid(c.svc, res)
	}
	c.result = res
	if err := c.runHooks(params); err != nil {
		return err
	}
	c.yieldBulkSlot()
	return c.run(handlers[c.op.ID])
}

// run runs the handler. A request that may write runs it as one unit of
// work: every store call the handler makes with the request's context
// joins one transaction, together with the completion of its
// Idempotency-Key (reply), and the response goes out only once that
// transaction has committed. A handler error rolls all of it back.
func (c *call) run(h handler) error {
	if c.r.Method == http.MethodGet || c.r.Method == http.MethodHead {
		return h(c.s, c)
	}
	outer := c.r
	err := c.s.cfg.Store.Atomic(outer.Context(), func(ctx context.Context) error {
		c.r, c.unit = outer.WithContext(ctx), true
		defer func() { c.r, c.unit = outer, false }()
		return h(c.s, c)
	})
	out := c.out
	c.out = nil
	switch {
	case err == nil && out != nil:
		c.write(out.status, out.body)
	case err != nil && c.idem != nil && c.lostKey(err):
		// The key was taken over while the handler ran (its lease ran
		// out): the work is undone, the new holder's answer is the one.
		return c.lostIdempotency()
	}
	return err
}

// singleHeaders refuses a request that gives a header the server reads
// more than once: which copy counts must never depend on who reads it (a
// proxy may check the first, onboard the last). Credentials get 401.
func (c *call) singleHeaders() error {
	for _, name := range credentialHeaders {
		if vs := c.r.Header.Values(name); len(vs) > 1 {
			return newError(c.svc, kindAuth, "header %s is given %d times; give it once", name, len(vs))
		}
	}
	return edge.HeadersOnce(c.svc, c.op, c.r.Header.Values)
}

// readBody enforces the size limit without buffering more than it, and the
// content type for operations that take a body.
func (c *call) readBody() error {
	limit := edge.BodyLimit(c.op, c.s.Limits().BodyLimit)
	if c.r.ContentLength > limit {
		return edge.DeclaredTooLarge(c.svc, c.r.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, limit+1))
	if err != nil {
		return newError(c.svc, kindInvalid, "reading the request body failed: %v", err)
	}
	if int64(len(body)) > limit {
		return edge.ReadTooLarge(c.svc, limit)
	}
	c.body = body
	return edge.CheckContentType(c.svc, c.op, c.r.Header.Get("Content-Type"))
}

// paramsJSON collects the path, query and header parameters into the JSON
// object the engine validates against the operation's params schema (which
// rejects unknown query parameters), with the client's bytes unchanged.
func (c *call) paramsJSON() (params []byte, err error) {
	params, c.headers, err = edge.Params(c.svc, c.op, c.r.PathValue, c.r.Header.Get, c.r.URL.Query())
	return params, err
}

// header returns a header parameter of the operation (Instance-Id) as the
// engine validated it; "" when the request has none. Handlers read headers
// only through it.
func (c *call) header(name string) string { return c.headers[name] }

// validate runs op on the engine; an engine failure is a 503 (fail).
func (c *call) validate(op string, params, body []byte) (*abi.Result, error) {
	return host.Validate(c.r.Context(), c.s.cfg.Engine, c.s.log, op, params, body, "request_id", c.requestID)
}

// request decodes the engine's normalised request into v.
func (c *call) request(v any) error {
	if err := decodeExact(c.result.Request, v); err != nil {
		return newError(c.svc, kindInvalid, "request body: %v", err)
	}
	return nil
}

// decodeExact decodes JSON keeping numbers in free-form values (EnOS
// deviceAttributes) as json.Number, digit for digit: through float64,
// 9007199254740993 was stored as …992 and 1e400 could not be stored.
func decodeExact(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// query returns a query parameter the engine has already validated.
func (c *call) query(name string) string { return c.r.URL.Query().Get(name) }

// reply answers the request. In a unit of work it completes the
// request's Idempotency-Key with the response, in the unit's transaction,
// and holds the response back until the unit commits (run).
func (c *call) reply(status int, v any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("encode response: %w", err)
		}
	}
	if !c.unit {
		c.write(status, body)
		return nil
	}
	if err := c.completeIdempotency(status, body); err != nil {
		return err
	}
	c.out = &response{status: status, body: body}
	return nil
}

func (c *call) write(status int, body []byte) {
	if body != nil {
		c.w.Header().Set("Content-Type", edge.ContentType)
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// fail writes an error in the service's format. Unknown errors are 500s
// whose details go to the log, not to the client.
func (c *call) fail(err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, host.ErrUnavailable): // logged by host.Validate
		e = newError(c.svc, kindUnavailable, "%v", err)
	default:
		c.s.log.Error("request failed", "op", c.op.ID, "request_id", c.requestID, "err", err)
		e = newError(c.svc, kindInternal, "internal error (request id %s)", c.requestID)
	}
	if e.Status == http.StatusUnauthorized {
		c.w.Header().Set("WWW-Authenticate", edge.Challenge(c.svc))
	}
	c.write(e.Status, edge.Body(c.svc, e, c.requestID))
}
