// Package onboardcaddy is onboard as a Caddy v2 HTTP handler module,
// http.handlers.onboard, with the Caddyfile directive `onboard`:
//
//	onboard {
//		database_url   /var/lib/onboard/onboard.db   # or postgres://…, memory:
//		encryption_key {env.ONBOARD_ENCRYPTION_KEY} # base64 of 32 bytes
//		body_limit     1MiB                         # optional
//		max_instances  4                            # optional: engine instance pool
//	}
//
// Requests whose path is one of onboard's operation routes are served by
// onboard (auth, validation by the Wasm engine, storage); every other
// request goes to the next handler. Unset settings fall back to the
// environment of `onboard serve` (ONBOARD_DATABASE_URL,
// ONBOARD_ENCRYPTION_KEY), so `onboard token create` with the same
// settings issues credentials this handler accepts.
//
// It lives in its own module so that Caddy's dependencies stay out of
// onboard's core module, and it only adapts host/gateway to Caddy's module
// lifecycle: it must not hold API logic.
package onboardcaddy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/gateway"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("onboard", parseCaddyfile)
	// After authentication (basic_auth, forward_auth) and encode, before
	// the routing and responding directives (handle, route, respond,
	// reverse_proxy, file_server): onboard's routes are onboard's, and
	// everything else falls through to them.
	httpcaddyfile.RegisterDirectiveOrder("onboard", httpcaddyfile.Before, "invoke")
}

// Handler is the http.handlers.onboard module. Its exported fields are its
// JSON config.
type Handler struct {
	// DatabaseURL: a SQLite file path, postgres://…, or memory:. Default:
	// $ONBOARD_DATABASE_URL. Placeholders such as {env.X} are replaced.
	DatabaseURL string `json:"database_url,omitempty"`
	// EncryptionKey: base64 of the 32-byte key that seals secrets at rest
	// (not needed for memory:). Default: $ONBOARD_ENCRYPTION_KEY. Every
	// host sharing a database must use the same key.
	EncryptionKey string `json:"encryption_key,omitempty"`
	// BodyLimit caps request bodies in bytes (413 beyond); 0: 1 MiB. An
	// operation with a catalogue body_limit (EnOS batchCreate: 4 MiB)
	// gets the larger of the two.
	BodyLimit int64 `json:"body_limit,omitempty"`
	// MaxInstances bounds the engine's instance pool; 0: host's default.
	MaxInstances int `json:"max_instances,omitempty"`
	// InvocationTimeout: a CES task not reported on for this long becomes
	// TIMEOUT; 0: 30 minutes (api.DefaultInvocationTimeout).
	InvocationTimeout caddy.Duration `json:"invocation_timeout,omitempty"`
	// IdempotencyRetention: how long a stored Idempotency-Key response is
	// replayed; 0: 24 hours (api.DefaultIdempotencyRetention).
	IdempotencyRetention caddy.Duration `json:"idempotency_retention,omitempty"`

	url string // resolved settings
	key []byte
	gw  *gateway.Handler
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.onboard",
		New: func() caddy.Module { return new(Handler) },
	}
}

