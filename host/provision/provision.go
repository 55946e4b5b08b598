// Package provision is IoTDA zero-touch provisioning over mutual TLS: a
// device that nobody registered connects with a certificate issued by one
// of the project's device CA certificates, and onboard registers it from
// the pre-provisioning template bound to that CA.
//
// It holds an http.Handler for the device-facing bootstrap call
// (POST /v5/iot/{project_id}/devices/onboard-bootstrap, an onboard
// extension: IoTDA devices self-register on their first MQTT connect, which
// onboard does not speak), the tls.Config for its listener, and the x509
// checks that the operator API (host/api) shares for device CA upload and
// verification.
//
// The TLS layer only requests a client certificate; the chain is verified
// here, per request, against the CAs of the project named in the path. The
// template is resolved by the engine (iotda.provisioning-template.resolve),
// never re-implemented here. The package must not serve the operator API
// nor mint certificates for devices.
package provision

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/hooks"
	"github.com/onboardhq/onboard/host/store"
)

// Route is the bootstrap call a device makes over mutual TLS.
const Route = "POST /v5/iot/{project_id}/devices/onboard-bootstrap"

// paramsOp is the catalogue operation whose parameter schema checks the
// bootstrap's parameters (project_id, the Instance-Id header): the device
// CA list shares their rules, so the engine stays the one owner of them.
const paramsOp = "iotda.device-ca.list"

const instanceHeader = "Instance-Id"

// iotdaTime is IoTDA's yyyyMMdd'T'HHmmss'Z'.
const iotdaTime = "20060102T150405Z"

// Validator is the engine: *host.Runtime or *host.Reloadable.
type Validator = host.Validator

// ProductChecker reports whether productID exists in the scope. IoTDA
// products are not a resource of onboard, so by default every product id
// that meets the template's static product_id rule is accepted; a host that
// knows its products sets Config.Products and unknown ones are refused.
type ProductChecker func(ctx context.Context, projectID, instanceID, productID string) (bool, error)

// HookRunner runs registration hooks (host/hooks.Runner): it may deny a
// device or patch the resolved device with a JSON merge patch.
type HookRunner interface {
	Before(ctx context.Context, req abi.HookRequest) (patched json.RawMessage, err error)
}

// Config configures a Provisioner. Engine and Store are required.
type Config struct {
	Engine   Validator
	Store    store.Store
	Products ProductChecker // optional; nil accepts every valid product id
	Hooks    HookRunner     // optional: operators' before-provision plug-ins
	Logger   *slog.Logger
	Now      func() time.Time
}

// Provisioner registers devices from their certificates. It is an
// http.Handler serving Route; it is safe for concurrent use.
type Provisioner struct {
	cfg Config
	mux *http.ServeMux

	caCache sync.Map // PEM text → *x509.CertPool holding that CA alone (CA PEMs never change)

	// The engine's verdicts on the bootstrap's parameters: a fleet's
	// devices send the same project and Instance-Id, and asking the
	// engine again gives the same answer.
	paramsMu       sync.Mutex
	paramsEngine   *host.Runtime // the engine the verdicts are from (a reload empties them)
	paramsAccepted map[string]bool

	registrations atomic.Int64 // devices created
	engineNanos   atomic.Int64 // time spent in the engine's resolve calls
	engineCalls   atomic.Int64
}

// New returns a Provisioner.
func New(cfg Config) (*Provisioner, error) {
	if cfg.Engine == nil || cfg.Store == nil {
		return nil, errors.New("provision: Config.Engine and Config.Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provisioner{cfg: cfg, mux: http.NewServeMux()}
	p.mux.HandleFunc(Route, p.bootstrap)
	p.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	p.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "IOTDA.014000",
			Message: fmt.Sprintf("no operation serves %s %s on the provisioning listener: devices call %s", r.Method, r.URL.Path, Route)})
	})
	return p, nil
}

