package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/proctest"
)

// Secrets at rest (issue 15): one of every resource is created through a
// real `onboard serve --log-json`, each with an Idempotency-Key (whose
// stored response holds the secrets the create returned), and each is
// replayed once. Then the SQLite file and its WAL, a pg_dump of the
// PostgreSQL schema, and the logs are searched for every secret: PEM
// private keys, EnOS device secrets and session keys, the AK/SK secret
// key, the API tokens and the CES remote-install password. None may be
// there in plain text.
func TestSecretsAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs onboard serve; skipped with -short")
	}
	bin := proctest.Build(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			dbURL := filepath.Join(dir, "onboard.db")
			if kind == "postgres" {
				dbURL = storetest.PostgresURL(t)
			}
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			st, err := stores.Open(context.Background(), store.Config{URL: dbURL, EncryptionKey: key})
			require.NoError(t, err)
			defer st.Close(context.Background())
			s := seedSecrets(t, st)

			srv := proctest.StartArgs(t, bin, []string{"--log-json"}, "ONBOARD_DATA_DIR="+dir, "ONBOARD_DATABASE_URL="+dbURL,
				"ONBOARD_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key))
			s.createEverything(t, srv.URL)

			var places []place
			if kind == "sqlite" {
				// While it runs, recent pages are in the WAL.
				for _, p := range readFiles(t, dbURL+"*") {
					places = append(places, place{p.name + " (running)", p.data})
				}
			}
			require.NoError(t, srv.Stop(context.Background()))
			if kind == "sqlite" {
				places = append(places, readFiles(t, dbURL+"*")...)
			} else {
				places = append(places, place{"pg_dump", pgDump(t, dbURL)})
			}
			places = append(places, place{"--log-json logs", []byte(srv.Log())})
			require.NotEmpty(t, srv.Log())

			for _, p := range places {
				require.NotEmpty(t, p.data, p.name)
				if p.name == "onboard.db" || p.name == "pg_dump" {
					assert.True(t, bytes.Contains(p.data, []byte("enc:v1:")), "%s holds the sealed secrets: the search looks at real rows", p.name)
				}
				for _, sec := range s.secrets {
					assert.False(t, bytes.Contains(p.data, sec.value), "%s: %s in plain text", p.name, sec.what)
					// PostgreSQL dumps bytea as hex.
					assert.False(t, bytes.Contains(p.data, []byte(hex.EncodeToString(sec.value))), "%s: %s in hex", p.name, sec.what)
				}
			}
			t.Logf("%s: %d secrets searched in %d places (%s)", kind, len(s.secrets), len(places), placeNames(places))
		})
	}
}

type secret struct {
	what  string
	value []byte
}

type place struct {
	name string
	data []byte
}

type secretsEnv struct {
	project, org, token, enosToken string
	key                            *rsa.PrivateKey
	secrets                        []secret
}

func (s *secretsEnv) add(what string, v []byte) {
	if len(v) == 0 {
		panic("empty secret: " + what)
	}
	s.secrets = append(s.secrets, secret{what, v})
}

func seedSecrets(t *testing.T, st store.Store) *secretsEnv {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	s := &secretsEnv{project: "proj-secrets", org: "o15000000000079", token: "tok-secret-" + rand.Text(), enosToken: "tok-enos-secret-" + rand.Text()}
	var err error
	s.key, err = rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	require.NoError(t, err)
	require.NoError(t, st.CreateToken(ctx, s.token, &store.Token{ProjectID: s.project, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: s.org, AccountID: "sa-secrets",
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, s.enosToken, &store.Token{OrgID: s.org, AccountID: "sa-secrets", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: s.org, ProductKey: "pk"}))
	sk := "sk-at-rest-" + rand.Text()
	require.NoError(t, st.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: "AKSECRETS", SecretKey: sk, ProjectID: s.project, CreatedAt: now}))
	s.add("API token", []byte(s.token))
	s.add("EnOS bearer token", []byte(s.enosToken))
	s.add("AK/SK secret key", []byte(sk))
	s.add("PEM private key header", []byte("PRIVATE KEY-----"))
	return s
}

