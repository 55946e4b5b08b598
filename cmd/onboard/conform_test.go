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
	} {
		code, _, errOut := onboard(t, "", args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
}

// TestConformAgainstServe is the kit end to end through the CLI: `onboard
// serve`, credentials from `onboard token create`, then `onboard conform`.
func TestConformAgainstServe(t *testing.T) {
	dataDir := t.TempDir()
	lines := startServe(t, dataDir)
	base := listening(t, lines)
	drain(lines)

	token := func(project string) string {
		code, out, errOut := onboard(t, "", "token", "create", "--project", project, "--json", "--data-dir", dataDir)
		require.Equal(t, exitOK, code, errOut)
		var tok struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(out), &tok))
		return tok.Token
	}
	tokA, tokB := token("pa"), token("pb")
	junit := filepath.Join(t.TempDir(), "conform.xml")
	code, out, errOut := onboard(t, "", "conform", "--target", base, "--token", tokA, "--project", "pa",
		"--project-b", "pb", "--project-b-token", tokB, "--extensions",
		"--only", "cbr.agent.register,cbr.agent.show,iotda.provisioning-template.create", "--junit", junit)
	assert.Equal(t, exitOK, code, "%s\n%s", out, errOut)
	assert.Contains(t, out, "PASS cbr.agent.register/ok-doc-example\n")
	assert.Contains(t, out, "PASS cbr.agent.show/isolation-other-project\n")
	assert.Contains(t, out, "PASS iotda.provisioning-template.create/quota-10-per-instance\n")
	assert.Contains(t, out, "PASS iotda.provisioning-template.create/ok-ext-fleet-functions\n")
	assert.NotContains(t, out, "ief.product", "--only")
	assert.Regexp(t, `\d+ passed, 0 failed, 0 skipped in `, out)

	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &suites))
	assert.Equal(t, 0, suites.Failures)
	assert.Len(t, suites.Suites, 3)
	assert.Equal(t, "iotda.provisioning-template.create", suites.Suites[0].Name, "in the order the checks ran")
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
