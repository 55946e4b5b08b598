package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/internal/corpus"
)

func onboard(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func casePath(op, name string) string {
	return filepath.Join(corpus.Dir(), "cases", op, name)
}

func TestValidateExitCodes(t *testing.T) {
	code, out, _ := onboard(t, "", "validate", "--op", "cbr.agent.register", casePath("cbr.agent.register", "ok-doc-example.json"))
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "valid cbr.agent.register request")

	code, out, _ = onboard(t, "", "validate", "--op", "enos.device.batch-create", casePath("enos.device.batch-create", "bad-doc-sample-trailing-comma.json"))
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "trailing comma")
	assert.Regexp(t, `line \d+, column \d+`, out)

	code, _, errOut := onboard(t, "", "validate", "--op", "no.such.op", "-")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "ief.product.create")

	code, _, _ = onboard(t, "", "validate", "--op", "cbr.agent.register")
	assert.Equal(t, exitUsage, code, "missing FILE")

	code, _, errOut = onboard(t, "", "validate", "--op", "cbr.agent.register", "/nonexistent.json")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "no such file")
}

func TestValidateReadsStdinAndReportsItems(t *testing.T) {
	body := `{"deviceList":[{"productKey":"pk","deviceName":{"defaultValue":"a"},"timezone":"+08:00"},
	{"productKey":"pk","deviceName":{"defaultValue":"b"},"timezone":"noon"}]}`
	code, out, _ := onboard(t, body, "validate", "--op", "enos.device.batch-create", "-")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "1 of 2 items valid")
	assert.Contains(t, out, "item 1: /deviceList/1/timezone: pattern")

	code, out, _ = onboard(t, body, "validate", "--json", "--op", "enos.device.batch-create", "-")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, `"batches"`)
}

func TestResolve(t *testing.T) {
	tmpl := casePath("iotda.provisioning-template.create", "ok-doc-example-parameter-ref.json")
	code, out, errOut := onboard(t, "", "resolve", "--template", tmpl,
		"--subject", `C=CN,O=acme,OU=meters,dnQualifier=q,ST=GD,CN=dev-001,serialNumber=42`)
	require.Equal(t, exitOK, code, out+errOut)
	assert.JSONEq(t, `{"device_name":"acme","node_id":"dev-001","product_id":"acme",
		"tags":[{"tag_key":"acme","tag_value":"meters"}],"policy_ids":["5c90fa7d3c4e4405e8525079"]}`, out)

	code, out, _ = onboard(t, "", "resolve", "--template", tmpl, "--subject", "C=CN,O=acme,OU=meters")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "CN")

	code, _, errOut = onboard(t, "", "resolve", "--template", tmpl, "--subject", "XX=1")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "unknown attribute")
}

func TestParseSubjectEscapes(t *testing.T) {
	got, err := parseSubject(`O=Acme\, Inc,cn=dev 1`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"O": "Acme, Inc", "CN": "dev 1"}, got)
	_, err = parseSubject("CN=a,CN=b")
	assert.Error(t, err)
}

func TestUsage(t *testing.T) {
	code, _, errOut := onboard(t, "")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "validate")
	code, _, _ = onboard(t, "", "frobnicate")
	assert.Equal(t, exitUsage, code)
	code, out, _ := onboard(t, "", "ops")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "iotda.provisioning-template.resolve")
}