// createEverything creates one of each resource with an Idempotency-Key,
// replays each, and records the secrets the answers carried.
func (s *secretsEnv) createEverything(t *testing.T, base string) {
	t.Helper()
	huawei := func(path string, body any, key string, headers ...string) map[string]any {
		t.Helper()
		return postSecrets(t, base+path, body, append([]string{"X-Auth-Token", s.token, "Idempotency-Key", key}, headers...)...)
	}
	p := huawei("/v2/"+s.project+"/productmgr/products", map[string]any{"product": map[string]any{"name": "secret-product"}}, "k-product")
	keyPEM := p["product"].(map[string]any)["private_key"].(string)
	block, _ := pem.Decode([]byte(keyPEM))
	require.NotNil(t, block)
	s.add("IEF product private key", block.Bytes[len(block.Bytes)-24:])
	s.add("IEF product private key (base64)", []byte(strings.Split(keyPEM, "\n")[1]))

	tpl := readCase(t, "iotda.provisioning-template.create", "ok-doc-example-custom-parameters.json")
	tpl["template_name"] = "secret_template"
	huawei("/v5/iot/"+s.project+"/provisioning-templates", tpl, "k-template")
	ca := provisiontest.NewCA(t, "secrets device CA")
	huawei("/v5/iot/"+s.project+"/certificates", map[string]any{"content": ca.PEM}, "k-ca")

	const password = "Remote-Pa55-at-rest-91d3"
	huawei("/v3/"+s.project+"/agent-invocations/batch-create", map[string]any{"invocation_type": "REMOTE_INSTALL",
		"remote_install_meta": []any{map[string]any{"instance_name": "ecs-secret", "remote_ip": "192.168.0.12", "user_name": "root",
			"port": "22", "password": password, "remote_use_pem": false}}}, "k-remote")
	s.add("CES remote-install password", []byte(password))
	huawei("/v3/"+s.project+"/agents", map[string]any{"agent": map[string]any{"agent_id": "agent-secrets", "host_name": "h",
		"host_ip": "10.0.0.9", "host_os": "linux"}}, "k-agent")

	b := postSecrets(t, base+"/connect-service/v2.4/devices?action=batchCreate&orgId="+s.org,
		map[string]any{"requireSecret": true, "deviceList": []any{
			map[string]any{"productKey": "pk", "deviceName": map[string]any{"defaultValue": "d1"}, "timezone": "+08:00"},
			map[string]any{"productKey": "pk", "deviceName": map[string]any{"defaultValue": "d2"}, "timezone": "+08:00"}}},
		"Authorization", "Bearer "+s.enosToken, "Idempotency-Key", "k-devices")
	for _, it := range b["data"].([]any) {
		d := it.(map[string]any)["data"].(map[string]any)
		s.add("EnOS device secret", s.decrypt(t, d["deviceSecret"]))
		s.add("EnOS session key", s.decrypt(t, d["sessionKey"]))
	}
}

func (s *secretsEnv) decrypt(t *testing.T, b64 any) []byte {
	t.Helper()
	ct, err := base64.StdEncoding.DecodeString(b64.(string))
	require.NoError(t, err)
	pt, err := rsa.DecryptOAEP(sha256.New(), nil, s.key, ct, nil)
	require.NoError(t, err)
	return pt
}

// postSecrets sends a create twice with the same headers: the second must
// replay the first, byte for byte.
func postSecrets(t *testing.T, u string, body any, headers ...string) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	var first []byte
	for i := range 2 {
		req, err := http.NewRequest("POST", u, bytes.NewReader(raw))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		for k := 0; k+1 < len(headers); k += 2 {
			req.Header.Set(headers[k], headers[k+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Less(t, resp.StatusCode, 300, "%s: %s", u, got)
		if i == 0 {
			first = got
			continue
		}
		require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"), u)
		require.Equal(t, string(first), string(got), "%s: the replay differs", u)
	}
	var out map[string]any
	require.NoError(t, json.Unmarshal(first, &out))
	return out
}

func readCase(t *testing.T, op, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "cases", op, name))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// readFiles reads every file matching pattern (the database, -wal, -shm).
func readFiles(t *testing.T, pattern string) []place {
	t.Helper()
	names, err := filepath.Glob(pattern)
	require.NoError(t, err)
	var out []place
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		if len(b) > 0 {
			out = append(out, place{filepath.Base(n), b})
		}
	}
	require.NotEmpty(t, out)
	return out
}

// pgDump dumps the schema the test URL's search_path names. pg_dump comes
// with postgresql-client (apt-get install postgresql-client).
func pgDump(t *testing.T, dbURL string) []byte {
	t.Helper()
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Fatalf("pg_dump not found (apt-get install postgresql-client): %v", err)
	}
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	require.NotEmpty(t, schema)
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	out, err := exec.Command("pg_dump", "--data-only", "--schema="+schema, "--dbname="+u.String()).Output()
	require.NoError(t, err)
	require.Contains(t, string(out), "COPY "+schema+".idempotency", "the dump holds the idempotency table")
	return out
}

func placeNames(ps []place) string {
	var names []string
	for _, p := range ps {
		names = append(names, p.name)
	}
	return strings.Join(names, ", ")
}
