package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onboardhq/onboard/abi"
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

	cas     caStore // the CAs this run made
	codes   CodeBook
	seen    map[string]seenCode // service/kind → the first code answered
	current string              // the check running

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
	codes := t.Codes
	if codes == nil {
		codes = OnboardCodes()
	}
	r := &runner{ctx: ctx, t: t, hc: hc, ops: map[string]schemas.Operation{}, run: randomID(8), eng: eng,
		codes: codes, seen: map[string]seenCode{}}
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

// selected reports whether the named check runs (Target.Only).
func (r *runner) selected(name string) bool {
	if len(r.t.Only) == 0 {
		return true
	}
	op, _, _ := strings.Cut(name, "/")
	return slices.Contains(r.t.Only, op) || slices.Contains(r.t.Only, name)
}

// skipError makes a check SKIP instead of FAIL.
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

func skipf(format string, args ...any) error { return skipError{fmt.Sprintf(format, args...)} }

// check runs one check and records its result.
func (r *runner) check(name string, f func() error) {
	if !r.selected(name) {
		return
	}
	if reason, ok := r.t.Skip[name]; ok {
		r.results = append(r.results, Result{Name: name, Status: Skip, Detail: "known deviation: " + reason})
		return
	}
	start := time.Now()
	r.current = name
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
	asA        cred = iota // the target's credential (project A, or the EnOS org)
	asB                    // project B's
	asNone                 // none
	asBad                  // an invalid one (unknown token, or a signature with a wrong SK)
	asNoKey                // EnOS: the token of the service account without an RSA public key
	asNoAccess             // EnOS: the token of the service account without device access
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
		case asNoKey:
			req.Header.Set("Authorization", "Bearer "+r.t.EnOSTokenNoKey)
		case asNoAccess:
			req.Header.Set("Authorization", "Bearer "+r.t.EnOSTokenNoAccess)
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
func (r *runner) verdict(op string, body []byte) *abi.Result {
	r.engMu.Lock()
	defer r.engMu.Unlock()
	res, err := abi.DecodeResult(r.eng.Run(op, nil, body))
	if err != nil {
		return &abi.Result{Op: op}
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
	if err := wantJSON(p); err != nil {
		return err
	}
	return r.validResponse(op, p.body)
}

// validResponse checks body against op's response schema with the native
// engine (op + ":response").
func (r *runner) validResponse(op string, body []byte) error {
	res := r.verdict(op+abi.ResponseSuffix, body)
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

// wantError checks an error reply of op: the status of one of the kinds
// of failure, a JSON body in the service's error format (Huawei
// {"error_code","error_msg"}, EnOS {"code","msg"}), and the code the code
// book names for that kind (judgeCode).
func (r *runner) wantError(op string, p *reply, kinds ...Failure) error {
	svc := r.ops[op].Service
	var kind Failure
	var statuses []int
	for _, f := range kinds {
		ok := failureStatus[f]
		if svc == "enos" && (f == Invalid || f == Forbidden || f == NotFound) {
			ok = append([]int{http.StatusOK}, ok...) // EnOS's envelope
		}
		statuses = append(statuses, ok...)
		if kind == "" && slices.Contains(ok, p.status) {
			kind = f
		}
	}
	if kind == "" {
		return fmt.Errorf("want HTTP %s, got %s", joinInts(statuses, " or "), p)
	}
	if err := wantJSON(p); err != nil {
		return err
	}
	if p.obj == nil {
		return fmt.Errorf("error body is not a JSON object: %s", p)
	}
	if svc == "enos" {
		code, ok := number(p.obj["code"])
		switch {
		case !ok:
			return fmt.Errorf("EnOS error without a numeric code: %s", p)
		case code == 0:
			return fmt.Errorf("EnOS error with code 0: %s", p)
		}
		if s, _ := p.obj["msg"].(string); s == "" {
			return fmt.Errorf("EnOS error without msg: %s", p)
		}
		return r.judgeCode(svc, kind, strconv.Itoa(code))
	}
	code, _ := p.obj["error_code"].(string)
	msg, _ := p.obj["error_msg"].(string)
	if code == "" || msg == "" {
		return fmt.Errorf(`want {"error_code","error_msg"} both non-empty, got %s`, p)
	}
	if err := r.judgeCode(svc, kind, code); err != nil {
		return fmt.Errorf("%w: %s", err, p)
	}
	return nil
}

// wantJSON: a reply with a body says it is JSON.
func wantJSON(p *reply) error {
	if len(bytes.TrimSpace(p.body)) == 0 {
		return nil
	}
	ct := p.header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json: %s", ct, p)
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
	return replaceTokens(body, olds, func(old string) string { return randomID(len(old)) })
}

// replaceTokens replaces each JSON string token "old" of body by
// "with(old)", in one pass however many strings (a 1,000-device batch has
// 2,000).
func replaceTokens(body []byte, olds []string, with func(string) string) []byte {
	done := map[string]bool{}
	var pairs []string
	for _, old := range olds {
		if !plainID(old) || done[old] {
			continue
		}
		done[old] = true
		pairs = append(pairs, `"`+old+`"`, `"`+with(old)+`"`)
	}
	if len(pairs) == 0 {
		return body
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(body)))
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

// wantInvalid: a request that breaks a documented rule. Huawei routes
// answer 400 with a service error code; EnOS answers code 99400, in its
// envelope with HTTP 200 or with 400.
func (r *runner) wantInvalid(op string, p *reply) error { return r.wantError(op, p, Invalid) }
