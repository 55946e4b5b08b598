package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// UNSIGNED-PAYLOAD leaves the body out of the signature, so a captured
// request could carry any body: onboard refuses it, says why, and writes
// nothing. The server used to accept a request signed that way.
func TestUnsignedPayloadIsRefused(t *testing.T) {
	s := fuzzServer(t)
	route := "/v3/" + fuzzProject + "/agents"
	body := []byte(`{"agent":{"agent_id":"unsigned-1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`)
	for _, declared := range []string{"UNSIGNED-PAYLOAD", "unsigned-payload"} {
		r := httptest.NewRequest("POST", "http://onboard.test"+route, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(sdkContentHeader, declared)
		date := fuzzClock.UTC().Format(sdkDateFormat)
		r.Header.Set(sdkDateHeader, date)
		signed := []string{"content-type", "host", "x-sdk-date"}
		sig := sdkSignature(r, declared, signed, date, fuzzSK) // what a client signing UNSIGNED-PAYLOAD sends
		r.Header.Set("Authorization", sdkAlgorithm+" Access="+fuzzAK+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		assert.Equal(t, 401, w.Code, w.Body.String())
		var e map[string]string
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
		assert.Contains(t, e["error_msg"], "UNSIGNED-PAYLOAD is not accepted: onboard verifies the body")
	}
	_, n, err := s.cfg.Store.ListAgents(t.Context(), store.AgentFilter{ProjectID: fuzzProject})
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestPayloadHash(t *testing.T) {
	body := []byte(`{"a":1}`)
	sum := sha256.Sum256(body)
	lower := hex.EncodeToString(sum[:])
	got, err := payloadHash("", body)
	require.NoError(t, err)
	assert.Equal(t, lower, got, "no header: the hash of the body received")
	got, err = payloadHash(strings.ToUpper(lower), body)
	require.NoError(t, err)
	assert.Equal(t, strings.ToUpper(lower), got, "a matching header is used as sent: the client signed its text")
	_, err = payloadHash(lower, []byte(`{"a":2}`))
	assert.ErrorContains(t, err, "does not match the SHA-256 of the body received")
	_, err = payloadHash("UNSIGNED-PAYLOAD", body)
	assert.ErrorContains(t, err, "UNSIGNED-PAYLOAD is not accepted")
}

// Handlers read header parameters only through call.header, which holds
// what the engine validated: a handler that read r.Header itself would
// store whatever a client sent (a 10,000-byte Instance-Id was). Reading
// headers is left to authentication, request signing, the common checks
// and idempotency.
func TestHandlersReadHeadersThroughTheEngine(t *testing.T) {
	allowed := map[string]bool{"auth.go": true, "signing.go": true, "server.go": true, "idempotency.go": true}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	reads := regexp.MustCompile(`\.Header\.(Get|Values)\(|\.Header\[`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || allowed[f] {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(src), "\n") {
			assert.False(t, reads.MatchString(line),
				"%s:%d reads a request header: declare it in the catalogue's headers and read it with c.header", f, i+1)
		}
	}
}