// resolve fills the settings from placeholders and the environment, and
// checks them.
func (h *Handler) resolve() error {
	repl := caddy.NewReplacer()
	h.url = repl.ReplaceAll(h.DatabaseURL, "")
	if h.url == "" {
		h.url = os.Getenv("ONBOARD_DATABASE_URL")
	}
	keyText := repl.ReplaceAll(h.EncryptionKey, "")
	if keyText == "" {
		keyText = os.Getenv("ONBOARD_ENCRYPTION_KEY")
	}
	var errs []error
	if h.url == "" {
		errs = append(errs, errors.New("database_url is required (a SQLite file path, postgres://…, or memory:), or set ONBOARD_DATABASE_URL"))
	}
	h.key = nil
	if keyText != "" {
		k, err := base64.StdEncoding.DecodeString(keyText)
		if err != nil || len(k) != 32 {
			errs = append(errs, errors.New("encryption_key must be the base64 of 32 bytes (openssl rand -base64 32)"))
		}
		h.key = k
	} else if h.url != "" && h.url != "memory:" {
		errs = append(errs, errors.New("encryption_key is required with a SQLite or PostgreSQL database (base64 of 32 bytes), or set ONBOARD_ENCRYPTION_KEY"))
	}
	if h.BodyLimit < 0 {
		errs = append(errs, fmt.Errorf("body_limit must not be negative, got %d", h.BodyLimit))
	}
	if h.MaxInstances < 0 {
		errs = append(errs, fmt.Errorf("max_instances must not be negative, got %d", h.MaxInstances))
	}
	if h.InvocationTimeout < 0 {
		errs = append(errs, fmt.Errorf("invocation_timeout must not be negative, got %s", time.Duration(h.InvocationTimeout)))
	}
	if h.IdempotencyRetention < 0 {
		errs = append(errs, fmt.Errorf("idempotency_retention must not be negative, got %s", time.Duration(h.IdempotencyRetention)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	return nil
}

// Provision opens the store and creates the engine runtime. The runtime
// shares the process's compilation cache (host keeps one per cache
// directory), so the handler Caddy provisions on a config reload, while
// the old one still serves, compiles nothing again.
func (h *Handler) Provision(ctx caddy.Context) error {
	if err := h.resolve(); err != nil {
		return err
	}
	var engineOpts []host.Option
	if h.MaxInstances > 0 {
		engineOpts = append(engineOpts, host.WithMaxInstances(h.MaxInstances))
	}
	gw, err := gateway.New(ctx, gateway.WithDatabaseURL(h.url, h.key), gateway.WithEngineOptions(engineOpts...),
		gateway.WithBodyLimit(h.BodyLimit), gateway.WithLogger(ctx.Slogger()),
		gateway.WithInvocationTimeout(time.Duration(h.InvocationTimeout)), gateway.WithIdempotencyRetention(time.Duration(h.IdempotencyRetention)))
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	h.gw = gw
	return nil
}

// Validate checks the provisioned handler.
func (h *Handler) Validate() error {
	if h.gw == nil {
		return errors.New("onboard: not provisioned")
	}
	return nil
}

// Cleanup closes the runtime and the store Provision opened, so that
// config reloads leak neither file handles, database connections nor
// engine instances. Caddy calls it once the old config stops serving, and
// also after a failed Provision.
func (h *Handler) Cleanup() error {
	if h.gw == nil {
		return nil
	}
	err := h.gw.Close(context.Background())
	h.gw = nil
	return err
}

// ServeHTTP serves onboard's operation routes and passes every other
// request to next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.gw.Owns(r) {
		h.gw.ServeHTTP(w, r)
		return nil
	}
	return next.ServeHTTP(w, r)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	onboard [<database_url>] {
//		database_url   <url>
//		encryption_key <base64>
//		body_limit     <size>
//		max_instances  <n>
//		invocation_timeout    <duration>
//		idempotency_retention <duration>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		h.DatabaseURL = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		name := d.Val()
		var val string
		if !d.Args(&val) {
			return d.ArgErr()
		}
		if d.NextArg() {
			return d.Errf("%s takes one argument", name)
		}
		switch name {
		case "database_url":
			h.DatabaseURL = val
		case "encryption_key":
			h.EncryptionKey = val
		case "body_limit":
			n, err := humanize.ParseBytes(val)
			if err != nil || n > 1<<40 {
				return d.Errf("body_limit: %q is not a size such as 1048576 or 1MiB", val)
			}
			h.BodyLimit = int64(n)
		case "max_instances":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return d.Errf("max_instances: %q is not a positive integer", val)
			}
			h.MaxInstances = n
		case "invocation_timeout", "idempotency_retention":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("%s: %q is not a positive duration such as 30m or 24h", name, val)
			}
			if name == "invocation_timeout" {
				h.InvocationTimeout = caddy.Duration(dur)
			} else {
				h.IdempotencyRetention = caddy.Duration(dur)
			}
		default:
			return d.Errf("unknown onboard setting %q (known: database_url, encryption_key, body_limit, max_instances, invocation_timeout, idempotency_retention)", strings.TrimSpace(name))
		}
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return &m, err
}

// Interface guards.
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
