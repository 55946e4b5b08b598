package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rsaKeys are generated once per test binary: generating one is slow.
var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var out []*rsa.PrivateKey
	for range 2 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out = append(out, k)
	}
	return out
})

// writeKeyPair writes key as openssl does: a PKCS #8 private key file and
// a PKIX public key file, and returns their paths.
func writeKeyPair(t *testing.T, key *rsa.PrivateKey) (private, public string) {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	private = filepath.Join(dir, "sa.key")
	require.NoError(t, os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	public = filepath.Join(dir, "sa.pub.pem")
	require.NoError(t, os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))
	return private, public
}

// cli runs onboard against dataDir's store and requires exit code want.
func cli(t *testing.T, dataDir string, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := onboard(t, "", append(args, "--data-dir", dataDir)...)
	require.Equal(t, want, code, "onboard %v\nstdout: %s\nstderr: %s", args, out, errOut)
	return out, errOut
}

// batch posts an EnOS batch with requireSecret and returns its items.
func batch(t *testing.T, base, org, token string, devices ...string) []map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"requireSecret":true,"deviceList":[%s]}`, strings.Join(devices, ","))
	req, err := http.NewRequest("POST", base+"/connect-service/v2.4/devices?action=batchCreate&orgId="+org, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Code int              `json:"code"`
		Msg  string           `json:"msg"`
		Data []map[string]any `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusOK, resp.StatusCode, out.Msg)
	require.Equal(t, 0, out.Code, out.Msg)
	return out.Data
}

func device(pk, key string) string {
	return fmt.Sprintf(`{"productKey":%q,"deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceKey":%q}`, pk, key)
}

// decrypt opens one sealed value with key (RSA-OAEP-SHA256, base64).
func decrypt(key *rsa.PrivateKey, v any) ([]byte, error) {
	s, _ := v.(string)
	ct, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return rsa.DecryptOAEP(sha256.New(), nil, key, ct, nil)
}

