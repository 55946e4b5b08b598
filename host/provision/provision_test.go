package provision_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

const (
	project  = "proj-p"
	token    = "tok-provision"
	policyID = "5c90fa7d3c4e4405e8525079"
)

// template registers node_id=CN, device_name=serialNumber, product_id=O,
// a tag region=C and a policy.
var template = map[string]any{
	"template_name": "meters",
	"template_body": map[string]any{
		"parameters": map[string]any{
			"iotda::certificate::common_name":   map[string]any{"type": "String"},
			"iotda::certificate::organization":  map[string]any{"type": "String"},
			"iotda::certificate::country":       map[string]any{"type": "String"},
			"iotda::certificate::serial_number": map[string]any{"type": "String"},
		},
		"resources": map[string]any{
			"device": map[string]any{
				"node_id":     map[string]any{"ref": "iotda::certificate::common_name"},
				"device_name": map[string]any{"ref": "iotda::certificate::serial_number"},
				"product_id":  map[string]any{"ref": "iotda::certificate::organization"},
				"tags":        []any{map[string]any{"tag_key": "region", "tag_value": map[string]any{"ref": "iotda::certificate::country"}}},
			},
			"policy": map[string]any{"policy_ids": []any{policyID}},
		},
	},
}

// env is the operator API (plain HTTP) and the provisioning listener
// (mutual TLS) on loopback, over one store and the Wasm engine.
type env struct {
	t        testing.TB
	store    store.Store
	api      string
	prov     *httptest.Server
	p        *provision.Provisioner
	serverCA *x509.CertPool
	template map[string]any // the create request setupCA sends; nil: template
}

func newEnv(t testing.TB, kind string, products provision.ProductChecker) *env {
	t.Helper()
	return newEnvWith(t, kind, func(c *provision.Config) { c.Products = products })
}

// newEnvWith is newEnv with the provisioner's configuration adjusted.
func newEnvWith(t testing.TB, kind string, adjust func(*provision.Config)) *env {
	t.Helper()
	st := storetest.Open(t, kind, testKey)
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: st})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	require.NoError(t, st.CreateToken(context.Background(), token, &store.Token{ProjectID: project, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))

	pc := provision.Config{Engine: enginetest.Runtime(t), Store: st}
	adjust(&pc)
	p, err := provision.New(pc)
	require.NoError(t, err)
	cert, fp, err := provision.LoadServerCert("", "", t.TempDir(), []string{"127.0.0.1"})
	require.NoError(t, err)
	require.Len(t, fp, 64)
	ps := httptest.NewUnstartedServer(p)
	ps.TLS = provision.TLSConfig(cert)
	ps.StartTLS()
	t.Cleanup(ps.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		require.NoError(t, err)
		pool.AddCert(leaf)
	}
	return &env{t: t, store: st, api: ts.URL, prov: ps, p: p, serverCA: pool}
}

type reply struct {
	status int
	body   map[string]any
	raw    string
}

func decode(t testing.TB, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.body), string(raw))
	}
	return r
}

// op calls the operator API.
func (e *env) op(method, path string, body any, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.api+"/v5/iot/"+project+path, rd)
	require.NoError(e.t, err)
	req.Header.Set("X-Auth-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	return decode(e.t, resp)
}

// setupCA creates the template, uploads and verifies ca, and binds the
// template with provisioning enabled (each step optional by flags).
func (e *env) setupCA(ca *provisiontest.CA, verify, enable, bind bool, headers ...string) (caID, templateID string) {
	e.t.Helper()
	tpl := e.template
	if tpl == nil {
		tpl = template
	}
	tr := e.op("POST", "/provisioning-templates", tpl, headers...)
	require.Equal(e.t, http.StatusCreated, tr.status, tr.raw)
	templateID = tr.body["template_id"].(string)
	up := e.op("POST", "/certificates", map[string]any{"content": ca.PEM}, headers...)
	require.Equal(e.t, http.StatusOK, up.status, up.raw)
	caID = up.body["certificate_id"].(string)
	if verify {
		code := up.body["verify_code"].(string)
		v := e.op("POST", "/certificates/"+caID+"/action?action_id=verify", map[string]any{"verify_content": ca.VerificationPEM(e.t, code)}, headers...)
		require.Equal(e.t, http.StatusOK, v.status, v.raw)
		require.Equal(e.t, true, v.body["status"])
	}
	upd := map[string]any{"provision_enable": enable}
	if bind {
		upd["template_id"] = templateID
	}
	u := e.op("PUT", "/certificates/"+caID, upd, headers...)
	require.Equal(e.t, http.StatusOK, u.status, u.raw)
	return caID, templateID
}

