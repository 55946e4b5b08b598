package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// The observer around every request: one access log line and the request
// metrics. What it logs is chosen field by field from the call's
// authenticated identity, never from the request itself beyond method and
// path: no body, no query string, no header (so no token, signature,
// password or device secret can reach the log).

// requestInfo is what a request's handler tells the observer about itself.
type requestInfo struct {
	c *call // nil for routes that are not operations (/healthz, /metrics…)
}

type requestInfoKey struct{}

// track attaches the call to the observer of its request.
func track(r *http.Request, c *call) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.c = c
	}
}

// statusRecorder remembers the status and counts the bytes written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe serves r with next, then logs and measures it.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	next.ServeHTTP(rec, r)
	d := time.Since(start)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	op := routeLabel(r.URL.Path)
	if c := info.c; c != nil {
		op = c.op.ID
		if op == "" {
			op = "unmatched"
		}
	}
	s.metrics.observeRequest(op, rec.status, d)

	// Probes and scrapes arrive every few seconds: debug level keeps them
	// out of an info-level log.
	level := slog.LevelInfo
	if info.c == nil && op != "unmatched" {
		level = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	if c := info.c; c != nil {
		attrs = append(attrs, slog.String("request_id", c.requestID))
	}
	attrs = append(attrs, slog.String("op", op), slog.String("method", r.Method), slog.String("path", r.URL.Path))
	if c := info.c; c != nil {
		if c.project != "" {
			attrs = append(attrs, slog.String("project", c.project))
		}
		if c.org != "" {
			attrs = append(attrs, slog.String("org", c.org))
		}
		if c.account != "" {
			attrs = append(attrs, slog.String("account", c.account))
		}
	}
	attrs = append(attrs, slog.Int("status", rec.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes_in", max(r.ContentLength, 0)), slog.Int64("bytes_out", rec.bytes))
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// routeLabel names the routes that are not operations; anything else is
// "unmatched", so a scan of random paths cannot grow the label set.
func routeLabel(path string) string {
	switch path {
	case "/healthz":
		return "healthz"
	case "/readyz":
		return "readyz"
	case "/metrics":
		return "metrics"
	case "/openapi.json":
		return "openapi"
	case "/docs":
		return "docs"
	}
	return "unmatched"
}
