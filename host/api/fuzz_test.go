package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/schemas"
)

// nativeValidator runs the native engine (the same code as engine.wasm)
// so fuzzing spends its time in the HTTP pipeline, not in wazero.
type nativeValidator struct {
	mu sync.Mutex
	e  *engine.Engine
}

func (n *nativeValidator) Validate(_ context.Context, op string, params, body []byte) (*abi.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return abi.DecodeResult(n.e.Run(op, params, body))
}

// fuzzClock pins the server's clock so a signed seed stays valid.
var fuzzClock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	fuzzProject = "proj-fuzz"
	fuzzOrg     = "o15000000000009"
	fuzzToken   = "tok-fuzz"
	fuzzBearer  = "tok-fuzz-enos"
	fuzzAK      = "AKFUZZ"
	fuzzSK      = "sk-fuzz-secret"
)

// fuzzServer is a Server over the native engine and a memory store with a
// project token, an AK/SK and an EnOS service account token.
func fuzzServer(tb testing.TB) *Server {
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: "memory:"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close(ctx) })
	return fuzzServerOn(tb, st)
}

// fuzzServerOn is fuzzServer over st.
func fuzzServerOn(tb testing.TB, st store.Store) *Server {
	e, err := engine.New()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	// The store judges expiry by the real clock, not the server's pinned
	// one: tokens valid a year from fuzzClock would expire in 2027 and the
	// seeds would quietly test only 401s.
	exp := time.Now().AddDate(10, 0, 0)
	for _, err := range []error{
		st.CreateToken(ctx, fuzzToken, &store.Token{ProjectID: fuzzProject, CreatedAt: fuzzClock, ExpiresAt: exp}),
		st.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: fuzzAK, SecretKey: fuzzSK, ProjectID: fuzzProject, CreatedAt: fuzzClock}),
		st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: fuzzOrg, AccountID: "sa", CreatedAt: fuzzClock}),
		st.CreateToken(ctx, fuzzBearer, &store.Token{OrgID: fuzzOrg, AccountID: "sa", CreatedAt: fuzzClock, ExpiresAt: exp}),
	} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	s, err := New(Config{Engine: &nativeValidator{e: e}, Store: st, Now: func() time.Time { return fuzzClock }})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// servedOps lists the operations the server routes, in catalogue order.
func servedOps(tb testing.TB) []schemas.Operation {
	ops, err := schemas.Catalogue()
	if err != nil {
		tb.Fatal(err)
	}
	var out []schemas.Operation
	for _, op := range ops {
		if handlers[op.ID] != nil {
			out = append(out, op)
		}
	}
	return out
}

// fuzzRequest builds a request for op with body: path parameters filled
// (project_id is the fuzz project), the operation's fixed query plus orgId
// for EnOS, and credentials by mode: 0 token, 1 AK/SK signature, 2 none.
func fuzzRequest(op schemas.Operation, body []byte, mode uint8) *http.Request {
	path := op.Route
	for _, name := range edge.PathParams(op.Route) {
		v := "id-1"
		if name == "project_id" {
			v = fuzzProject
		}
		path = strings.Replace(path, "{"+name+"}", v, 1)
	}
	q := []string{}
	for k, v := range op.Query {
		q = append(q, k+"="+v)
	}
	if op.Service == "enos" {
		q = append(q, "orgId="+fuzzOrg)
	}
	if len(q) > 0 {
		path += "?" + strings.Join(q, "&")
	}
	r := httptest.NewRequest(op.Method, "http://onboard.test"+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Instance-Id", "inst-1")
	r.Header.Set("ief-instance-id", "inst-1")
	switch {
	case mode%3 == 2:
	case op.Service == "enos":
		r.Header.Set("Authorization", "Bearer "+fuzzBearer)
	case mode%3 == 1:
		SignRequest(r, body, fuzzAK, fuzzSK, fuzzClock)
	default:
		r.Header.Set("X-Auth-Token", fuzzToken)
	}
	return r
}

// FuzzPipeline sends mutated corpus bodies through the whole request
// pipeline of every operation (body limit, authentication, scope, engine,
// handler, memory store). The server must never panic, never answer 5xx
// (the memory store cannot fail) and always answer in its JSON formats.
func FuzzPipeline(f *testing.F) {
	ops := servedOps(f)
	index := map[string]uint8{}
	for i, op := range ops {
		index[op.ID] = uint8(i)
	}
	cases, err := corpus.Requests()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		if len(c.Body) <= DefaultBodyLimit {
			f.Add(index[c.Op], c.Body, uint8(0))
		}
	}
	f.Add(index["cbr.agent.register"], []byte(`{"agent":{"agent_id":"a","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`), uint8(1))
	f.Add(index["enos.device.list"], []byte(`{"pagination":{"pageNo":9223372036854775807,"pageSize":1000}}`), uint8(0))
	for _, seed := range hostileSeeds {
		f.Add(index[seed.op], []byte(seed.body), uint8(0))
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte, mode uint8) {
		checkPipeline(t, s, ops[int(opIndex)%len(ops)], body, mode)
	})
}

// hostileSeeds are bodies that broke a store once (issue 15): U+0000,
// which PostgreSQL cannot store, numbers beyond float64 and exponents
// that big.Rat expanded in full.
var hostileSeeds = []struct{ op, body string }{
	{"cbr.agent.register", `{"agent":{"agent_id":"a\u0000","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`},
	{"enos.device.batch-create", `{"deviceList":[{"productKey":"pk","deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceDesc":"\u0000"},` +
		`{"productKey":"pk","deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceAttributes":{"n":9007199254740993,"m":1e400,"\u0000":1}}]}`},
	{"ces.agent-invocation.batch-create", `{"invocation_type":"INSTALL","instance_ids":[1e1000000,2e1000000]}`},
	{"ief.product.create", `{"product":{"name":"p1","description":"\u0000"}}`},
}

