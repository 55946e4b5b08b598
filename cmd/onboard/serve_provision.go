package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/store"
)

// provisionOpts are serve's settings of the zero-touch provisioning
// listener (host/provision), which runs only when an address is given.
type provisionOpts struct {
	addr, certFile, keyFile *string
}

func provisionFlags(fs *flag.FlagSet) provisionOpts {
	return provisionOpts{
		addr: fs.String("provision-addr", "", "also listen on HOST:PORT with mutual TLS for IoTDA device self-registration "+
			"(POST /v5/iot/{project_id}/devices/onboard-bootstrap; env ONBOARD_PROVISION_ADDR; default off)"),
		certFile: fs.String("provision-cert", "", "PEM server certificate of the provisioning listener (default: a self-signed one kept in DATA_DIR)"),
		keyFile:  fs.String("provision-key", "", "PEM private key of --provision-cert"),
	}
}

// start serves the provisioning listener when configured; its Serve error
// goes to errc. It returns nil when provisioning is off.
func (o provisionOpts) start(ctx context.Context, dataDir string, engine provision.Validator, st store.Store, hooks provision.HookRunner,
	log *slog.Logger, stdout io.Writer, errc chan<- error) (*http.Server, error) {
	addr := *o.addr
	if addr == "" {
		addr = os.Getenv("ONBOARD_PROVISION_ADDR")
	}
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cert, fingerprint, err := provision.LoadServerCert(*o.certFile, *o.keyFile, dataDir, []string{host})
	if err != nil {
		return nil, err
	}
	p, err := provision.New(provision.Config{Engine: engine, Store: st, Logger: log, Hooks: hooks})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: p, TLSConfig: provision.TLSConfig(cert), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	fmt.Fprintf(stdout, "onboard provisioning (mutual TLS) on https://%s (server certificate SHA-256 %s)\n", ln.Addr(), fingerprint)
	go func() { errc <- hs.Serve(tls.NewListener(ln, hs.TLSConfig)) }()
	return hs, nil
}
