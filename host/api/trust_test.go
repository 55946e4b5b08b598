package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
)

// Issue 15: authentication, header parameters and content types, tried
// as an attacker would. Each test failed on the code before the fix.

func agentJSON(id string) []byte {
	return []byte(`{"agent":{"agent_id":"` + id + `","host_name":"h","host_ip":"10.0.0.2","host_os":"linux"}}`)
}

func agentCount(t *testing.T, e *env) int {
	t.Helper()
	_, n, err := e.store.ListAgents(context.Background(), store.AgentFilter{ProjectID: projA})
	require.NoError(t, err)
	return n
}

// A captured signed request must not carry another body. The server took
// the body hash from the unsigned X-Sdk-Content-Sha256, so the forged body
// was answered 200 and stored.
func TestAKSKSignatureCoversTheBodyReceived(t *testing.T) {
	e := newEnv(t, "sqlite")
	signedFor, forged := agentJSON("signed-a"), agentJSON("forged-b")
	sum := sha256.Sum256(signedFor)
	req, err := http.NewRequest("POST", e.url+agentsPath, bytes.NewReader(forged))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sdk-Content-Sha256", hex.EncodeToString(sum[:]))
	api.SignRequest(req, signedFor, e.ak, e.sk, time.Now())
	r := e.send(req)
	assert.Equal(t, http.StatusUnauthorized, r.status, string(r.raw))
	assert.Contains(t, r.body["error_msg"], "X-Sdk-Content-Sha256 does not match the SHA-256 of the body received")
	assert.Zero(t, agentCount(t, e), "the forged body was stored")

	// The header is fine when it is the body's hash (the SDKs may send it).
	req, err = http.NewRequest("POST", e.url+agentsPath, bytes.NewReader(signedFor))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sdk-Content-Sha256", hex.EncodeToString(sum[:]))
	api.SignRequest(req, signedFor, e.ak, e.sk, time.Now())
	r = e.send(req)
	assert.Equal(t, http.StatusOK, r.status, string(r.raw))
}