func (p *Provisioner) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// TLSConfig is the listener's configuration: the server certificate, TLS
// 1.2 or later, and a request (not a demand) for the client certificate,
// which the handler verifies against the project's CAs. A handshake without
// one succeeds and gets a 401 that says why.
func TLSConfig(serverCert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// Stats are counters for monitoring and benchmarks.
type Stats struct {
	Registrations int64         // devices created
	EngineCalls   int64         // template resolutions
	EngineTime    time.Duration // total time in the engine's resolve calls
}

// Stats returns the counters so far.
func (p *Provisioner) Stats() Stats {
	return Stats{Registrations: p.registrations.Load(), EngineCalls: p.engineCalls.Load(),
		EngineTime: time.Duration(p.engineNanos.Load())}
}

// Error is a bootstrap failure: status, IoTDA-style code and a message
// that says what to fix. Err is the sentinel for errors.Is.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }
func (e *Error) Unwrap() error { return e.Err }

// Sentinels of Register's failures (besides the certificate ones).
var (
	ErrUnknownCA       = errors.New("no device CA certificate of the project issued the certificate")
	ErrRevoked         = errors.New("device certificate revoked")
	ErrCANotVerified   = errors.New("device CA certificate not verified")
	ErrNotEnabled      = errors.New("provisioning disabled for the device CA certificate")
	ErrNoTemplate      = errors.New("no pre-provisioning template bound")
	ErrTemplate        = errors.New("the template does not resolve for this certificate")
	ErrUnknownProduct  = errors.New("product does not exist")
	ErrHookDenied      = errors.New("a registration hook denied the device")
	ErrHookFailed      = errors.New("a registration hook failed")
	ErrNodeIDTaken     = errors.New("node id registered under another product")
	ErrInvalidRequest  = errors.New("invalid request")
	ErrEngineUnhealthy = errors.New("engine unavailable")
)

func fail(status int, code string, sentinel error, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Err: sentinel, Message: fmt.Sprintf(format, args...)}
}

// Codes follow host/api's IoTDA code book; 401 has a code of its own
// because the API gateway's APIGW.0301 is about API credentials, not
// device certificates.
const (
	codeInvalid   = "IOTDA.000006"
	codeCert      = "IOTDA.000401"
	codeForbidden = "IOTDA.000004"
	codeConflict  = "IOTDA.014006"
	codeInternal  = "IOTDA.000500"
	codeEngine    = "IOTDA.000503"
)

// Registration is the outcome of one bootstrap.
type Registration struct {
	Device        *store.IoTDADevice
	Created       bool // false: the device existed (a repeated connect)
	CertificateID string
	TemplateID    string
}

// Register verifies a device's certificate chain (leaf first, as TLS
// presents it) against the device CAs of (project, instance) and registers
// the device the bound template resolves to. A device that is already
// registered gets its existing record (Created false). Every failure is an
// *Error and writes nothing.
func (p *Provisioner) Register(ctx context.Context, projectID, instanceID string, chain []*x509.Certificate) (*Registration, error) {
	if len(chain) == 0 {
		return nil, fail(http.StatusUnauthorized, codeCert, ErrNoClientCrt,
			"no client certificate: connect over TLS presenting the device certificate issued by your device CA")
	}
	now := p.cfg.Now()
	leaf := chain[0]
	if err := checkValidity("device certificate", leaf, now); err != nil {
		return nil, fail(http.StatusUnauthorized, codeCert, ErrExpired, "%v; issue the device a new certificate", err)
	}
	ca, verified, err := p.issuingCA(ctx, projectID, instanceID, chain, now)
	if err != nil {
		return nil, err
	}
	switch {
	case !ca.Verified:
		return nil, fail(http.StatusForbidden, codeForbidden, ErrCANotVerified,
			"device CA certificate %s is not verified: verify it (POST …/certificates/%s/action?action_id=verify) before its devices can connect", ca.ID, ca.ID)
	case !ca.ProvisionEnable:
		return nil, fail(http.StatusForbidden, codeForbidden, ErrNotEnabled,
			"device CA certificate %s has provisioning disabled: set provision_enable to true (PUT …/certificates/%s)", ca.ID, ca.ID)
	case ca.TemplateID == "":
		return nil, fail(http.StatusForbidden, codeForbidden, ErrNoTemplate,
			"device CA certificate %s has no pre-provisioning template bound (a template takes effect only once bound): set template_id (PUT …/certificates/%s)", ca.ID, ca.ID)
	}
	if revoked := revokedIn(verified, ca.RevokedSerials); revoked != nil {
		what := "device certificate"
		if revoked != leaf {
			what = fmt.Sprintf("intermediate CA certificate %q, which issued the device certificate,", revoked.Subject.CommonName)
		}
		return nil, fail(http.StatusUnauthorized, codeCert, ErrRevoked,
			"%s with serial %s is revoked by device CA certificate %s", what, SerialHex(revoked), ca.ID)
	}
	tpl, err := p.cfg.Store.GetTemplate(ctx, projectID, instanceID, ca.TemplateID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(http.StatusForbidden, codeForbidden, ErrNoTemplate,
			"device CA certificate %s is bound to pre-provisioning template %s, which no longer exists: bind an existing template", ca.ID, ca.TemplateID)
	}
	if err != nil {
		return nil, fmt.Errorf("provision: template %s: %w", ca.TemplateID, err)
	}
	subject := Subject(leaf)
	dev, err := p.resolveStored(ctx, tpl, subject)
	if err != nil {
		return nil, err
	}
	if dev, err = p.runHooks(ctx, projectID, dev, subject); err != nil {
		return nil, err
	}
	if p.cfg.Products != nil {
		ok, err := p.cfg.Products(ctx, projectID, instanceID, dev.ProductID)
		if err != nil {
			return nil, fmt.Errorf("provision: product check: %w", err)
		}
		if !ok {
			return nil, fail(http.StatusBadRequest, codeInvalid, ErrUnknownProduct,
				"product %s (from template %s) does not exist in project %s: create the product or fix the template", dev.ProductID, tpl.ID, projectID)
		}
	}
	d := &store.IoTDADevice{ProjectID: projectID, InstanceID: instanceID, NodeID: dev.NodeID, DeviceName: dev.DeviceName,
		ProductID: dev.ProductID, PolicyIDs: dev.PolicyIDs}
	for _, t := range dev.Tags {
		d.Tags = append(d.Tags, store.Tag{Key: t.Key, Value: t.Value})
	}
	reg := &Registration{Device: d, Created: true, CertificateID: ca.ID, TemplateID: tpl.ID}
	// Create first: a fleet's devices are mostly new, and looking up
	// each one before creating it cost two more store round trips (a
	// count and a select) per registration. A device that exists (a
	// repeated connect, or a concurrent one that won the race) conflicts,
	// and only then is it looked up.
	if err := p.cfg.Store.CreateIoTDADevice(ctx, d); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("provision: create device: %w", err)
		}
		existing, err := p.existing(ctx, d)
		if err != nil {
			return nil, err
		}
		if existing == nil {
			return nil, fail(http.StatusConflict, codeConflict, ErrNodeIDTaken, "device %s already exists", d.NodeID)
		}
		reg.Device, reg.Created = existing, false
		return reg, nil
	}
	p.registrations.Add(1)
	return reg, nil
}