// connect makes the device's bootstrap call over a fresh mTLS connection.
func (e *env) connect(d *provisiontest.Device, headers ...string) reply {
	e.t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: provisiontest.ClientTLS(d, e.serverCA), DisableKeepAlives: true}}
	req, err := http.NewRequest("POST", e.prov.URL+"/v5/iot/"+project+"/devices/onboard-bootstrap", nil)
	require.NoError(e.t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(e.t, err)
	require.NotNil(e.t, resp.TLS)
	return decode(e.t, resp)
}

func (e *env) deviceCount() int {
	e.t.Helper()
	_, n, err := e.store.ListIoTDADevices(context.Background(), store.IoTDADeviceFilter{ProjectID: project})
	require.NoError(e.t, err)
	return n
}

var meter = map[string]string{"C": "CN", "O": "acme", "CN": "meter-001", "serialNumber": "SN001"}

func TestBootstrapOverMTLS(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, nil)
			ca := provisiontest.NewCA(t, "acme device CA")
			caID, tplID := e.setupCA(ca, true, true, true)

			dev := ca.Issue(t, meter, provisiontest.Options{})
			r := e.connect(dev)
			require.Equal(t, http.StatusCreated, r.status, r.raw)
			assert.Equal(t, "meter-001", r.body["node_id"])
			assert.Equal(t, "SN001", r.body["device_name"])
			assert.Equal(t, "acme", r.body["product_id"])
			assert.Equal(t, "acme_meter-001", r.body["device_id"])
			assert.Equal(t, []any{map[string]any{"tag_key": "region", "tag_value": "CN"}}, r.body["tags"])
			assert.Equal(t, []any{policyID}, r.body["policy_ids"])
			assert.Equal(t, caID, r.body["certificate_id"])
			assert.Equal(t, tplID, r.body["template_id"])
			assert.Regexp(t, `^\d{8}T\d{6}Z$`, r.body["create_time"])

			stored, err := e.store.GetIoTDADevice(context.Background(), project, "", "acme_meter-001")
			require.NoError(t, err)
			assert.Equal(t, []store.Tag{{Key: "region", Value: "CN"}}, stored.Tags)
			assert.Equal(t, []string{policyID}, stored.PolicyIDs)

			// A second connect (same certificate, then a renewed one) is idempotent.
			again := e.connect(dev)
			require.Equal(t, http.StatusOK, again.status, again.raw)
			assert.Equal(t, r.body["device_id"], again.body["device_id"])
			assert.Equal(t, r.body["create_time"], again.body["create_time"])
			renewed := e.connect(ca.Issue(t, meter, provisiontest.Options{}))
			require.Equal(t, http.StatusOK, renewed.status, renewed.raw)
			assert.Equal(t, 1, e.deviceCount())
			assert.Equal(t, int64(1), e.p.Stats().Registrations)
			assert.Equal(t, int64(3), e.p.Stats().EngineCalls)
		})
	}
}

// refused asserts a failed bootstrap that wrote nothing.
func refused(t *testing.T, e *env, r reply, status int, code, msg string) {
	t.Helper()
	assert.Equal(t, status, r.status, r.raw)
	assert.Equal(t, code, r.body["error_code"], r.raw)
	assert.Contains(t, r.body["error_msg"], msg)
	assert.Equal(t, 0, e.deviceCount(), "a refused device must not be written")
}

