package conformance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/onboardhq/onboard/abi"
)

// IoTDA device CA certificates and the template preview: the checks need
// real X.509 material, made here with crypto/x509: a CA per upload, and
// the proof-of-possession (verification) certificate the verify action
// takes, whose CN is the CA's verify_code and which the CA's key signs.

const (
	caUpload  = "iotda.device-ca.upload"
	caUpdate  = "iotda.device-ca.update"
	caVerify  = "iotda.device-ca.verify"
	caRevoke  = "iotda.device-ca.onboard-revoke"
	caShow    = "iotda.device-ca.show"
	tmplOp    = "iotda.provisioning-template.create"
	tmplPrev  = "iotda.provisioning-template.onboard-preview"
	tmplParam = "template_id"
)

// caMaterial is a CA the kit made: its certificate and key.
type caMaterial struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

// cas holds the CAs of a run by PEM, so a fixture's key can be found from
// the body that uploaded it.
type caStore struct {
	mu  sync.Mutex
	pem map[string]*caMaterial
}

func (s *caStore) add(ca *caMaterial) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pem == nil {
		s.pem = map[string]*caMaterial{}
	}
	s.pem[ca.pem] = ca
}

func (s *caStore) of(body []byte) *caMaterial {
	var req struct {
		Content string `json:"content"`
	}
	_ = json.Unmarshal(body, &req)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pem[req.Content]
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 62)

// certificate makes a certificate for subject cn, signed by parent (self-
// signed when parent is nil), as a CA or not, valid over [from, until).
func certificate(cn string, parent *caMaterial, isCA bool, from, until time.Time) *caMaterial {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	serial, _ := rand.Int(rand.Reader, serialLimit)
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"onboard conformance"}},
		NotBefore:    from, NotAfter: until,
		BasicConstraintsValid: true, IsCA: isCA,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		panic(err) // the template is ours
	}
	cert, _ := x509.ParseCertificate(der)
	return &caMaterial{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// newCA is a fresh CA of this run, valid from an hour ago for a year.
func (r *runner) newCA() *caMaterial {
	now := time.Now()
	ca := certificate("conform-"+r.run+"-ca-"+randomID(6), nil, true, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	r.cas.add(ca)
	return ca
}

// proof is the verification certificate for verifyCode, signed by ca.
func proof(ca *caMaterial, verifyCode string) string {
	now := time.Now()
	return certificate(verifyCode, ca, false, now.Add(-time.Hour), now.Add(24*time.Hour)).pem
}

// withMember returns body (a JSON object) with member k set to v.
func withMember(body []byte, k string, v any) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body
	}
	b, _ := json.Marshal(v)
	m[k] = b
	out, _ := json.Marshal(m)
	return out
}

// caLive puts a fresh CA in an upload body.
func caLive(r *runner, body []byte) []byte {
	return withMember(body, "content", r.newCA().pem)
}

// caBind makes an update's template_id name a real template of the
// fixture's instance.
func caBind(r *runner, op string, body []byte, fx *fixture) ([]byte, error) {
	var req map[string]any
	if op != caUpdate || json.Unmarshal(body, &req) != nil {
		return body, nil
	}
	if id, _ := req[tmplParam].(string); id == "" {
		return body, nil // unbind: null or ""
	}
	id, err := r.newTemplate(fx.header)
	if err != nil {
		return nil, err
	}
	return withMember(body, tmplParam, id), nil
}

// newTemplate creates a template (ok-minimal) in the instance of header.
func (r *runner) newTemplate(header map[string]string) (string, error) {
	body := withMember(okCase(tmplOp, "ok-minimal"), "template_name", r.name())
	p, err := r.do(request{op: tmplOp, body: body, header: header})
	if err != nil {
		return "", fmt.Errorf("setup: template: %w", err)
	}
	if err := r.wantSuccess(tmplOp, p); err != nil {
		return "", fmt.Errorf("setup: template: %w", err)
	}
	id := str(p.obj, tmplParam)
	r.cleanups = append(r.cleanups, func() {
		_, _ = r.do(request{op: "iotda.provisioning-template.delete", params: map[string]string{tmplParam: id}, header: header})
	})
	return id, nil
}