// existing returns the registered device with d's node id, nil when there
// is none, or an error when the node id belongs to another product.
func (p *Provisioner) existing(ctx context.Context, d *store.IoTDADevice) (*store.IoTDADevice, error) {
	found, _, err := p.cfg.Store.ListIoTDADevices(ctx, store.IoTDADeviceFilter{ProjectID: d.ProjectID, InstanceID: d.InstanceID,
		NodeID: d.NodeID, Page: store.Page{Limit: 1, NoTotal: true}})
	if err != nil {
		return nil, fmt.Errorf("provision: look up device: %w", err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	if found[0].ProductID != d.ProductID {
		return nil, fail(http.StatusConflict, codeConflict, ErrNodeIDTaken,
			"node id %s is already registered as device %s of product %s; this certificate resolves to product %s",
			d.NodeID, found[0].DeviceID, found[0].ProductID, d.ProductID)
	}
	return &found[0], nil
}

// revokedIn returns a revoked certificate of the verified chains, or nil
// when one chain holds none. Revoking an intermediate CA's serial stops
// every device under it: checking the leaf alone let them all keep
// registering. A chain's serials are matched against the one list of the
// device CA it ends in (onboard-revoke takes serials, not issuers).
func revokedIn(chains [][]*x509.Certificate, serials []string) *x509.Certificate {
	if len(serials) == 0 {
		return nil
	}
	var first *x509.Certificate
	for _, chain := range chains {
		var revoked *x509.Certificate
		for _, c := range chain {
			if slices.Contains(serials, SerialHex(c)) {
				revoked = c
				break
			}
		}
		if revoked == nil {
			return nil // a path without a revoked certificate
		}
		if first == nil {
			first = revoked
		}
	}
	return first
}

// issuingCA finds the device CA of the scope that issued the chain, and
// the chains x509 verified to it (leaf first, the CA last). When several
// did (the same CA uploaded twice), one set up for provisioning is
// preferred so that a stale copy does not shadow it.
func (p *Provisioner) issuingCA(ctx context.Context, projectID, instanceID string, chain []*x509.Certificate, now time.Time) (*store.DeviceCA, [][]*x509.Certificate, error) {
	cas, err := p.candidateCAs(ctx, projectID, instanceID, chain)
	if err != nil {
		return nil, nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	var best *store.DeviceCA
	var bestChains [][]*x509.Certificate
	for i := range cas {
		ca := &cas[i]
		roots, err := p.caRoots(ca.CertPEM)
		if err != nil {
			p.cfg.Logger.Warn("stored device CA does not parse", "certificate_id", ca.ID, "err", err)
			continue
		}
		chains, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			continue
		}
		if best == nil || (!ready(best) && ready(ca)) {
			best, bestChains = ca, chains
		}
	}
	if best == nil {
		scope := "project " + projectID
		if instanceID != "" {
			scope += ", instance " + instanceID
		}
		return nil, nil, fail(http.StatusUnauthorized, codeCert, ErrUnknownCA,
			"the device certificate (issuer %q) does not chain to any device CA certificate of %s, or is not valid for client authentication: upload and verify its CA first",
			chain[0].Issuer.CommonName, scope)
	}
	return best, bestChains, nil
}

// candidateCAs are the device CAs of the scope that may end a path from
// the leaf: the CA is the issuer of the leaf or of a certificate the
// device sent with it, so its common name is one of their issuers'. Each
// is one index seek, not a read of every CA of the scope.
func (p *Provisioner) candidateCAs(ctx context.Context, projectID, instanceID string, chain []*x509.Certificate) ([]store.DeviceCA, error) {
	var out []store.DeviceCA
	seen := map[string]bool{}
	for _, c := range chain {
		cn := c.Issuer.CommonName
		if seen["cn:"+cn] {
			continue
		}
		seen["cn:"+cn] = true
		// An issuer without a common name matches every CA of the scope.
		cas, _, err := p.cfg.Store.ListDeviceCAs(ctx, store.DeviceCAFilter{ProjectID: projectID, InstanceID: instanceID,
			CommonName: cn, Page: store.Page{NoTotal: true}})
		if err != nil {
			return nil, fmt.Errorf("provision: look up device CAs: %w", err)
		}
		for _, ca := range cas {
			if !seen["id:"+ca.ID] {
				seen["id:"+ca.ID] = true
				out = append(out, ca)
			}
		}
	}
	return out, nil
}

func ready(ca *store.DeviceCA) bool { return ca.Verified && ca.ProvisionEnable && ca.TemplateID != "" }

// caRoots is the pool of roots that holds the stored device CA alone.
func (p *Provisioner) caRoots(pemText string) (*x509.CertPool, error) {
	if roots, ok := p.caCache.Load(pemText); ok {
		return roots.(*x509.CertPool), nil
	}
	c, err := ParseCertificatePEM(pemText)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)
	p.caCache.Store(pemText, roots)
	return roots, nil
}

// runHooks gives the operators' before-provision hooks the resolved device
// and the certificate fields. A deny is 403 with the hook's reason; a patch
// is resolved by the engine again, because a hook cannot be trusted to keep
// the template rules (product_id ≤36 characters, tag charsets, …).
func (p *Provisioner) runHooks(ctx context.Context, projectID string, dev *abi.Device, subject map[string]string) (*abi.Device, error) {
	if p.cfg.Hooks == nil {
		return dev, nil
	}
	patched, err := p.cfg.Hooks.Before(ctx, abi.HookRequest{Hook: abi.BeforeProvision, Operation: bootstrapOperation,
		Project: projectID, Device: dev, Certificate: subject})
	var denied *hooks.DeniedError
	switch {
	case errors.As(err, &denied):
		return nil, fail(http.StatusForbidden, codeForbidden, ErrHookDenied, "%s", denied.Error())
	case err != nil:
		p.cfg.Logger.Error("registration hook failed", "op", bootstrapOperation, "err", err)
		return nil, fail(http.StatusServiceUnavailable, codeEngine, ErrHookFailed, "a registration hook failed on this device: %v", err)
	case patched == nil:
		return dev, nil
	}
	var next abi.Device
	if err := json.Unmarshal(patched, &next); err != nil {
		return nil, fail(http.StatusServiceUnavailable, codeEngine, ErrHookFailed, "a registration hook returned a device that is not JSON: %v", err)
	}
	return p.recheck(ctx, &next)
}

// recheck resolves a device again through a template that reproduces it:
// node_id and device_name can only be references, so they come from the
// subject; the rest are static values the template rules apply to.
func (p *Provisioner) recheck(ctx context.Context, d *abi.Device) (*abi.Device, error) {
	tags := make([]map[string]string, 0, len(d.Tags))
	for _, t := range d.Tags {
		tags = append(tags, map[string]string{"tag_key": t.Key, "tag_value": t.Value})
	}
	body := map[string]any{
		"parameters": map[string]any{
			"iotda::certificate::common_name":  map[string]string{"type": "String"},
			"iotda::certificate::organization": map[string]string{"type": "String"},
		},
		"resources": map[string]any{
			"device": map[string]any{
				"node_id":     map[string]string{"ref": "iotda::certificate::common_name"},
				"device_name": map[string]string{"ref": "iotda::certificate::organization"},
				"product_id":  d.ProductID,
				"tags":        tags,
			},
			"policy": map[string]any{"policy_ids": append([]string{}, d.PolicyIDs...)},
		},
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("provision: encode: %w", err)
	}
	return p.resolve(ctx, raw, map[string]string{"CN": d.NodeID, "O": d.DeviceName})
}

// validate runs op on the engine; an engine failure is a 503 *Error.
func (p *Provisioner) validate(ctx context.Context, op string, params, body []byte) (*abi.Result, *Error) {
	res, err := host.Validate(ctx, p.cfg.Engine, p.cfg.Logger, op, params, body)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, codeEngine, ErrEngineUnhealthy, "%v", err)
	}
	return res, nil
}