// TestAccountKeyEndToEnd is the README's EnOS path with the CLI and HTTP
// only: register an account with its RSA public key and a product, issue
// a token, and the requireSecret secrets decrypt with the private key.
// After rotate-key they decrypt with the new key only; delete revokes.
func TestAccountKeyEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	keys := rsaKeys()
	_, pub1 := writeKeyPair(t, keys[0])
	_, pub2 := writeKeyPair(t, keys[1])

	out, _ := cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "sa1", "--public-key", pub1)
	assert.Contains(t, out, "created service account sa1 of org o1 (RSA public key set ")
	cli(t, dataDir, exitOK, "enos-product", "create", "--org", "o1", "--product-key", "meterPK", "--name", "Meter")
	token := createToken(t, dataDir, "--org", "o1", "--account", "sa1")

	lines := startServe(t, dataDir)
	base := listening(t, lines)
	drain(lines)

	its := batch(t, base, "o1", token, device("meterPK", "dev-0001"), device("nosuchPK", "dev-0002"))
	require.Len(t, its, 2)
	assert.EqualValues(t, 0, its[0]["code"], its[0]["msg"])
	assert.EqualValues(t, 11404, its[1]["code"], "a product that was not created")
	data := its[0]["data"].(map[string]any)
	secret, err := decrypt(keys[0], data["deviceSecret"])
	require.NoError(t, err, "deviceSecret opens with the account's private key")
	assert.Len(t, secret, 20)
	session, err := decrypt(keys[0], data["sessionKey"])
	require.NoError(t, err, "sessionKey opens with the account's private key")
	assert.Len(t, session, 16)

	out, _ = cli(t, dataDir, exitOK, "account", "rotate-key", "--org", "o1", "--account", "sa1", "--public-key", pub2)
	assert.Contains(t, out, "rotated")
	data = batch(t, base, "o1", token, device("meterPK", "dev-0003"))[0]["data"].(map[string]any)
	_, err = decrypt(keys[1], data["deviceSecret"])
	require.NoError(t, err, "after rotation the new key opens the secrets")
	_, err = decrypt(keys[0], data["deviceSecret"])
	require.Error(t, err, "and the old one does not")

	out, _ = cli(t, dataDir, exitOK, "account", "list", "--org", "o1", "--json")
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 1)
	assert.Equal(t, "sa1", rows[0]["account"])
	assert.Equal(t, true, rows[0]["public_key"])
	assert.NotEmpty(t, rows[0]["key_updated_at"])
	out, _ = cli(t, dataDir, exitOK, "enos-product", "list", "--org", "o1")
	assert.Regexp(t, `o1\s+meterPK\s+Meter\s+`, out)

	_, errOut := cli(t, dataDir, exitInvalid, "enos-product", "delete", "--org", "o1", "--product-key", "meterPK")
	assert.Contains(t, errOut, "product meterPK of org o1 still has devices")

	status := func() int {
		req, err := http.NewRequest("POST", base+"/connect-service/v2.4/devices?action=search&orgId=o1", bytes.NewBufferString(`{}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	cli(t, dataDir, exitOK, "account", "set-access", "--org", "o1", "--account", "sa1", "--device-access=false")
	assert.Equal(t, http.StatusForbidden, status(), "no Device Management Service policy, no device calls")
	cli(t, dataDir, exitOK, "account", "set-access", "--org", "o1", "--account", "sa1", "--device-access=true")
	assert.Equal(t, http.StatusOK, status())

	cli(t, dataDir, exitOK, "account", "delete", "--org", "o1", "--account", "sa1")
	assert.Equal(t, http.StatusUnauthorized, status(), "the deleted account's token is revoked")
}

// What the commands refuse, and how they say it.
func TestAccountAndProductErrors(t *testing.T) {
	dataDir := t.TempDir()
	priv, pub := writeKeyPair(t, rsaKeys()[0])

	_, errOut := cli(t, dataDir, exitInvalid, "token", "create", "--org", "o1", "--account", "ghost")
	assert.Contains(t, errOut, "no service account ghost in org o1: create it first with `onboard account create --org o1 --account ghost")

	_, errOut = cli(t, dataDir, exitUsage, "account", "create", "--org", "o1")
	assert.Contains(t, errOut, "missing --account")
	_, errOut = cli(t, dataDir, exitUsage, "account", "create", "--org", "o1", "--account", "sa1", "--public-key", priv)
	assert.Contains(t, errOut, `PEM block "PRIVATE KEY" is not a public key`)
	assert.Contains(t, errOut, "openssl pkey -in sa.key -pubout", "says how to make the public key")
	_, errOut = cli(t, dataDir, exitUsage, "account", "create", "--org", "o1", "--account", "sa1", "--public-key", filepath.Join(dataDir, "missing.pem"))
	assert.Contains(t, errOut, "no such file")

	out, _ := cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "nokey")
	assert.Contains(t, out, "no RSA public key: requireSecret gets 11858")
	_, errOut = cli(t, dataDir, exitInvalid, "account", "create", "--org", "o1", "--account", "nokey", "--public-key", pub)
	assert.Contains(t, errOut, "service account nokey of org o1 exists")
	_, errOut = cli(t, dataDir, exitInvalid, "account", "rotate-key", "--org", "o1", "--account", "ghost", "--public-key", pub)
	assert.Contains(t, errOut, "no service account ghost in org o1")
	_, errOut = cli(t, dataDir, exitUsage, "account", "rotate-key", "--org", "o1", "--account", "nokey")
	assert.Contains(t, errOut, "missing --public-key")
	_, errOut = cli(t, dataDir, exitInvalid, "account", "delete", "--org", "o1", "--account", "ghost")
	assert.Contains(t, errOut, "no service account ghost in org o1")
	out, _ = cli(t, dataDir, exitOK, "account", "list")
	assert.Regexp(t, `o1\s+nokey\s+none \(requireSecret: 11858\)\s+yes`, out)
	out, _ = cli(t, dataDir, exitOK, "account", "set-access", "--org", "o1", "--account", "nokey", "--device-access=false")
	assert.Contains(t, out, "is no longer authorized the Device Management Service policy")
	out, _ = cli(t, dataDir, exitOK, "account", "list", "--org", "o1")
	assert.Regexp(t, `o1\s+nokey\s+none \(requireSecret: 11858\)\s+no \(99403\)`, out)
	_, errOut = cli(t, dataDir, exitUsage, "account", "set-access", "--org", "o1", "--account", "nokey", "--device-access", "maybe")
	assert.Contains(t, errOut, "give true or false")
	_, errOut = cli(t, dataDir, exitInvalid, "account", "set-access", "--org", "o1", "--account", "ghost", "--device-access", "true")
	assert.Contains(t, errOut, "no service account ghost in org o1")
	out, _ = cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "locked", "--device-access=false")
	assert.Contains(t, out, "no device access: the EnOS device APIs answer 99403")

	_, errOut = cli(t, dataDir, exitUsage, "enos-product", "create", "--org", "o1", "--product-key", "has space")
	assert.Contains(t, errOut, "a product key is 1 to 64 letters, digits, underscores and hyphens")
	cli(t, dataDir, exitOK, "enos-product", "create", "--org", "o1", "--product-key", "pk")
	_, errOut = cli(t, dataDir, exitInvalid, "enos-product", "create", "--org", "o1", "--product-key", "pk")
	assert.Contains(t, errOut, "product pk exists in org o1")
	_, errOut = cli(t, dataDir, exitInvalid, "enos-product", "delete", "--org", "o1", "--product-key", "nope")
	assert.Contains(t, errOut, "no product nope in org o1")
	cli(t, dataDir, exitOK, "enos-product", "delete", "--org", "o1", "--product-key", "pk")

	code, _, errOut := onboard(t, "", "account", "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "onboard account rotate-key --org ORG --account ACCOUNT --public-key FILE.pem")
	code, _, _ = onboard(t, "", "enos-product", "-h")
	assert.Equal(t, exitOK, code)
}