func TestBootstrapRefusals(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, nil)
			ca := provisiontest.NewCA(t, "acme device CA")
			caID, _ := e.setupCA(ca, true, true, true)

			t.Run("no client certificate", func(t *testing.T) {
				refused(t, e, e.connect(nil), 401, "IOTDA.000401", "no client certificate")
			})
			t.Run("wrong CA", func(t *testing.T) {
				other := provisiontest.NewCA(t, "someone else's CA")
				refused(t, e, e.connect(other.Issue(t, meter, provisiontest.Options{})), 401, "IOTDA.000401", "does not chain to any device CA certificate of project proj-p")
			})
			t.Run("missing CN", func(t *testing.T) {
				noCN := map[string]string{"C": "CN", "O": "acme", "serialNumber": "SN9"}
				r := e.connect(ca.Issue(t, noCN, provisiontest.Options{}))
				refused(t, e, r, 400, "IOTDA.000006", "missing-parameter")
				assert.Contains(t, r.body["error_msg"], "CN")
			})
			t.Run("expired", func(t *testing.T) {
				old := ca.Issue(t, meter, provisiontest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
				refused(t, e, e.connect(old), 401, "IOTDA.000401", "expired")
			})
			t.Run("not yet valid", func(t *testing.T) {
				early := ca.Issue(t, meter, provisiontest.Options{NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
				refused(t, e, e.connect(early), 401, "IOTDA.000401", "not valid before")
			})
			t.Run("server-auth-only certificate", func(t *testing.T) {
				srv := ca.Issue(t, meter, provisiontest.Options{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				refused(t, e, e.connect(srv), 401, "IOTDA.000401", "client authentication")
			})
			t.Run("revoked", func(t *testing.T) {
				dev := ca.Issue(t, meter, provisiontest.Options{})
				rv := e.op("POST", "/certificates/"+caID+"/onboard-revoke", map[string]any{"serial_numbers": []string{"00" + dev.Cert.SerialNumber.Text(16)}})
				require.Equal(t, http.StatusOK, rv.status, rv.raw)
				assert.Contains(t, rv.body["onboard_revoked_serials"], dev.Cert.SerialNumber.Text(16))
				refused(t, e, e.connect(dev), 401, "IOTDA.000401", "revoked")
			})
			t.Run("wrong instance", func(t *testing.T) {
				refused(t, e, e.connect(ca.Issue(t, meter, provisiontest.Options{}), "Instance-Id", "inst-other"), 401, "IOTDA.000401", "instance inst-other")
			})
			t.Run("bad project id", func(t *testing.T) {
				client := &http.Client{Transport: &http.Transport{TLSClientConfig: provisiontest.ClientTLS(ca.Issue(t, meter, provisiontest.Options{}), e.serverCA)}}
				resp, err := client.Post(e.prov.URL+"/v5/iot/bad.project/devices/onboard-bootstrap", "application/json", nil)
				require.NoError(t, err)
				refused(t, e, decode(t, resp), 400, "IOTDA.000006", "project_id")
			})
			t.Run("provisioning disabled", func(t *testing.T) {
				u := e.op("PUT", "/certificates/"+caID, map[string]any{"provision_enable": false})
				require.Equal(t, http.StatusOK, u.status, u.raw)
				t.Cleanup(func() { e.op("PUT", "/certificates/"+caID, map[string]any{"provision_enable": true}) })
				refused(t, e, e.connect(ca.Issue(t, meter, provisiontest.Options{})), 403, "IOTDA.000004", "provisioning disabled")
			})
			t.Run("template unbound", func(t *testing.T) {
				show := e.op("GET", "/certificates/"+caID, nil)
				tpl := show.body["template_id"].(string)
				u := e.op("PUT", "/certificates/"+caID, map[string]any{"template_id": nil})
				require.Equal(t, http.StatusOK, u.status, u.raw)
				assert.Equal(t, "", u.body["template_id"])
				t.Cleanup(func() { e.op("PUT", "/certificates/"+caID, map[string]any{"template_id": tpl}) })
				refused(t, e, e.connect(ca.Issue(t, meter, provisiontest.Options{})), 403, "IOTDA.000004", "no pre-provisioning template bound")
			})
		})
	}
}

func TestBootstrapUnverifiedCA(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	ca := provisiontest.NewCA(t, "unverified CA")
	e.setupCA(ca, false, true, true)
	refused(t, e, e.connect(ca.Issue(t, meter, provisiontest.Options{})), 403, "IOTDA.000004", "is not verified")
}

// Products are not an onboard resource: with a ProductChecker a host that
// knows its products refuses the others.
func TestBootstrapUnknownProduct(t *testing.T) {
	known := func(_ context.Context, projectID, instanceID, productID string) (bool, error) {
		return productID == "acme", nil
	}
	e := newEnv(t, "sqlite", known)
	ca := provisiontest.NewCA(t, "CA")
	e.setupCA(ca, true, true, true)
	other := map[string]string{"C": "CN", "O": "globex", "CN": "meter-9", "serialNumber": "SN9"}
	refused(t, e, e.connect(ca.Issue(t, other, provisiontest.Options{})), 400, "IOTDA.000006", "product globex")
	ok := e.connect(ca.Issue(t, meter, provisiontest.Options{}))
	assert.Equal(t, http.StatusCreated, ok.status, ok.raw)
}

// A node id registered under another product is a conflict, not the same device.
func TestBootstrapNodeIDOfAnotherProduct(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	ca := provisiontest.NewCA(t, "CA")
	e.setupCA(ca, true, true, true)
	require.Equal(t, http.StatusCreated, e.connect(ca.Issue(t, meter, provisiontest.Options{})).status)
	clash := map[string]string{"C": "CN", "O": "globex", "CN": "meter-001", "serialNumber": "SN2"}
	r := e.connect(ca.Issue(t, clash, provisiontest.Options{}))
	assert.Equal(t, http.StatusConflict, r.status, r.raw)
	assert.Contains(t, r.body["error_msg"], "product acme")
	assert.Equal(t, 1, e.deviceCount())
}

// Concurrent first connects of one device register it once.
func TestBootstrapConcurrentConnects(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	ca := provisiontest.NewCA(t, "CA")
	e.setupCA(ca, true, true, true)
	dev := ca.Issue(t, meter, provisiontest.Options{})
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() { defer wg.Done(); statuses[i] = e.connect(dev).status }()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		if s == http.StatusCreated {
			created++
		} else {
			assert.Equal(t, http.StatusOK, s)
		}
	}
	assert.Equal(t, 1, created)
	assert.Equal(t, 1, e.deviceCount())
}

