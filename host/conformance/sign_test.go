package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/storetest"
)

// A known answer from the official SDK (huaweicloud-sdk-go-v3 v0.1.207,
// core/auth/signer.Sign): this request, with the headers the SDK chose to
// sign (it leaves Content-Type out), signs to this value. The SDK's JSON
// encoder ends the body with a newline; the canonical request was
//
//	POST
//	/v3/p-1/agents/a%20b~c/
//	limit=10&marker=x%2Fy%20z
//	instance-id:inst-1
//	x-sdk-date:20260102T030405Z
//
//	instance-id;x-sdk-date
//	d05c544db5db69c796c9f00e78f1b45ff87229a47d9bd60dd87c8544602f55a1
func TestSignatureMatchesOfficialSDK(t *testing.T) {
	body := []byte("{\"agent\":{\"agent_id\":\"a b/c\"}}\n")
	req, err := http.NewRequest("POST", "http://127.0.0.1:8080/v3/p-1/agents/a%20b~c?limit=10&marker=x%2Fy+z", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Instance-Id", " inst-1 ")
	req.Header.Set(sdkDateHeader, "20260102T030405Z")
	got := signature(req, body, []string{"instance-id", "x-sdk-date"}, "20260102T030405Z", "SKVECTOR")
	assert.Equal(t, "b5254e1de68aa3934d36c02fa5f1f8792c98dd516526a1bcebac25c28c2b2259", got)
}

// The kit's signer and onboard's verifier must never drift: every kind of
// request the kit sends, signed by the kit, is accepted by the server, and
// a request changed after signing is refused.
func TestServerVerifiesKitSignature(t *testing.T) {
	const ak, sk, project = "AKSIGNTEST", "sign-test-secret", "proj-sign"
	st := storetest.Open(t, "sqlite", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, st.CreateAccessKey(context.Background(), &store.AccessKey{AccessKeyID: ak, SecretKey: sk, ProjectID: project, CreatedAt: time.Now()}))
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: st})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	defer ts.Close()

	agent := []byte(`{"agent":{"agent_id":"sign-agent-1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`)
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		body               []byte
		want               int
	}{
		{"register, with a body", "POST", "/v3/proj-sign/agents", nil, agent, http.StatusOK},
		{"list with a query", "GET", "/v3/proj-sign/agents?limit=5&offset=0&agent_id=sign-agent-1", nil, nil, http.StatusOK},
		// Keys keep their case in the canonical query, as the official SDK's signer has it.
		{"query key with capitals", "GET", "/v5/iot/proj-sign/provisioning-templates?Instance-Id=x&limit=1", nil, nil, http.StatusBadRequest}, // past auth: unknown query parameter
		{"escaped path segment", "GET", "/v3/proj-sign/agents/no%20such~agent", nil, nil, http.StatusBadRequest},                              // past auth: the id breaks its pattern
		{"instance and idempotency headers", "POST", "/v5/iot/proj-sign/provisioning-templates",
			map[string]string{"Instance-Id": "inst-sign", "Idempotency-Key": "sign-key-1"},
			[]byte(`{"template_name":"sign_t","template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"}},"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p"}}}}`),
			http.StatusCreated},
		{"fixed query selecting the action", "POST", "/v5/iot/proj-sign/certificates/missing-ca/action?action_id=verify",
			nil, []byte(`{"verify_content":"x"}`), http.StatusNotFound},
		{"delete without a body", "DELETE", "/v3/proj-sign/agents/sign-agent-1", nil, nil, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send := func(tamper func(*http.Request)) *http.Response {
				req, err := http.NewRequest(tc.method, ts.URL+tc.path, bytes.NewReader(tc.body))
				require.NoError(t, err)
				if tc.body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				signRequest(req, tc.body, ak, sk, time.Now())
				if tamper != nil {
					tamper(req)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				t.Cleanup(func() { resp.Body.Close() })
				return resp
			}
			// Tampered first: the untampered request may delete what it names.
			if tc.body != nil {
				resp := send(func(req *http.Request) {
					b := append(bytes.Clone(tc.body[:len(tc.body)-1]), ' ', '}')
					req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				})
				assertAuthRefused(t, resp, "a body changed after signing")
			}
			if len(tc.header) > 0 {
				resp := send(func(req *http.Request) { req.Header.Set("Instance-Id", "inst-other") })
				assertAuthRefused(t, resp, "a signed header changed after signing")
			}
			resp := send(func(req *http.Request) { req.URL.RawQuery += "&offset=1" })
			assertAuthRefused(t, resp, "a query changed after signing")
			resp = send(nil)
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.want, resp.StatusCode, "%s", b)
		})
	}
}

func assertAuthRefused(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	var e struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_msg"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s must be refused: %+v", what, e)
	assert.True(t, strings.Contains(e.Msg, "signature"), "%s: %s", what, e.Msg)
}