// bootstrapOperation names the device's self-registration in hook requests.
const bootstrapOperation = "iotda.device.onboard-bootstrap"

// resolveStored resolves a stored template for the subject. The engine
// keeps the template, checked once, under its id and a digest of its body
// (abi.ResolveParams), so a fleet registering from one template sends the
// subject alone; an updated template has another digest and is checked
// and kept anew, and a deleted one never reaches the engine (Register
// refuses it first).
func (p *Provisioner) resolveStored(ctx context.Context, tpl *store.ProvisioningTemplate, subject map[string]string) (*abi.Device, error) {
	digest := sha256.Sum256(tpl.Body)
	params := abi.ResolveParams(tpl.ID+"/"+tpl.ProjectID+"/"+tpl.InstanceID, hex.EncodeToString(digest[:16]))
	start := time.Now()
	defer func() { p.engineNanos.Add(int64(time.Since(start))) }()
	res, failed := p.validate(ctx, abi.OpResolve, params, abi.ResolveSubjectInput(subject))
	if failed == nil && len(res.Violations) == 1 && res.Violations[0].Rule == abi.RuleTemplateNotCompiled {
		// The engine instance that took the call does not hold the
		// template yet.
		whole, err := abi.ResolveInput(tpl.Body, subject)
		if err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		res, failed = p.validate(ctx, abi.OpResolve, params, whole)
	}
	return p.resolution(res, failed)
}

