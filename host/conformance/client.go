package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/schemas"
)

// runner is one run of the kit.
type runner struct {
	ctx   context.Context
	t     Target
	hc    *http.Client
	ops   map[string]schemas.Operation
	order []string // catalogue order
	run   string   // random id of this run, in every name it creates
	seq   int

	engMu sync.Mutex
	eng   *engine.Engine

	results  []Result
	cleanups []func()
}

func newRunner(ctx context.Context, t Target) (*runner, error) {
	cat, err := schemas.Catalogue()
	if err != nil {
		return nil, err
	}
	eng, err := engine.New()
	if err != nil {
		return nil, err
	}
	hc := t.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	r := &runner{ctx: ctx, t: t, hc: hc, ops: map[string]schemas.Operation{}, run: randomID(8), eng: eng}
	for _, op := range cat {
		r.ops[op.ID] = op
		r.order = append(r.order, op.ID)
	}
	r.t.BaseURL = strings.TrimRight(t.BaseURL, "/")
	return r, nil
}

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomID is n random lower-case letters and digits, starting with a letter.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		if i == 0 {
			b[i] = lowerAlnum[int(b[i])%26]
		} else {
			b[i] = lowerAlnum[int(b[i])%len(lowerAlnum)]
		}
	}
	return string(b)
}

// name returns a fresh name of this run: conform-<run>-<n>.
func (r *runner) name() string {
	r.seq++
	return fmt.Sprintf("conform-%s-%d", r.run, r.seq)
}

// selected reports whether checks of op run (Target.Only).
func (r *runner) selected(op string) bool {
	if len(r.t.Only) == 0 {
		return true
	}
	for _, o := range r.t.Only {
		if o == op {
			return true
		}
	}
	return false
}

// skipError makes a check SKIP instead of FAIL.
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

func skipf(format string, args ...any) error { return skipError{fmt.Sprintf(format, args...)} }

// check runs one check and records its result.
func (r *runner) check(name string, f func() error) {
	op, _, _ := strings.Cut(name, "/")
	if !r.selected(op) {
		return
	}
	if reason, ok := r.t.Skip[name]; ok {
		r.results = append(r.results, Result{Name: name, Status: Skip, Detail: "known deviation: " + reason})
		return
	}
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("kit panic: %v", p)
			}
		}()
		if err := r.ctx.Err(); err != nil {
			return err
		}
		return f()
	}()
	res := Result{Name: name, Status: Pass, Duration: time.Since(start)}
	var s skipError
	switch {
	case errors.As(err, &s):
		res.Status, res.Detail = Skip, s.reason
	case err != nil:
		res.Status, res.Detail = Fail, err.Error()
	}
	r.results = append(r.results, res)
}

// skipAll records one SKIP per operation.
func (r *runner) skipAll(ops []string, reason string) {
	for _, op := range ops {
		r.check(op+"/all", func() error { return skipf("%s", reason) })
	}
}

// cred is whose credential a request carries.
type cred int

const (
	asA    cred = iota // the target's credential (project A, or the EnOS org)
	asB                // project B's
	asNone             // none
	asBad              // an invalid one (unknown token, or a signature with a wrong SK)
)

// request is one call of an operation.
type request struct {
	op      string
	params  map[string]string // path parameters other than project_id
	query   url.Values        // besides the operation's fixed query and orgId
	body    []byte
	cred    cred
	project string // the route's project_id; default: the credential's project
	header  map[string]string
}

// reply is a response, with the body decoded when it is a JSON object.
type reply struct {
	status int
	header http.Header
	body   []byte
	obj    map[string]any
}

