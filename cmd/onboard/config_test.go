package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
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
