package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/importer"
)

// TestImportCommand runs `onboard serve`, issues an EnOS token with the
// CLI and imports a CSV with `onboard import`, as the README shows.
func TestImportCommand(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("ONBOARD_TOKEN", "")
	lines := startServe(t, dataDir)
	base := listening(t, lines)
	drain(lines)

	cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "importer")
	cli(t, dataDir, exitOK, "enos-product", "create", "--org", "o1", "--product-key", "meterPK")
	code, out, errOut := onboard(t, "", "token", "create", "--org", "o1", "--account", "importer", "--json", "--data-dir", dataDir)
	require.Equal(t, exitOK, code, errOut)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(out), &tok))

	dir := t.TempDir()
	input := filepath.Join(dir, "devices.csv")
	var b strings.Builder
	b.WriteString("deviceKey,deviceName,timezone\n")
	for i := 1; i <= 30; i++ {
		tz := "+08:00"
		if i == 12 {
			tz = "noon"
		}
		fmt.Fprintf(&b, "dev-%04d,Device %d,%s\n", i, i, tz)
	}
	require.NoError(t, os.WriteFile(input, []byte(b.String()), 0o644))

	code, out, errOut = onboard(t, "", "import", "--org", "o1", "--product", "meterPK", "--token", tok.Token,
		"--target", base, "--batch", "10", input)
	assert.Equal(t, exitInvalid, code, "one row is invalid: %s%s", out, errOut)
	assert.Contains(t, out, "imported 30 rows: 29 created, 1 failed; results in "+input+".result.ndjson")
	assert.Equal(t, 3, strings.Count(errOut, "import: "), "one plain progress line per batch when not a terminal:\n%s", errOut)
	assert.Contains(t, errOut, "import: 100.0% 30 rows, 29 created, 1 failed")
	assert.NotContains(t, errOut, "\r")

	res, err := os.ReadFile(input + ".result.ndjson")
	require.NoError(t, err)
	rows := strings.Split(strings.TrimSpace(string(res)), "\n")
	require.Len(t, rows, 30)
	assert.Contains(t, rows[11], `"status":"error","code":99400`)

	// Again: nothing to do. The token can also come from the environment.
	t.Setenv("ONBOARD_TOKEN", tok.Token)
	code, out, _ = onboard(t, "", "import", "--org", "o1", "--product", "meterPK", "--target", base, input)
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "already imported: 30 rows, 29 created, 1 failed")

	// Usage errors.
	code, _, errOut = onboard(t, "", "import", "--product", "p", input)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "usage: onboard import")
	code, _, errOut = onboard(t, "", "import", "--org", "o1", "--product", "p", "--target", base, filepath.Join(dir, "devices.txt"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "cannot tell the format")
}

func TestProgressBarOnTerminal(t *testing.T) {
	var b strings.Builder
	bar := newProgressBar(&b, true)
	bar.update(importerProgress(500, 1000))
	bar.finish()
	assert.Contains(t, b.String(), "\r\033[K[===============>              ]  50.0% 500 rows")
	assert.Contains(t, b.String(), "rows/s, ETA ")
	assert.True(t, strings.HasSuffix(b.String(), "\n"))
}

func importerProgress(offset, size int64) importer.Progress {
	return importer.Progress{Rows: offset, Created: offset, Offset: offset, Size: size, Elapsed: time.Second}
}