// Every header authentication reads counts once: with two, a proxy that
// checks the first and a server that reads the last could each see a
// different credential. The server used to take the first.
func TestCredentialHeadersCountOnce(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	ctx := context.Background()
	e.tokenA = "tok-a-once"
	require.NoError(t, e.store.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	e.ak, e.sk = "AKONCE", "secret-key-once"
	require.NoError(t, e.store.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: e.ak, SecretKey: e.sk, ProjectID: projA, CreatedAt: time.Now()}))

	signed := func(path string, body []byte) *http.Request {
		req, err := http.NewRequest("POST", e.url+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		api.SignRequest(req, body, e.ak, e.sk, time.Now())
		return req
	}
	body := agentJSON("once-1")
	cases := []struct {
		name string
		req  func() *http.Request
		msg  string
	}{
		{"X-Auth-Token twice", func() *http.Request {
			req := signed(agentsPath, body)
			req.Header.Del("Authorization")
			req.Header["X-Auth-Token"] = []string{e.tokenA, "someone-else"}
			return req
		}, "header X-Auth-Token is given 2 times"},
		{"Authorization twice", func() *http.Request {
			req := signed(agentsPath, body)
			req.Header.Add("Authorization", "SDK-HMAC-SHA256 Access=OTHER, SignedHeaders=x-sdk-date, Signature=00")
			return req
		}, "header Authorization is given 2 times"},
		{"X-Sdk-Date twice", func() *http.Request {
			req := signed(agentsPath, body)
			req.Header.Add("X-Sdk-Date", "20200101T000000Z")
			return req
		}, "header X-Sdk-Date is given 2 times"},
		{"X-Sdk-Content-Sha256 twice", func() *http.Request {
			req := signed(agentsPath, body)
			sum := sha256.Sum256(body)
			req.Header["X-Sdk-Content-Sha256"] = []string{hex.EncodeToString(sum[:]), "UNSIGNED-PAYLOAD"}
			return req
		}, "header X-Sdk-Content-Sha256 is given 2 times"},
		{"a token and a signature", func() *http.Request {
			req := signed(agentsPath, body)
			req.Header.Set("X-Auth-Token", e.tokenA)
			return req
		}, "not both"},
		{"Access twice in one Authorization", func() *http.Request {
			req := signed(agentsPath, body)
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), ", SignedHeaders", ", Access=OTHER, SignedHeaders", 1))
			return req
		}, "each once"},
		{"SignedHeaders without x-sdk-date", func() *http.Request {
			req := signed(agentsPath, body)
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), ";x-sdk-date", "", 1))
			return req
		}, "SignedHeaders must include x-sdk-date"},
		{"EnOS bearer twice", func() *http.Request {
			req, err := http.NewRequest("POST", e.url+enosBatchPath, strings.NewReader(`{"deviceList":[`+device("")+`]}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header["Authorization"] = []string{"Bearer " + e.bare, "Bearer " + e.tokB}
			return req
		}, "header Authorization is given 2 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.send(c.req())
			assert.Equal(t, http.StatusUnauthorized, r.status, string(r.raw))
			assert.Contains(t, string(r.raw), c.msg)
		})
	}
	// The same requests, each header once, pass: the refusals above are
	// about the repetition, not the credentials.
	r := e.send(signed(agentsPath, body))
	assert.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.Equal(t, 1, agentCount(t, e.env))
	assert.Zero(t, e.deviceCount(enosOrgA))
}

// JSON is UTF-8 (RFC 8259 §8.1): another charset gets 415 in the
// service's error shape; CES's table makes Content-Type optional, with
// application/json; charset=UTF-8 as the default.
func TestContentType(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	ctx := context.Background()
	e.tokenA = "tok-a-ct"
	require.NoError(t, e.store.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	cesPath := "/v3/" + projA + "/agent-invocations/batch-create"
	ces := `{"invocation_type":"INSTALL","instance_ids":["instance-ct-%d"]}`
	send := func(path string, body string, contentType ...string) response {
		req, err := http.NewRequest("POST", e.url+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header["Content-Type"] = contentType
		if strings.HasPrefix(path, "/connect-service/") {
			req.Header.Set("Authorization", "Bearer "+e.bare)
		} else {
			req.Header.Set("X-Auth-Token", e.tokenA)
		}
		return e.send(req)
	}
	n := 0
	cesBody := func() string { n++; return strings.Replace(ces, "%d", string(rune('0'+n)), 1) }
	cases := []struct {
		name, path, body string
		contentType      []string
		status           int
		want             string
	}{
		{"utf-16", agentsPath, string(agentJSON("ct-1")), []string{"application/json; charset=utf-16"}, 415, `"error_code":"BackupService.0415"`},
		{"UTF-16 upper case", agentsPath, string(agentJSON("ct-1")), []string{"application/json;CHARSET=UTF-16"}, 415, `charset \"UTF-16\" is not supported`},
		{"latin-1 (EnOS)", enosBatchPath, `{"deviceList":[` + device("") + `]}`, []string{"application/json; charset=iso-8859-1"}, 415, `"code":99415`},
		{"utf-16 (CES)", cesPath, cesBody(), []string{"application/json; charset=utf-16"}, 415, `"error_code":"ces.0415"`},
		{"text/plain", agentsPath, string(agentJSON("ct-1")), []string{"text/plain"}, 415, "Content-Type must be application/json"},
		{"malformed", agentsPath, string(agentJSON("ct-1")), []string{"application/json; charset"}, 415, "malformed"},
		{"missing", agentsPath, string(agentJSON("ct-1")), nil, 415, "Content-Type is missing"},
		{"twice", agentsPath, string(agentJSON("ct-1")), []string{"application/json", "application/json; charset=utf-16"}, 400, "header Content-Type is given 2 times"},
		{"quoted UTF-8", agentsPath, string(agentJSON("ct-2")), []string{`application/json; charset="UTF-8"`}, 200, `"agent_id":"ct-2"`},
		{"upper case", agentsPath, string(agentJSON("ct-3")), []string{"APPLICATION/JSON;CHARSET=utf-8"}, 200, `"agent_id":"ct-3"`},
		{"missing (CES: the table's default)", cesPath, cesBody(), nil, 201, `"ret_status":"successful"`},
		{"without charset (CES)", cesPath, cesBody(), []string{"application/json"}, 201, `"ret_status":"successful"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := send(c.path, c.body, c.contentType...)
			assert.Equal(t, c.status, r.status, string(r.raw))
			assert.Contains(t, string(r.raw), c.want)
		})
	}
	assert.Equal(t, 2, agentCount(t, e.env), "only the UTF-8 bodies were stored")
}

// Header parameters are checked by the engine like path and query
// parameters; every parameter reaches it with the client's bytes. Before,
// a 10,000-byte Instance-Id was stored and a non-UTF-8 one, like a
// non-UTF-8 query or path value or access key, got 500 from PostgreSQL.
func TestHostileParameters(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := hostileEnv(t, kind)
			e.ak, e.sk = "AKHOSTILE"+strings.ToUpper(kind), "secret-key-hostile"
			require.NoError(t, e.store.CreateAccessKey(context.Background(), &store.AccessKey{AccessKeyID: e.ak, SecretKey: e.sk, ProjectID: projA, CreatedAt: time.Now()}))
			template := string(mustJSON(t, templateNamed(t, "hostileTemplate")))
			long := strings.Repeat("i", 10_000)
			cases := []struct {
				name, method, path, body string
				headers                  []string // name, value pairs; a name may repeat
				status                   int
				want                     string
			}{
				{"10,000-byte Instance-Id", "POST", templatesPath, template, []string{"Instance-Id", long}, 400, "params.maxLength: parameter Instance-Id: must be at most 64 characters, got 10000"},
				{"non-UTF-8 Instance-Id", "POST", templatesPath, template, []string{"Instance-Id", "inst-\xff\xfe"}, 400, "parameter Instance-Id: invalid UTF-8"},
				{"non-UTF-8 Instance-Id on a read", "GET", templatesPath, "", []string{"Instance-Id", "\xc3\x28"}, 400, "Instance-Id"},
				{"Instance-Id twice", "POST", templatesPath, template, []string{"Instance-Id", "inst-1", "Instance-Id", "inst-2"}, 400, "header Instance-Id is given 2 times"},
				{"Instance-Id in the query", "GET", templatesPath + "?Instance-Id=inst-1", "", nil, 400, "is a header parameter"},
				{"Instance-Id with a space", "GET", templatesPath, "", []string{"Instance-Id", "inst 1"}, 400, "params.pattern: parameter Instance-Id:"},
				{"10,000-byte ief-instance-id", "POST", productsPath, `{"product":{"name":"hostile-1"}}`, []string{"ief-instance-id", long}, 400, "params.maxLength: parameter ief-instance-id:"},
				{"non-UTF-8 query value", "GET", agentsPath + "?agent_id=%FF", "", nil, 400, "parameter agent_id: invalid UTF-8"},
				{"NUL in a query value", "GET", "/v3/" + projA + "/agent-invocations?instance_id=a%00b", "", nil, 400, "nul"},
				{"non-UTF-8 path value", "GET", agentsPath + "/%FF%FE", "", nil, 400, "UTF-8"},
				{"query repeating a path parameter", "GET", agentsPath + "?project_id=" + projA, "", nil, 400, "repeats a path or header parameter"},
				{"non-ASCII token", "GET", agentsPath, "", []string{"X-Auth-Token", "tok-\xff"}, 401, "unknown or expired"},
				{"non-UTF-8 access key", "GET", agentsPath, "", []string{"Authorization", "SDK-HMAC-SHA256 Access=AK\xff, SignedHeaders=x-sdk-date, Signature=00",
					"X-Sdk-Date", time.Now().UTC().Format("20060102T150405Z")}, 401, "unknown access key"},
				{"non-ASCII bearer", "GET", "/connect-service/v2.4/devices?action=get&orgId=" + enosOrgA + "&assetId=a1", "", []string{"Authorization", "Bearer tok-\xe9"}, 401, "bearer token is unknown"},
				{"non-UTF-8 orgId", "GET", "/connect-service/v2.4/devices?action=get&assetId=a1&orgId=%FF", "", []string{"Authorization", "Bearer " + e.bare}, 403, "another organization"},
				{"non-UTF-8 Idempotency-Key", "POST", agentsPath, string(agentJSON("idem-1")), []string{"Idempotency-Key", "key-\xff\xfe"}, 400, "printable ASCII"},
				{"Idempotency-Key twice", "POST", agentsPath, string(agentJSON("idem-1")), []string{"Idempotency-Key", "k1", "Idempotency-Key", "k2"}, 400, "given 2 times"},
				{"100 KB path", "GET", "/v3/" + strings.Repeat("p", 100_000), "", nil, 404, "(100004 bytes)"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					req, err := http.NewRequest(c.method, e.url+c.path, strings.NewReader(c.body))
					require.NoError(t, err)
					if c.body != "" {
						req.Header.Set("Content-Type", "application/json")
					}
					if !slices.Contains(c.headers, "Authorization") && !slices.Contains(c.headers, "X-Auth-Token") {
						req.Header.Set("X-Auth-Token", e.tokenA)
					}
					for i := 0; i+1 < len(c.headers); i += 2 {
						req.Header.Add(c.headers[i], c.headers[i+1])
					}
					r := e.send(req)
					assert.Less(t, r.status, 500, string(r.raw))
					assert.Equal(t, c.status, r.status, string(r.raw))
					assert.Contains(t, string(r.raw), c.want)
					assert.Less(t, len(r.raw), 2048, "the answer echoes the value")
				})
			}
			page, err := e.store.ListTemplates(context.Background(), store.TemplateFilter{ProjectID: projA, InstanceID: long})
			require.NoError(t, err)
			assert.Zero(t, page.Total, "a template was written under the 10,000-byte instance")
			e.assertNothingWritten(t)

			// A valid Instance-Id still scopes what it names.
			r := e.do("POST", templatesPath, e.tokenA, template, "Instance-Id", "inst-1")
			require.Equal(t, http.StatusCreated, r.status, string(r.raw))
			list := e.do("GET", templatesPath, e.tokenA, nil, "Instance-Id", "inst-1")
			assert.Contains(t, string(list.raw), "hostileTemplate")
			list = e.do("GET", templatesPath, e.tokenA, nil)
			assert.NotContains(t, string(list.raw), "hostileTemplate")
		})
	}
}

// U+0000 gets the same answer on every store: the item that holds it fails
// on its own (rule nul), the others are created. PostgreSQL used to fail
// the whole batch with 500 while SQLite stored the NUL.
func TestNulFailsOneItemOnEveryStore(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnOSEnv(t, kind, 0)
			r := e.batchCreate(enosOrgA, e.bare, `{"deviceList":[`+device(`,"deviceKey":"nul-0"`)+`,`+
				device(`,"deviceKey":"nul-1","deviceDesc":"a\u0000b"`)+`,`+device(`,"deviceKey":"nul-2","deviceTags":{"t":"\u0000"}`)+`,`+
				device(`,"deviceKey":"nul-3"`)+`]}`)
			items := enosItems(t, r)
			require.Len(t, items, 4)
			for i, it := range items {
				if i == 1 || i == 2 {
					assert.EqualValues(t, 99400, it["code"], "%v", it)
					assert.Contains(t, it["msg"], ": nul: ")
					continue
				}
				assert.EqualValues(t, 0, it["code"], "%v", it)
			}
			assert.EqualValues(t, 2, r.body["successSize"])
			assert.Equal(t, 2, e.deviceCount(enosOrgA))
		})
	}
}

// Numbers in EnOS deviceAttributes come back digit for digit: through
// float64, 9007199254740993 was stored as …992, and 1e400 failed its item.
func TestEnOSAttributeNumbersStayExact(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnOSEnv(t, kind, 0)
			attrs := `{"big":9007199254740993,"huge":1e400,"tiny":-1.5e-400,"pi":3.14159265358979323846264338327950288,"nested":{"list":[12345678901234567890,0.1]}}`
			r := e.batchCreate(enosOrgA, e.bare, `{"deviceList":[`+device(`,"deviceKey":"exact-1","deviceAttributes":`+attrs)+`]}`)
			items := enosItems(t, r)
			require.EqualValues(t, 0, items[0]["code"], "%v", items[0])
			asset := items[0]["data"].(map[string]any)["assetId"].(string)
			// Read raw: 1e400 is beyond what the harness's float64 decoding holds.
			raw := func(method, query, body string) string {
				req, err := http.NewRequest(method, e.url+"/connect-service/v2.4/devices?"+query, strings.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+e.bare)
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
				return string(b)
			}
			got := raw("GET", "action=get&orgId="+enosOrgA+"&assetId="+asset, "")
			projected := raw("POST", "action=search&orgId="+enosOrgA, `{"projection":["deviceAttributes"]}`)
			for _, want := range []string{`"big":9007199254740993`, `"huge":1e400`, `"tiny":-1.5e-400`,
				`"pi":3.14159265358979323846264338327950288`, `"list":[12345678901234567890,0.1]`} {
				assert.Contains(t, got, want)
				assert.Contains(t, projected, want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
