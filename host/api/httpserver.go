package api

import (
	"net/http"
	"time"
)

// Timeouts are the net/http server limits that bound slow clients.
type Timeouts struct {
	ReadHeader time.Duration // the request line and headers (slowloris)
	Read       time.Duration // the whole request, body included
	Write      time.Duration
	Idle       time.Duration // keep-alive between requests
}

// DefaultTimeouts bound slow clients (slowloris) without cutting off a
// 1,000-device batch on a slow link. `onboard serve` uses them.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 60 * time.Second,
	Write: 60 * time.Second, Idle: 120 * time.Second}

// MaxHeaderBytes bounds the request line and headers (net/http answers 431
// beyond it).
const MaxHeaderBytes = 64 << 10

// NewHTTPServer returns the *http.Server `onboard serve` runs h with, so
// that tests exercise the same limits (with shorter timeouts).
func NewHTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Write, IdleTimeout: t.Idle, MaxHeaderBytes: MaxHeaderBytes}
}