// resolve runs a template body through the engine for the subject.
func (p *Provisioner) resolve(ctx context.Context, body json.RawMessage, subject map[string]string) (*abi.Device, error) {
	in, err := abi.ResolveInput(body, subject)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	start := time.Now()
	res, failed := p.validate(ctx, abi.OpResolve, nil, in)
	p.engineNanos.Add(int64(time.Since(start)))
	return p.resolution(res, failed)
}

// resolution is the device of a resolve call's result, or the error that
// says why there is none.
func (p *Provisioner) resolution(res *abi.Result, failed *Error) (*abi.Device, error) {
	p.engineCalls.Add(1)
	if failed != nil {
		return nil, failed
	}
	if !res.Valid || res.Device == nil {
		msg := ""
		for i, v := range res.Violations {
			if i > 0 {
				msg += "; "
			}
			msg += v.String()
		}
		return nil, fail(http.StatusBadRequest, codeInvalid, ErrTemplate, "the device certificate does not satisfy the pre-provisioning template: %s", msg)
	}
	return res.Device, nil
}

// deviceJSON is the bootstrap response: the IoTDA device fields plus the
// CA and template that registered it.
type deviceJSON struct {
	DeviceID      string    `json:"device_id"`
	NodeID        string    `json:"node_id"`
	DeviceName    string    `json:"device_name"`
	ProductID     string    `json:"product_id"`
	Tags          []abi.Tag `json:"tags"` // IoTDA TagV5DTO: tag_key, tag_value
	PolicyIDs     []string  `json:"policy_ids"`
	CertificateID string    `json:"certificate_id"`
	TemplateID    string    `json:"template_id"`
	CreateTime    string    `json:"create_time"`
}