// The scope comes from Instance-Id: a CA and template of instance inst-1
// provision devices that say so.
func TestBootstrapInstanceScope(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	ca := provisiontest.NewCA(t, "CA")
	e.setupCA(ca, true, true, true, "Instance-Id", "inst-1")
	r := e.connect(ca.Issue(t, meter, provisiontest.Options{}), "Instance-Id", "inst-1")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	_, err := e.store.GetIoTDADevice(context.Background(), project, "inst-1", "acme_meter-001")
	require.NoError(t, err)
}

// Register is usable without HTTP, and its errors are typed.
func TestRegisterTypedErrors(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	ctx := context.Background()
	_, err := e.p.Register(ctx, project, "", nil)
	assert.ErrorIs(t, err, provision.ErrNoClientCrt)
	ca := provisiontest.NewCA(t, "CA")
	_, err = e.p.Register(ctx, project, "", []*x509.Certificate{ca.Issue(t, meter, provisiontest.Options{}).Cert})
	assert.ErrorIs(t, err, provision.ErrUnknownCA)
	var pe *provision.Error
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, http.StatusUnauthorized, pe.Status)
}

func TestOtherRoutes(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.serverCA, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get(e.prov.URL + "/healthz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, decode(t, resp).status)
	resp, err = client.Get(e.prov.URL + "/v5/iot/p/certificates")
	require.NoError(t, err)
	r := decode(t, resp)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Contains(t, r.body["error_msg"], "onboard-bootstrap")
}

func TestLoadServerCertPersists(t *testing.T) {
	dir := t.TempDir()
	_, fp1, err := provision.LoadServerCert("", "", dir, []string{"prov.example.com"})
	require.NoError(t, err)
	c, fp2, err := provision.LoadServerCert("", "", dir, nil)
	require.NoError(t, err)
	assert.Equal(t, fp1, fp2, "the generated certificate is reused across restarts")
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	assert.Contains(t, leaf.DNSNames, "prov.example.com")
	_, _, err = provision.LoadServerCert(filepath.Join(dir, provision.ServerCertFile), "", dir, nil)
	assert.Error(t, err)
}

// Revoking an intermediate CA's serial stops every device under it, over
// real mutual TLS with a root → intermediate → device chain. Only the
// leaf's serial used to be checked: onboard-revoke answered 200 and the
// intermediate's devices kept registering.
func TestBootstrapRevokedIntermediate(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, nil)
			root := provisiontest.NewCA(t, "acme root CA")
			caID, _ := e.setupCA(root, true, true, true)
			line1, line2 := root.Intermediate(t, "acme line 1 CA"), root.Intermediate(t, "acme line 2 CA")
			device := func(ca *provisiontest.CA, cn string) *provisiontest.Device {
				return ca.Issue(t, map[string]string{"C": "CN", "O": "acme", "CN": cn, "serialNumber": "SN-" + cn}, provisiontest.Options{})
			}
			before := device(line1, "meter-a")
			require.Len(t, before.TLSCertificate().Certificate, 2, "the device presents its intermediate")
			r := e.connect(before)
			require.Equal(t, http.StatusCreated, r.status, r.raw)

			rv := e.op("POST", "/certificates/"+caID+"/onboard-revoke", map[string]any{"serial_numbers": []string{line1.Cert.SerialNumber.Text(16)}})
			require.Equal(t, http.StatusOK, rv.status, rv.raw)

			for name, d := range map[string]*provisiontest.Device{"new device": device(line1, "meter-b"), "registered device": before} {
				r := e.connect(d)
				assert.Equal(t, http.StatusUnauthorized, r.status, "%s: %s", name, r.raw)
				assert.Equal(t, "IOTDA.000401", r.body["error_code"], r.raw)
				assert.Contains(t, r.body["error_msg"], `intermediate CA certificate "acme line 1 CA"`, r.raw)
				assert.Contains(t, r.body["error_msg"], "revoked", r.raw)
			}
			// The root's other devices are not affected.
			assert.Equal(t, http.StatusCreated, e.connect(device(line2, "meter-c")).status)
			assert.Equal(t, http.StatusCreated, e.connect(device(root, "meter-d")).status)
			assert.Equal(t, 3, e.deviceCount(), "meter-a (before the revocation), meter-c and meter-d")

			// Revoking the leaf of a device under a live intermediate works as before.
			leaf := device(line2, "meter-e")
			rv = e.op("POST", "/certificates/"+caID+"/onboard-revoke", map[string]any{"serial_numbers": []string{leaf.Cert.SerialNumber.Text(16)}})
			require.Equal(t, http.StatusOK, rv.status, rv.raw)
			r = e.connect(leaf)
			assert.Equal(t, http.StatusUnauthorized, r.status, r.raw)
			assert.Contains(t, r.body["error_msg"], "device certificate with serial", r.raw)
		})
	}
}