func (p *reply) String() string {
	b := string(p.body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("HTTP %d %s", p.status, b)
}

func (r *runner) url(q request) (string, error) {
	op, ok := r.ops[q.op]
	if !ok {
		return "", fmt.Errorf("operation %s is not in the catalogue", q.op)
	}
	path := op.Route
	project := q.project
	if project == "" {
		project = r.t.Project
		if q.cred == asB {
			project = r.t.ProjectB
		}
	}
	path = strings.ReplaceAll(path, "{project_id}", url.PathEscape(project))
	for k, v := range q.params {
		path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(v))
	}
	if strings.Contains(path, "{") {
		return "", fmt.Errorf("kit: route %s: path parameter missing", op.Route)
	}
	query := url.Values{}
	for k, v := range op.Query {
		query.Set(k, v)
	}
	if op.Service == "enos" && r.t.EnOSOrg != "" {
		query.Set("orgId", r.t.EnOSOrg)
	}
	for k, vs := range q.query {
		query[k] = vs
	}
	u := r.t.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u, nil
}

// do sends q and reads the reply. Only transport failures are errors.
func (r *runner) do(q request) (*reply, error) {
	op := r.ops[q.op]
	u, err := r.url(q)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(r.ctx, op.Method, u, bytes.NewReader(q.body))
	if err != nil {
		return nil, err
	}
	if op.RequestSchema != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	bogus := "conform-invalid-" + r.run
	if op.Service == "enos" {
		switch q.cred {
		case asA, asB:
			req.Header.Set("Authorization", "Bearer "+r.t.EnOSToken)
		case asBad:
			req.Header.Set("Authorization", "Bearer "+bogus)
		}
	} else {
		token, ak, sk := r.t.Token, r.t.AK, r.t.SK
		switch q.cred {
		case asB:
			token, ak, sk = r.t.ProjectBToken, r.t.ProjectBAK, r.t.ProjectBSK
		case asNone:
			token, ak, sk = "", "", ""
		case asBad:
			if token != "" {
				token = bogus
			} else {
				sk = bogus // a signature the server cannot verify
			}
		}
		switch {
		case token != "":
			req.Header.Set("X-Auth-Token", token)
		case ak != "":
			signRequest(req, q.body, ak, sk, time.Now())
		}
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op.Method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", op.Method, u, err)
	}
	p := &reply{status: resp.StatusCode, header: resp.Header, body: body}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var m map[string]any
		if d.Decode(&m) == nil {
			p.obj = m
		}
	}
	return p, nil
}

// verdict is the native engine's verdict on a request body (no params).
func (r *runner) verdict(op string, body []byte) *engine.Result {
	r.engMu.Lock()
	defer r.engMu.Unlock()
	res, err := engine.DecodeResult(r.eng.Run(op, nil, body))
	if err != nil {
		return &engine.Result{Op: op}
	}
	return res
}

// wantSuccess: the operation's documented success status and a body valid
// against its response schema (none for a 204).
func (r *runner) wantSuccess(op string, p *reply) error {
	entry := r.ops[op]
	if p.status != entry.SuccessStatus {
		return fmt.Errorf("want HTTP %d, got %s", entry.SuccessStatus, p)
	}
	if entry.ResponseSchema == "" {
		if len(bytes.TrimSpace(p.body)) > 0 {
			return fmt.Errorf("HTTP %d must have no body, got %s", p.status, p)
		}
		return nil
	}
	return r.validResponse(op, p.body)
}

// validResponse checks body against op's response schema with the native
// engine (op + ":response").
func (r *runner) validResponse(op string, body []byte) error {
	res := r.verdict(op+engine.ResponseSuffix, body)
	if res.Valid {
		return nil
	}
	vs := res.AllViolations()
	msgs := make([]string, 0, 3)
	for i, v := range vs {
		if i == 3 {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(vs)-3))
			break
		}
		msgs = append(msgs, v.String())
	}
	return fmt.Errorf("response body breaks %s: %s", r.ops[op].ResponseSchema, strings.Join(msgs, "; "))
}

// Huawei error codes have the form SERVICE.digits. Authentication is
// answered by the API gateway in front of every service (APIGW.*); the
// rest by the service, with its own prefix.
var (
	gatewayCode = regexp.MustCompile(`^APIGW\.[0-9]+$`)
	serviceCode = map[string]*regexp.Regexp{
		"ief":   regexp.MustCompile(`^IEF\.[0-9]+$`),
		"iotda": regexp.MustCompile(`^IOTDA\.[0-9]+$`),
		"ces":   regexp.MustCompile(`^ces\.[0-9]+$`),
		"cbr":   regexp.MustCompile(`^BackupService\.[0-9]+$`),
	}
)

