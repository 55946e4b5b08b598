// Package gateway mounts onboard in any Go HTTP stack: New returns an
// http.Handler serving the five registration APIs, built from options
// (store, engine, body limit, logger), and a Close that releases what New
// opened.
//
// It is a thin assembly of host (the Wasm engine runtime), host/store and
// host/api (the HTTP service) for embedders such as the Caddy module in
// host/caddy. It must not hold API, auth or validation logic of its
// own: routes, errors and rules stay in host/api and the engine. Callers
// that only want validation or template resolution use host.Runtime
// directly.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/schemas"
)

// ErrNoStore is returned by New when neither WithStore nor WithDatabaseURL
// is given.
var ErrNoStore = errors.New("gateway: no store: use WithStore, or WithDatabaseURL (\"memory:\", a SQLite path or a postgres:// URL)")

type config struct {
	store     store.Store
	dbURL     string
	dbKey     []byte
	dbSet     bool
	engine    *host.Runtime
	engineOpt []host.Option
	bodyLimit int64
	logger    *slog.Logger
	// sweeps are the store clean-ups New starts (api.RunSweeps).
	sweeps api.Sweeps
}

// Option configures New.
type Option func(*config)

// WithStore serves from st. The caller keeps ownership: Close does not
// close it.
func WithStore(st store.Store) Option { return func(c *config) { c.store = st } }

// WithDatabaseURL makes New open the store itself (stores.Open): "memory:",
// a SQLite file path, or a postgres:// URL. key is the 32-byte key that
// seals secrets at rest (required by SQLite and PostgreSQL; hosts sharing a
// database must share it). Close closes this store.
func WithDatabaseURL(url string, key []byte) Option {
	return func(c *config) { c.dbURL, c.dbKey, c.dbSet = url, key, true }
}

// WithEngine serves with rt, a runtime the caller created (and may share
// with other handlers or use directly for validation). The caller keeps
// ownership: Close does not close it. Without it, New creates a runtime
// with host.New and the options of WithEngineOptions, and Close closes it.
func WithEngine(rt *host.Runtime) Option { return func(c *config) { c.engine = rt } }

// WithEngineOptions are passed to host.New when New creates the runtime
// (that is, without WithEngine). host.New already shares compiled code
// between runtimes of one process that use the same compilation cache
// directory, so a handler rebuilt on a config reload compiles nothing.
func WithEngineOptions(opts ...host.Option) Option {
	return func(c *config) { c.engineOpt = append(c.engineOpt, opts...) }
}

// WithBodyLimit caps request bodies in bytes (larger ones get 413); 0
// keeps api.DefaultBodyLimit. An operation with a catalogue body_limit
// (EnOS batchCreate) gets the larger of the two.
func WithBodyLimit(n int64) Option { return func(c *config) { c.bodyLimit = n } }

// WithInvocationTimeout sets how long a CES agent task may go without a
// report before the handler's sweep turns it into TIMEOUT
// (api.SweepInvocations); default api.DefaultInvocationTimeout. The sweep
// runs from New until Close.
func WithInvocationTimeout(d time.Duration) Option {
	return func(c *config) { c.sweeps.InvocationTimeout = d }
}

// WithIdempotencyRetention sets how long a stored Idempotency-Key response
// is replayed before the handler's sweep deletes it
// (api.SweepIdempotency); default api.DefaultIdempotencyRetention. The
// sweep runs from New until Close.
func WithIdempotencyRetention(d time.Duration) Option {
	return func(c *config) { c.sweeps.IdempotencyRetention = d }
}

// WithLogger receives the service's logs (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Handler serves onboard's APIs. It is an http.Handler whose routes are the
// absolute API paths (/v3/{project_id}/agents, /connect-service/v2.4/devices,
// …), as the official SDKs send them: mount it where those paths arrive
// unchanged (the root of a server or of a virtual host), not under a
// stripped prefix.
type Handler struct {
	srv    *api.Server
	routes *http.ServeMux // onboard's operation paths, any method, for Owns
	owned  []func(context.Context) error
	once   sync.Once
	err    error
}