// checkPipeline sends one request and holds the answer to the pipeline's
// promises: never a 5xx, always JSON errors, nothing without credentials.
func checkPipeline(t *testing.T, s *Server, op schemas.Operation, body []byte, mode uint8) {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, fuzzRequest(op, body, mode))
	if w.Code >= 500 {
		t.Fatalf("%s answered %d: %s\nbody: %q", op.ID, w.Code, w.Body.Bytes(), body)
	}
	if w.Code >= 400 || w.Body.Len() > 0 {
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s answered %d with a non-JSON body %q", op.ID, w.Code, w.Body.Bytes())
		}
	}
	if w.Code >= 200 && w.Code < 300 && mode%3 == 2 {
		t.Fatalf("%s answered %d without credentials", op.ID, w.Code)
	}
}

// TestPipelineSeedsOnEveryStore runs FuzzPipeline's seeds (the corpus, the
// hostile seeds and the checked-in crashers) with each credential mode
// against SQLite and PostgreSQL: FuzzPipeline itself runs on the memory
// store, which cannot fail, and the stores are where a 5xx came from.
func TestPipelineSeedsOnEveryStore(t *testing.T) {
	ops := servedOps(t)
	byID := map[string]schemas.Operation{}
	for _, op := range ops {
		byID[op.ID] = op
	}
	type seed struct {
		op   schemas.Operation
		body []byte
		mode uint8
	}
	var seeds []seed
	cases, err := corpus.Requests()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if op, ok := byID[c.Op]; ok && len(c.Body) <= DefaultBodyLimit {
			for mode := range uint8(3) {
				seeds = append(seeds, seed{op, c.Body, mode})
			}
		}
	}
	for _, h := range hostileSeeds {
		seeds = append(seeds, seed{byID[h.op], []byte(h.body), 0}, seed{byID[h.op], []byte(h.body), 1})
	}
	crashers, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzPipeline", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range crashers {
		opIndex, body, mode := readPipelineSeed(t, file)
		seeds = append(seeds, seed{ops[int(opIndex)%len(ops)], body, mode})
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			s := fuzzServerOn(t, storetest.Open(t, kind, []byte("0123456789abcdef0123456789abcdef")))
			for _, sd := range seeds {
				checkPipeline(t, s, sd.op, sd.body, sd.mode)
			}
		})
	}
}

// readPipelineSeed reads a "go test fuzz v1" file of FuzzPipeline.
func readPipelineSeed(t *testing.T, file string) (uint8, []byte, uint8) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a FuzzPipeline seed", file)
	}
	num := func(s string) uint8 {
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(s, "uint8("), ")"), 10, 8)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return uint8(n)
	}
	body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return num(lines[1]), []byte(body), num(lines[3])
}

// FuzzSDKAuthorization feeds Authorization headers to the AK/SK parser
// and to the full verification path. Parsing must not panic; a parsed
// header has an access key, a signature and signed headers; a signed
// request's header parses back to what was signed; and no header other
// than one carrying the right signature gets a request through.
func FuzzSDKAuthorization(f *testing.F) {
	s := fuzzServer(f)
	body := []byte(`{"agent":{"agent_id":"a","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`)
	route := "/v3/" + fuzzProject + "/agents"
	signed := httptest.NewRequest("POST", "http://onboard.test"+route, bytes.NewReader(body))
	signed.Header.Set("Content-Type", "application/json")
	SignRequest(signed, body, fuzzAK, fuzzSK, fuzzClock)
	f.Add(signed.Header.Get("Authorization"), signed.Header.Get(sdkDateHeader))
	f.Add("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=00", "20260102T030405Z")
	f.Add("SDK-HMAC-SHA256 ,,,==", "")
	f.Add("SDK-HMAC-SHA256 Access=, SignedHeaders=;, Signature=", "x")
	f.Fuzz(func(t *testing.T, authz, date string) {
		a, err := parseSDKAuthorization(authz)
		if err == nil && (a.access == "" || a.signature == "" || len(a.signedHeaders) == 0) {
			t.Fatalf("parsed %q into an incomplete %+v", authz, a)
		}
		// A clean access key round-trips through SignRequest.
		if ak := strings.TrimSpace(a.access); err == nil && ak != "" && !strings.ContainsAny(ak, ", =") {
			r := httptest.NewRequest("GET", "http://onboard.test"+route, nil)
			SignRequest(r, nil, ak, fuzzSK, fuzzClock)
			back, err := parseSDKAuthorization(r.Header.Get("Authorization"))
			if err != nil || back.access != ak {
				t.Fatalf("SignRequest(%q) does not parse back: %v %+v", ak, err, back)
			}
		}
		r := httptest.NewRequest("POST", "http://onboard.test"+route, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if !validHeaderValue(authz) || !validHeaderValue(date) {
			return // net/http would refuse to send these
		}
		r.Header.Set("Authorization", authz)
		r.Header.Set(sdkDateHeader, date)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("answered %d: %s", w.Code, w.Body.Bytes())
		}
		if w.Code < 300 {
			p, err := parseSDKAuthorization(authz)
			hash, _ := payloadHash("", body)
			if err != nil || p.access != fuzzAK || p.signature != sdkSignature(r, hash, p.signedHeaders, date, fuzzSK) {
				t.Fatalf("a request got %d with Authorization %q", w.Code, authz)
			}
		}
	})
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