// wantError checks an error reply of op: one of statuses, and the
// service's error format: Huawei {"error_code","error_msg"} (both
// non-empty, the code of the right family), EnOS {"code","msg"} with a
// non-zero code (enosCode when non-zero).
func (r *runner) wantError(op string, p *reply, enosCode int, statuses ...int) error {
	svc := r.ops[op].Service
	okStatus := false
	for _, s := range statuses {
		okStatus = okStatus || p.status == s
	}
	if !okStatus {
		return fmt.Errorf("want HTTP %s, got %s", joinInts(statuses, " or "), p)
	}
	if p.obj == nil {
		return fmt.Errorf("error body is not a JSON object: %s", p)
	}
	if svc == "enos" {
		code, ok := number(p.obj["code"])
		switch {
		case !ok:
			return fmt.Errorf("EnOS error without a numeric code: %s", p)
		case enosCode != 0 && code != enosCode:
			return fmt.Errorf("want EnOS code %d, got %d: %s", enosCode, code, p)
		case code == 0:
			return fmt.Errorf("EnOS error with code 0: %s", p)
		}
		if s, _ := p.obj["msg"].(string); s == "" {
			return fmt.Errorf("EnOS error without msg: %s", p)
		}
		return nil
	}
	code, _ := p.obj["error_code"].(string)
	msg, _ := p.obj["error_msg"].(string)
	if code == "" || msg == "" {
		return fmt.Errorf(`want {"error_code","error_msg"} both non-empty, got %s`, p)
	}
	want := serviceCode[svc]
	if p.status == http.StatusUnauthorized {
		want = gatewayCode
	}
	if want != nil && !want.MatchString(code) {
		return fmt.Errorf("error_code %q is not a %s code (%s): %s", code, svc, want, p)
	}
	return nil
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, sep)
}

// number reads a JSON number decoded with UseNumber as an int.
func number(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	case float64:
		return int(n), true
	}
	return 0, false
}

// str follows members of nested objects and returns the string at the end.
func str(v any, path ...string) string {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// list returns the array member at path.
func list(v any, path ...string) ([]any, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		v = m[k]
	}
	a, ok := v.([]any)
	return a, ok
}

// num returns the number at path.
func num(v any, path ...string) (int, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[k]
	}
	return number(v)
}

// replaceStrings replaces each JSON string token "old" of body by a
// random string of the same length (letters and digits, so every id
// pattern of the catalogue still holds), fresh for each call: boundary
// cases keep their lengths, a value repeated in the body stays repeated,
// and the rest of the case (formatting, escapes, even its faults) is sent
// byte for byte as written.
func (r *runner) replaceStrings(body []byte, olds []string) []byte {
	done := map[string]bool{}
	for _, old := range olds {
		if !plainID(old) || done[old] {
			continue
		}
		done[old] = true
		body = bytes.ReplaceAll(body, []byte(`"`+old+`"`), []byte(`"`+randomID(len(old))+`"`))
	}
	return body
}

// plainID reports whether s is written the same way in any JSON text:
// ASCII letters, digits, "_", "." and "-" only.
func plainID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// enosInvalid is EnOS's code for a request that breaks a rule (99400).
const enosInvalid = 99400

// wantInvalid: a request that breaks a documented rule. Huawei routes
// answer 400 with a service error code; EnOS answers code 99400, in its
// envelope with HTTP 200 or with 400.
func (r *runner) wantInvalid(op string, p *reply) error {
	if r.ops[op].Service == "enos" {
		return r.wantError(op, p, enosInvalid, http.StatusOK, http.StatusBadRequest)
	}
	return r.wantError(op, p, 0, http.StatusBadRequest)
}
