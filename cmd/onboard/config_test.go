package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Settings come from the flag, then the environment, then the config
// file, then the default.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "onboard.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"addr":"127.0.0.1:7000","data_dir":"`+dir+`","database_url":"from-file.db","enos_batch_limit":50}`), 0o600))
	t.Setenv("ONBOARD_ADDR", "")
	t.Setenv("ONBOARD_DATA_DIR", "")
	t.Setenv("ONBOARD_ENCRYPTION_KEY", "")
	t.Setenv("ONBOARD_DATABASE_URL", "from-env.db")

	c := config{Addr: "127.0.0.1:9000"} // as if given by --addr
	require.NoError(t, c.resolve(file))
	assert.Equal(t, "127.0.0.1:9000", c.Addr, "the flag wins")
	assert.Equal(t, "from-env.db", c.DatabaseURL, "the environment beats the file")
	assert.Equal(t, dir, c.DataDir, "the file beats the default")
	assert.Equal(t, 50, c.EnOSBatch)

	t.Setenv("ONBOARD_DATABASE_URL", "")
	var d config
	require.NoError(t, d.resolve(""))
	assert.Equal(t, "127.0.0.1:8080", d.Addr)
	assert.Equal(t, filepath.Join(d.DataDir, "onboard.db"), d.DatabaseURL, "SQLite in the data dir by default")

	require.NoError(t, os.WriteFile(file, []byte(`{"adress":"typo"}`), 0o600))
	var e config
	assert.ErrorContains(t, e.resolve(file), "adress", "unknown settings are errors, not silently ignored")
}

func TestEncryptionKeyIsValidated(t *testing.T) {
	c := config{EncryptionKey: "c2hvcnQ=", DataDir: t.TempDir()}
	_, err := c.key()
	assert.ErrorContains(t, err, "32 bytes")
}

func TestDescribeStoreHidesPassword(t *testing.T) {
	c := config{DatabaseURL: "postgres://app:s3cret@db:5432/onboard"}
	assert.NotContains(t, c.describeStore(), "s3cret")
}

// The config file's "admission" sizes serve's lanes; a negative size is
// refused.
func TestAdmissionFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "onboard.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"admission":{"bulk":{"slots":1,"queue":2},"read":{"slots":8},"bulk_bytes":32768}}`), 0o600))
	lines := startServe(t, dir, "--config", file)
	base := listening(t, lines)
	drain(lines)
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, series := range []string{`onboard_admission_slots{lane="bulk"} 1`, `onboard_admission_queue{lane="bulk"} 2`,
		`onboard_admission_slots{lane="read"} 8`, `onboard_admission_queue{lane="read"} 512`} {
		assert.Contains(t, string(b), series+"\n", "the file's sizes, defaults for the rest")
	}

	require.NoError(t, os.WriteFile(file, []byte(`{"admission":{"write":{"queue":-1}}}`), 0o600))
	var c config
	assert.ErrorContains(t, c.resolve(file), "must not be negative")
}

// enos_batch_limits sets the batch limit per org beside the global
// enos_batch_limit; a limit that is not positive is refused, naming it.
func TestConfigPerOrgBatchLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "onboard.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"enos_batch_limit":500,"enos_batch_limits":{"o1":20,"o2":2000}}`), 0o600))
	var c config
	require.NoError(t, c.resolve(file))
	assert.Equal(t, 500, c.EnOSBatch)
	assert.Equal(t, map[string]int{"o1": 20, "o2": 2000}, c.EnOSBatchLimits)

	for _, bad := range []string{`{"enos_batch_limits":{"o1":0}}`, `{"enos_batch_limits":{"o1":-5}}`, `{"enos_batch_limits":{"":10}}`} {
		require.NoError(t, os.WriteFile(file, []byte(bad), 0o600))
		var d config
		err := d.resolve(file)
		assert.ErrorContains(t, err, "enos_batch_limits", bad)
		assert.ErrorContains(t, err, "positive number of devices per batch", bad)
	}
}

// serve applies enos_batch_limits from its config file at start: org o1
// gets its own limit, another org the global one.
func TestServeAppliesPerOrgBatchLimits(t *testing.T) {
	dataDir := t.TempDir()
	file := filepath.Join(t.TempDir(), "onboard.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"enos_batch_limit":3,"enos_batch_limits":{"o1":1}}`), 0o600))
	tokens := map[string]string{}
	for _, org := range []string{"o1", "o2"} {
		cli(t, dataDir, exitOK, "account", "create", "--org", org, "--account", "sa")
		cli(t, dataDir, exitOK, "enos-product", "create", "--org", org, "--product-key", "pk")
		tokens[org] = createToken(t, dataDir, "--org", org, "--account", "sa")
	}
	lines := startServe(t, dataDir, "--config", file)
	base := listening(t, lines)
	drain(lines)

	code := func(org string, n int) any {
		var devs []string
		for i := range n {
			devs = append(devs, device("pk", fmt.Sprintf("dev-%s-%d-%d", org, n, i)))
		}
		req, err := http.NewRequest("POST", base+"/connect-service/v2.4/devices?action=batchCreate&orgId="+org,
			strings.NewReader(`{"deviceList":[`+strings.Join(devs, ",")+`]}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[org])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct{ Code any }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out.Code
	}
	assert.EqualValues(t, 99400, code("o1", 2), "o1's own limit is 1")
	assert.EqualValues(t, 0, code("o1", 1))
	assert.EqualValues(t, 0, code("o2", 3), "o2 gets enos_batch_limit")
	assert.EqualValues(t, 99400, code("o2", 4))
}
