package main

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/schemas"
)

func TestConformUsage(t *testing.T) {
	for _, args := range [][]string{
		{"conform"},                         // no target
		{"conform", "--target", "http://x"}, // no credentials
		{"conform", "--target", "http://x", "--token", "t"},                                             // no project
		{"conform", "--target", "http://x", "--token", "t", "--ak", "a", "--sk", "s", "--project", "p"}, // both
		{"conform", "--target", "http://x", "--token", "t", "--project", "p", "--only", "no.such.op"},
		{"conform", "--target", "http://x", "--token", "t", "--project", "p", "--project-b-token", "u"}, // B without its id
		{"conform", "--target", "http://x", "--token", "t", "--project", "p", "extra"},
		{"conform", "--target", "http://x", "--token", "t", "--project", "p", "--codes", "no-such-file.json"},
		{"conform", "--target", "http://x", "--token", "t", "--project", "p", "--enos-private-key", "no-such-key.pem"},
		{"conform", "--target", "http://x", "--token", "t", "--project", "p", "--enos-token-no-key", "u"},       // no EnOS token
		{"conform", "--target", "http://x", "--enos-token", "t", "--enos-org", "o", "--enos-token-no-key", "t"}, // the same token
		{"conform", "--target", "http://x", "--enos-token", "t", "--enos-org", "o", "--enos-product", "p"},      // without a quota product
	} {
		code, _, errOut := onboard(t, "", args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
}

// TestConformAgainstServe is the kit end to end through the CLI, as the
// README's recipe runs it: `onboard serve`, set up with the CLI only
// (tokens, an EnOS account with its RSA public key, one without and one
// without device access, products), then `onboard conform` over every operation. No check fails
// or skips, the requireSecret ones included. The 10,000-device check is
// skipped here: it is most of the run's time under -race, and
// host/conformance's SQLite run passes it against the same server code.
func TestConformAgainstServe(t *testing.T) {
	dataDir := t.TempDir()
	lines := startServe(t, dataDir)
	base := listening(t, lines)
	drain(lines)

	private, public := writeKeyPair(t, rsaKeys()[0])
	cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "sa1", "--public-key", public)
	cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "nokey")
	cli(t, dataDir, exitOK, "account", "create", "--org", "o1", "--account", "noaccess", "--device-access=false")
	cli(t, dataDir, exitOK, "enos-product", "create", "--org", "o1", "--product-key", "conformP")
	cli(t, dataDir, exitOK, "enos-product", "create", "--org", "o1", "--product-key", "conformFull")
	token := func(args ...string) string { return createToken(t, dataDir, args...) }
	tokA, tokB := token("--project", "pa"), token("--project", "pb")
	enos, enosNoKey := token("--org", "o1", "--account", "sa1"), token("--org", "o1", "--account", "nokey")
	enosNoAccess := token("--org", "o1", "--account", "noaccess")
	junit := filepath.Join(t.TempDir(), "conform.xml")
	code, out, errOut := onboard(t, "", "conform", "--target", base, "--token", tokA, "--project", "pa",
		"--project-b", "pb", "--project-b-token", tokB, "--enos-token", enos, "--enos-org", "o1",
		"--enos-token-no-key", enosNoKey, "--enos-token-no-access", enosNoAccess, "--enos-private-key", private,
		"--enos-product", "conformP", "--enos-quota-product", "conformFull", "--extensions", "--junit", junit,
		"--skip", "enos.device.batch-create/quota-10000-per-product-11739")
	assert.Equal(t, exitOK, code, "%s\n%s", out, errOut)
	for _, want := range []string{
		"PASS cbr.agent.register/ok-doc-example\n",
		"PASS cbr.agent.show/isolation-other-project\n",
		"PASS iotda.provisioning-template.create/quota-10-per-instance\n",
		"PASS iotda.provisioning-template.create/ok-ext-fleet-functions\n",
		"PASS iotda.device-ca.verify/ok-proof\n",
		"SKIP enos.device.batch-create/quota-10000-per-product-11739: known deviation: --skip\n",
		"PASS enos.device.batch-create/require-secret-no-public-key-11858\n",
		"PASS enos.device.batch-create/ok-doc-sample\n",
		"PASS enos.device.batch-create/ok-all-fields\n",
		"PASS enos.device.batch-create/require-secret-decrypts\n",
		"PASS enos.device.batch-create/unknown-product-11404\n",
		"PASS enos.device.batch-create/no-device-access-99403\n",
	} {
		assert.Contains(t, out, want)
	}
	assert.Regexp(t, `\d+ passed, 0 failed, 1 skipped in `, out)

	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &suites))
	assert.Equal(t, 0, suites.Failures)
	assert.Equal(t, 1, suites.Skipped)
	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	assert.Len(t, suites.Suites, len(ops), "one suite per operation")
	assert.Equal(t, "ief.product.create", suites.Suites[0].Name, "in the order the checks ran")
}

// createToken is `onboard token create ARGS --json`'s token.
func createToken(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	code, out, errOut := onboard(t, "", append(append([]string{"token", "create"}, args...), "--json", "--data-dir", dataDir)...)
	require.Equal(t, exitOK, code, errOut)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(out), &tok))
	return tok.Token
}

// --only takes operations and single checks; --codes a code book file.
func TestConformOnlyAndCodes(t *testing.T) {
	dataDir := t.TempDir()
	lines := startServe(t, dataDir)
	base := listening(t, lines)
	drain(lines)
	tok := createToken(t, dataDir, "--project", "pa")

	book := filepath.Join(t.TempDir(), "codes.json")
	require.NoError(t, os.WriteFile(book, []byte(`{"cbr":{"invalid":"BackupService.0042"}}`), 0o600))
	code, out, _ := onboard(t, "", "conform", "--target", base, "--token", tok, "--project", "pa", "--codes", book,
		"--only", "cbr.agent.register/bad-missing-agent-id,cbr.agent.show")
	assert.Equal(t, exitInvalid, code, out)
	assert.Contains(t, out, "FAIL cbr.agent.register/bad-missing-agent-id: error code BackupService.0001, want BackupService.0042")
	assert.Contains(t, out, "PASS cbr.agent.show/ok\n")
	assert.NotContains(t, out, "cbr.agent.register/ok-doc-example", "--only names one check of register")

	code, out, _ = onboard(t, "", "conform", "--target", base, "--token", tok, "--project", "pa", "--codes", "none",
		"--only", "cbr.agent.register/bad-missing-agent-id")
	assert.Equal(t, exitOK, code, out)
}

// A server that breaks the contract fails the run: exit 1, FAIL lines.
func TestConformReportsFailures(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer broken.Close()
	junit := filepath.Join(t.TempDir(), "conform.xml")
	code, out, _ := onboard(t, "", "conform", "--target", broken.URL, "--token", "t", "--project", "p",
		"--only", "cbr.agent.register", "--junit", junit)
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "FAIL cbr.agent.register/ok-doc-example: want HTTP 200, got HTTP 500")
	assert.Contains(t, out, "FAIL cbr.agent.register/auth-missing-credentials: want HTTP 401, got HTTP 500")
	assert.Contains(t, out, "SKIP cbr.agent.register/isolation-foreign-route: no second project")
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(b), `<failure message="want HTTP 200, got HTTP 500`)
}
