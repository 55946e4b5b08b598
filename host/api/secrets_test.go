package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
)

// TestSecretsAtRestOverHTTP (issue 9, item 6) complements
// TestAccessLogHasNoSecrets (observe_test.go, the access log): every secret
// the API hands out or takes in (IEF product private key and project CA
// key, EnOS device secret, CES remote-install password, AK/SK secret key,
// tokens) is looked up in its raw database row, on both SQL adapters, and
// in the server's debug log. Tokens are stored only as SHA-256 hashes, which
// is also why a token needs no constant-time comparison: it is found by
// the hash of what the client sent, never compared with a stored secret.
func TestSecretsAtRestOverHTTP(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			logs := &cesLogBuffer{}
			e := isolationEnvWith(t, kind, func(c *api.Config) {
				c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			rr, ok := e.store.(store.RawRowReader)
			require.True(t, ok)
			ctx := context.Background()
			raw := func(table, id string) string {
				t.Helper()
				s, err := rr.RawRow(ctx, table, id)
				require.NoError(t, err)
				require.NotEmpty(t, s)
				return s
			}
			type secret struct{ what, table, id, value string }
			var secrets []secret

			r := e.do("POST", "/v2/"+projA+"/productmgr/products", e.tokenA, `{"product":{"name":"secret-check"}}`)
			require.Equal(t, http.StatusCreated, r.status, string(r.raw))
			p := r.body["product"].(map[string]any)
			secrets = append(secrets, secret{"IEF product private key", "products", p["id"].(string), pemBody(p["private_key"].(string))})
			_, caKey, err := e.store.GetOrCreateProjectCA(ctx, projA, nil)
			require.NoError(t, err)
			secrets = append(secrets, secret{"project CA key", "project_cas", projA, pemBody(caKey)})

			r = e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk", "secret-dev")))
			asset := enosItems(t, r)[0]["data"].(map[string]any)["assetId"].(string)
			dev, err := e.store.GetDevice(ctx, enosOrgA, asset)
			require.NoError(t, err)
			secrets = append(secrets, secret{"EnOS device secret", "devices", asset, dev.DeviceSecret})

			const password = "Pa55-at-rest-6b1f"
			r = e.do("POST", "/v3/"+projA+"/agent-invocations/batch-create", e.tokenA, map[string]any{"invocation_type": "REMOTE_INSTALL",
				"remote_install_meta": []any{map[string]any{"instance_name": "ecs-remote", "remote_ip": "192.168.0.10", "user_name": "root",
					"port": "22", "password": password, "remote_use_pem": false}}})
			require.Equal(t, http.StatusCreated, r.status, string(r.raw))
			inv := r.body["invocations"].([]any)[0].(map[string]any)["invocation_id"].(string)
			secrets = append(secrets, secret{"CES remote-install password", "agent_invocations", inv, password})

			// B's AK/SK signs a request (so it is used), then is checked at rest.
			r = e.signed("GET", "/v3/"+projB+"/agents", nil, timeNow())
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			secrets = append(secrets, secret{"AK/SK secret key", "access_keys", e.ak, e.sk})

			sum := sha256.Sum256([]byte(e.tokenA))
			hash := hex.EncodeToString(sum[:])
			tokRow := raw("tokens", hash)
			assert.NotContains(t, tokRow, e.tokenA, "token stored in plain text")

			out := logs.String()
			require.NotEmpty(t, out)
			for _, s := range secrets {
				assert.NotContains(t, raw(s.table, s.id), s.value, "%s stored in plain text", s.what)
				assert.NotContains(t, out, s.value, "%s reached the log", s.what)
			}
			for _, tok := range []string{e.tokenA, e.tokenB, e.bare, e.sk} {
				assert.NotContains(t, out, tok, "a credential reached the log")
			}
			t.Logf("%d secrets absent from raw rows and from %d bytes of debug log; tokens stored as SHA-256 only", len(secrets)+1, len(out))
		})
	}
}

// pemBody is the base64 body of a PEM block (what would show in a row).
func pemBody(p string) string {
	lines := strings.Split(strings.TrimSpace(p), "\n")
	if len(lines) < 3 {
		return p
	}
	return lines[1]
}