// New builds the handler. It opens the store (WithDatabaseURL) and creates
// the engine runtime (without WithEngine) when not given them; on error it
// releases whatever it opened.
func New(ctx context.Context, opts ...Option) (_ *Handler, err error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	h := &Handler{}
	defer func() {
		if err != nil {
			_ = h.Close(context.WithoutCancel(ctx))
		}
	}()
	st := c.store
	switch {
	case st != nil && c.dbSet:
		return nil, errors.New("gateway: WithStore and WithDatabaseURL are exclusive")
	case st == nil && !c.dbSet:
		return nil, ErrNoStore
	case st == nil:
		if st, err = stores.Open(ctx, store.Config{URL: c.dbURL, EncryptionKey: c.dbKey}); err != nil {
			return nil, fmt.Errorf("gateway: store: %w", err)
		}
		h.owned = append(h.owned, st.Close)
	}
	rt := c.engine
	if rt == nil {
		if rt, err = host.New(ctx, c.engineOpt...); err != nil {
			return nil, fmt.Errorf("gateway: engine: %w", err)
		}
		h.owned = append(h.owned, rt.Close)
	} else if len(c.engineOpt) > 0 {
		return nil, errors.New("gateway: WithEngineOptions has no effect with WithEngine: configure the runtime you pass")
	}
	if h.srv, err = api.New(api.Config{Engine: rt, Store: st, BodyLimit: c.bodyLimit, Logger: c.logger}); err != nil {
		return nil, err
	}
	if h.routes, err = operationRoutes(h.srv.Operations()); err != nil {
		return nil, err
	}
	// The store's sweeps (CES task timeouts, expired idempotency
	// records), stopped first by Close (owned closes newest first), before
	// the store they write to.
	sweep, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	c.sweeps.Log = c.logger // nil discards, as the service's logs
	go func() {
		defer close(done)
		api.RunSweeps(sweep, st, c.sweeps)
	}()
	h.owned = append(h.owned, func(context.Context) error { stop(); <-done; return nil })
	return h, nil
}

// operationRoutes matches the paths of the served operations whatever the
// method, so that a wrong method on an onboard path still gets onboard's
// answer rather than another handler's.
func operationRoutes(served []string) (mux *http.ServeMux, err error) {
	mux = http.NewServeMux()
	defer func() {
		if p := recover(); p != nil { // ServeMux panics on conflicting patterns
			mux, err = nil, fmt.Errorf("gateway: operation routes: %v", p)
		}
	}()
	seen := map[string]bool{}
	for _, id := range served {
		op, ok := schemas.Lookup(id)
		if !ok || seen[op.Route] {
			continue
		}
		seen[op.Route] = true
		mux.Handle(op.Route, http.NotFoundHandler())
	}
	return mux, nil
}

// ServeHTTP serves r as onboard's HTTP service (host/api) does: operation
// routes, its service endpoints (GET /healthz, GET /metrics), and
// onboard-style errors for anything else (405 on a served path, else 404).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.srv.ServeHTTP(w, r) }

// Owns reports whether r's path is one of onboard's operation routes (any
// method). A gateway that shares its URL space with other handlers serves
// r with h when Owns is true and passes it on otherwise; the service
// endpoints (/healthz, /metrics) and unknown paths are not onboard's there.
func (h *Handler) Owns(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/") {
		return false
	}
	// ServeMux.Handler matches on the method too; ask with one every
	// pattern accepts (they are registered without a method).
	probe := &http.Request{Method: http.MethodGet, URL: r.URL, Host: r.Host}
	_, pattern := h.routes.Handler(probe)
	return pattern != ""
}

// Operations lists the operation ids the handler serves.
func (h *Handler) Operations() []string { return h.srv.Operations() }

// Close releases what New opened (the store of WithDatabaseURL, the
// runtime it created), never what it was given. Requests still in flight
// fail; drain them first (http.Server.Shutdown). Calling Close again
// returns the first result.
func (h *Handler) Close(ctx context.Context) error {
	h.once.Do(func() {
		var errs []error
		// Newest first: the runtime, then the store.
		for i := len(h.owned) - 1; i >= 0; i-- {
			errs = append(errs, h.owned[i](ctx))
		}
		h.err = errors.Join(errs...)
	})
	return h.err
}