// caShown: show returns the certificate uploaded (content, re-encoding
// allowed) and its verification state.
func caShown(r *runner, fx *fixture, p *reply) error {
	ca := r.cas.of(fx.body)
	if ca == nil {
		return fmt.Errorf("kit: the fixture's CA is unknown")
	}
	block, _ := pem.Decode([]byte(str(p.obj, "content")))
	if block == nil || !bytes.Equal(block.Bytes, ca.cert.Raw) {
		return fmt.Errorf("show's content is not the certificate uploaded: %s", p)
	}
	if _, ok := p.obj["status"].(bool); !ok {
		return fmt.Errorf("show has no verification status: %s", p)
	}
	return nil
}

// revokedOK: each serial sent is in the revoked list (compared as numbers:
// 0x0a and a are one serial).
func revokedOK(r *runner, body []byte, p *reply) error {
	var req struct {
		Serials []string `json:"serial_numbers"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	got, _ := list(p.obj, "onboard_revoked_serials")
	for _, s := range req.Serials {
		want, _ := new(big.Int).SetString(s, 16)
		if !slices.ContainsFunc(got, func(g any) bool {
			n, ok := new(big.Int).SetString(fmt.Sprint(g), 16)
			return ok && want != nil && n.Cmp(want) == 0
		}) {
			return fmt.Errorf("serial %s was revoked, onboard_revoked_serials lacks it: %s", s, p)
		}
	}
	return nil
}

// caChecks: what the corpus cannot say about device CAs.
func (r *runner) caChecks(res *resource) {
	upload := func(body []byte, header map[string]string) (*reply, error) {
		p, err := r.do(request{op: caUpload, body: body, header: header})
		if err == nil && p.status < 300 {
			for _, id := range res.created(p.obj) {
				r.scheduleDelete(res, id, header)
			}
		}
		return p, err
	}
	now := time.Now()
	r.check(caUpload+"/bad-content-not-a-ca", func() error {
		leaf := certificate("conform-"+r.run+"-leaf", nil, false, now.Add(-time.Hour), now.Add(time.Hour))
		p, err := upload(content(leaf.pem), r.instanceHeader(res))
		if err != nil {
			return err
		}
		return r.wantInvalid(caUpload, p)
	})
	r.check(caUpload+"/bad-content-expired", func() error {
		old := certificate("conform-"+r.run+"-old", nil, true, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))
		p, err := upload(content(old.pem), r.instanceHeader(res))
		if err != nil {
			return err
		}
		return r.wantInvalid(caUpload, p)
	})
	r.check(caUpload+"/duplicate-conflict", func() error {
		header, body := r.instanceHeader(res), content(r.newCA().pem)
		for i, want := range []Failure{"", Conflict} {
			p, err := upload(body, header)
			if err != nil {
				return err
			}
			if want == "" {
				if err := r.wantSuccess(caUpload, p); err != nil {
					return fmt.Errorf("first upload: %w", err)
				}
				continue
			}
			if err := r.wantError(caUpload, p, want); err != nil {
				return fmt.Errorf("upload %d of one CA in one instance: %w", i+1, err)
			}
		}
		return nil
	})
	r.check(caUpload+"/unknown-template", func() error {
		body := withMember(content(r.newCA().pem), tmplParam, r.missing())
		p, err := upload(body, r.instanceHeader(res))
		if err != nil {
			return err
		}
		return r.wantError(caUpload, p, NotFound, Invalid)
	})
	r.check(caUpdate+"/bind-unknown-template", func() error {
		fx, err := r.newFixture(res, nil)
		if err != nil {
			return err
		}
		p, err := r.do(request{op: caUpdate, params: map[string]string{res.idParam: fx.id}, header: fx.header,
			body: withMember([]byte(`{}`), tmplParam, r.missing())})
		if err != nil {
			return err
		}
		return r.wantError(caUpdate, p, NotFound, Invalid)
	})
}

// caVerifyChecks: the verify action, with proofs made for the fixture.
func caVerifyChecks(r *runner, res *resource, _ func() (*fixture, error)) {
	send := func(fx *fixture, body []byte) (*reply, error) {
		return r.do(request{op: caVerify, params: map[string]string{res.idParam: fx.id}, body: body, header: fx.header})
	}
	verifyBody := func(pemText string) []byte { return withMember([]byte(`{}`), "verify_content", pemText) }
	fixture := func() (*fixture, *caMaterial, error) {
		fx, err := r.newFixture(res, nil)
		if err != nil {
			return nil, nil, err
		}
		return fx, r.cas.of(fx.body), nil
	}
	for _, c := range cases(caVerify) {
		name := c.name
		if c.valid {
			name += "-not-a-proof" // schema-valid, but no proof for this CA
		}
		r.check(caVerify+"/"+name, func() error {
			fx, _, err := fixture()
			if err != nil {
				return err
			}
			p, err := send(fx, c.body)
			if err != nil {
				return err
			}
			return r.wantInvalid(caVerify, p)
		})
	}
	r.check(caVerify+"/ok-proof", func() error {
		fx, ca, err := fixture()
		if err != nil {
			return err
		}
		p, err := send(fx, verifyBody(proof(ca, str(fx.obj, "verify_code"))))
		if err != nil {
			return err
		}
		if err := r.wantSuccess(caVerify, p); err != nil {
			return err
		}
		s, err := r.do(request{op: caShow, params: map[string]string{res.idParam: fx.id}, header: fx.header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(caShow, s); err != nil {
			return err
		}
		if st, _ := s.obj["status"].(bool); !st {
			return fmt.Errorf("after a valid proof, show has status %v (want true): %s", s.obj["status"], s)
		}
		return nil
	})
	r.check(caVerify+"/bad-proof-wrong-cn", func() error {
		fx, ca, err := fixture()
		if err != nil {
			return err
		}
		p, err := send(fx, verifyBody(proof(ca, "conform-not-the-verify-code")))
		if err != nil {
			return err
		}
		return r.wantInvalid(caVerify, p)
	})
	r.check(caVerify+"/bad-proof-other-key", func() error {
		fx, _, err := fixture()
		if err != nil {
			return err
		}
		other := r.newCA()
		p, err := send(fx, verifyBody(proof(other, str(fx.obj, "verify_code"))))
		if err != nil {
			return err
		}
		if err := r.wantInvalid(caVerify, p); err != nil {
			return err
		}
		s, err := r.do(request{op: caShow, params: map[string]string{res.idParam: fx.id}, header: fx.header})
		if err != nil {
			return err
		}
		if st, _ := s.obj["status"].(bool); st {
			return fmt.Errorf("a proof signed by another key verified the CA: %s", s)
		}
		return nil
	})
	r.check(caVerify+"/not-found", func() error {
		p, err := r.do(request{op: caVerify, params: map[string]string{res.idParam: r.missing()},
			body: verifyBody(r.newCA().pem), header: r.instanceHeader(res)})
		if err != nil {
			return err
		}
		return r.wantError(caVerify, p, NotFound)
	})
}

// previewChecks: the template preview resolves as the engine does, and
// says whether a CA with provisioning on binds the template.
func previewChecks(r *runner, res *resource, _ func() (*fixture, error)) {
	var tmpl struct {
		fx   *fixture
		body json.RawMessage // template_body
		err  error
		done bool
	}
	template := func() (*fixture, json.RawMessage, error) {
		if !tmpl.done {
			tmpl.done = true
			tmpl.fx, tmpl.err = r.newFixture(res, okCase(tmplOp, "ok-minimal"))
			if tmpl.err == nil {
				var req struct {
					Body json.RawMessage `json:"template_body"`
				}
				tmpl.err = json.Unmarshal(tmpl.fx.body, &req)
				tmpl.body = req.Body
			}
		}
		return tmpl.fx, tmpl.body, tmpl.err
	}
	send := func(fx *fixture, body []byte) (*reply, error) {
		return r.do(request{op: tmplPrev, params: map[string]string{tmplParam: fx.id}, body: body, header: fx.header})
	}
	for _, c := range cases(tmplPrev) {
		r.check(tmplPrev+"/"+c.name, func() error {
			fx, tb, err := template()
			if err != nil {
				return err
			}
			p, err := send(fx, c.body)
			if err != nil {
				return err
			}
			if !c.valid {
				return r.wantInvalid(tmplPrev, p)
			}
			return r.wantPreview(fx, tb, c.body, p, nil)
		})
	}
	r.check(tmplPrev+"/effective-once-bound", func() error {
		fx, tb, err := template()
		if err != nil {
			return err
		}
		body := okCase(tmplPrev, "ok-cn-only")
		// Bound by a CA with provisioning off: not yet in effect.
		upload := func(enable bool) (string, error) {
			b := withMember(withMember(content(r.newCA().pem), tmplParam, fx.id), "provision_enable", enable)
			p, err := r.do(request{op: caUpload, body: b, header: fx.header})
			if err != nil {
				return "", err
			}
			if err := r.wantSuccess(caUpload, p); err != nil {
				return "", fmt.Errorf("upload a CA bound to the template: %w", err)
			}
			id := str(p.obj, "certificate_id")
			r.cleanups = append(r.cleanups, func() {
				_, _ = r.do(request{op: "iotda.device-ca.delete", params: map[string]string{"certificate_id": id}, header: fx.header})
			})
			return id, nil
		}
		if _, err := upload(false); err != nil {
			return err
		}
		p, err := send(fx, body)
		if err != nil {
			return err
		}
		if err := r.wantPreview(fx, tb, body, p, []string{}); err != nil {
			return fmt.Errorf("bound by a CA with provision_enable false: %w", err)
		}
		id, err := upload(true)
		if err != nil {
			return err
		}
		if p, err = send(fx, body); err != nil {
			return err
		}
		if err := r.wantPreview(fx, tb, body, p, []string{id}); err != nil {
			return fmt.Errorf("bound by CA %s with provision_enable true: %w", id, err)
		}
		return nil
	})
}

func content(pemText string) []byte { return withMember([]byte(`{}`), "content", pemText) }

// wantPreview: the device the engine resolves the template to for the
// subject of body (or 400 when it cannot), and, when certs is not nil,
// exactly those CAs in effect.
func (r *runner) wantPreview(fx *fixture, templateBody json.RawMessage, body []byte, p *reply, certs []string) error {
	var req struct {
		Subject json.RawMessage `json:"subject"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	in, _ := json.Marshal(map[string]json.RawMessage{"template_body": templateBody, "subject": req.Subject})
	want := r.verdict(abi.OpResolve, in)
	if !want.Valid || want.Device == nil {
		if err := r.wantInvalid(tmplPrev, p); err != nil {
			return fmt.Errorf("the template cannot resolve for this subject (%v): %w", want.AllViolations(), err)
		}
		return nil
	}
	if err := r.wantSuccess(tmplPrev, p); err != nil {
		return err
	}
	if got := str(p.obj, tmplParam); got != fx.id {
		return fmt.Errorf("preview of template %s answers template_id %q: %s", fx.id, got, p)
	}
	var got struct {
		Device         json.RawMessage `json:"device"`
		Effective      bool            `json:"effective"`
		CertificateIDs []string        `json:"certificate_ids"`
	}
	if err := json.Unmarshal(p.body, &got); err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	wantDevice, _ := json.Marshal(want.Device)
	gd, _ := decode(got.Device)
	wd, _ := decode(wantDevice)
	if !sameValue(normalDevice(wd), normalDevice(gd)) {
		return fmt.Errorf("preview resolved %s, the template resolves to %s", got.Device, wantDevice)
	}
	if certs != nil {
		if got.Effective != (len(certs) > 0) || !slices.Equal(slices.Sorted(slices.Values(got.CertificateIDs)), slices.Sorted(slices.Values(certs))) {
			return fmt.Errorf("want effective %t with certificate_ids %v, got %t with %v: %s", len(certs) > 0, certs, got.Effective, got.CertificateIDs, p)
		}
	}
	return nil
}

// normalDevice treats absent, null and empty tags and policy_ids alike.
func normalDevice(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if a, isArr := x.([]any); x == nil || (isArr && len(a) == 0) {
			continue
		}
		out[k] = x
	}
	return out
}