// The bootstrap's Instance-Id is checked by the engine like the operator
// API's: it scopes store look-ups and is stored with the device.
func TestBootstrapInstanceIdIsChecked(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, nil)
			ca := provisiontest.NewCA(t, "acme device CA")
			e.setupCA(ca, true, true, true)
			dev := ca.Issue(t, meter, provisiontest.Options{})
			for _, bad := range []string{strings.Repeat("i", 10_000), "inst-\xff"} {
				r := e.connect(dev, "Instance-Id", bad)
				refused(t, e, r, 400, "IOTDA.000006", "Instance-Id")
				assert.Less(t, len(r.raw), 2048)
			}
		})
	}
}

// A certificate subject holding U+0000 gets the same 400 on every store
// (the engine's rule nul on resolved values): SQLite stored the device
// name with the NUL and PostgreSQL answered 500.
func TestBootstrapNulInSubject(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, nil)
			ca := provisiontest.NewCA(t, "acme device CA")
			e.setupCA(ca, true, true, true)
			r := e.connect(ca.Issue(t, map[string]string{"C": "CN", "O": "acme", "CN": "meter-nul", "serialNumber": "SN\x00"}, provisiontest.Options{}))
			refused(t, e, r, 400, "IOTDA.000006", "U+0000")
		})
	}
}