// bootstrap serves Route.
func (p *Provisioner) bootstrap(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project_id")
	// The path and the Instance-Id header reach the engine as sent, like
	// the operator API's parameters: Instance-Id scopes the store look-ups
	// and is stored with the device.
	instance, once := edge.HeaderOnce(r.Header.Values(instanceHeader))
	if !once {
		writeError(w, fail(http.StatusBadRequest, codeInvalid, ErrInvalidRequest, "header %s is given %d times; give it once", instanceHeader, len(r.Header.Values(instanceHeader))))
		return
	}
	var params edge.Object
	params.Add("project_id", project)
	if instance != "" {
		params.Add(instanceHeader, instance)
	}
	if pb := params.Bytes(); !p.paramsKnownGood(pb) && !p.checkParams(w, r, pb) {
		return
	}
	// The call needs no body (the certificate says everything); whatever
	// is sent is ignored, up to a bound.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
	var chain []*x509.Certificate
	if r.TLS != nil {
		chain = r.TLS.PeerCertificates
	}
	reg, err := p.Register(r.Context(), project, instance, chain)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			p.cfg.Logger.Error("bootstrap failed", "project_id", project, "err", err)
			e = fail(http.StatusInternalServerError, codeInternal, err, "internal error")
		}
		writeError(w, e)
		return
	}
	d := reg.Device
	out := deviceJSON{DeviceID: d.DeviceID, NodeID: d.NodeID, DeviceName: d.DeviceName, ProductID: d.ProductID,
		Tags: []abi.Tag{}, PolicyIDs: d.PolicyIDs, CertificateID: reg.CertificateID, TemplateID: reg.TemplateID,
		CreateTime: d.CreatedAt.UTC().Format(iotdaTime)}
	for _, t := range d.Tags {
		out.Tags = append(out.Tags, abi.Tag{Key: t.Key, Value: t.Value})
	}
	if out.PolicyIDs == nil {
		out.PolicyIDs = []string{}
	}
	status := http.StatusCreated
	if !reg.Created {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}

// checkParams asks the engine about the bootstrap's parameters and
// answers the request when they are refused.
func (p *Provisioner) checkParams(w http.ResponseWriter, r *http.Request, params []byte) bool {
	engine := p.runtime() // before the call: a reload meanwhile must not get its verdict
	res, failed := p.validate(r.Context(), paramsOp, params, nil)
	if failed != nil {
		writeError(w, failed)
		return false
	}
	if !res.Accepted() {
		msg := ""
		for i, v := range res.Violations {
			if i > 0 {
				msg += "; "
			}
			msg += v.Rule + ": " + v.Message // parameters: no pointer into a body
		}
		writeError(w, fail(http.StatusBadRequest, codeInvalid, ErrInvalidRequest, "%s", msg))
		return false
	}
	p.paramsGood(engine, params)
	return true
}

// maxParamsVerdicts bounds the verdicts kept: a scope beyond it is asked
// about again, never answered wrongly.
const maxParamsVerdicts = 1024

// paramsKnownGood reports whether the engine in use accepted params before.
func (p *Provisioner) paramsKnownGood(params []byte) bool {
	engine := p.runtime()
	if engine == nil {
		return false
	}
	p.paramsMu.Lock()
	defer p.paramsMu.Unlock()
	return p.paramsEngine == engine && p.paramsAccepted[string(params)]
}

// paramsGood keeps engine's acceptance of params.
func (p *Provisioner) paramsGood(engine *host.Runtime, params []byte) {
	if engine == nil {
		return
	}
	p.paramsMu.Lock()
	defer p.paramsMu.Unlock()
	if p.paramsEngine != engine || len(p.paramsAccepted) >= maxParamsVerdicts {
		p.paramsEngine, p.paramsAccepted = engine, map[string]bool{}
	}
	p.paramsAccepted[string(params)] = true
}

// runtime is the engine that answers now (a reloadable engine's current
// runtime, which a reload with new schemas replaces), or nil for another
// Validator, whose verdicts are not kept.
func (p *Provisioner) runtime() *host.Runtime {
	switch e := p.cfg.Engine.(type) {
	case *host.Runtime:
		return e
	case interface{ Current() *host.Runtime }:
		return e.Current()
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, map[string]string{"error_code": e.Code, "error_msg": e.Message})
}
