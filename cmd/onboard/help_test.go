package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onboardhq/onboard/internal/corpus"
)

// Help that was asked for is the answer, not an error: stdout, exit 0.
func TestHelpGoesToStdout(t *testing.T) {
	asks := [][]string{{"help"}, {"-h"}, {"--help"}}
	for _, c := range commands {
		args := []string{c.name, "-h"}
		if c.name == "token" || c.name == "key" {
			args = []string{c.name, "create", "--help"}
		}
		asks = append(asks, args)
	}
	for _, args := range asks {
		code, out, errOut := onboard(t, "", args...)
		assert.Equal(t, exitOK, code, "%v", args)
		assert.Regexp(t, `(?i)usage`, out, "%v prints its usage on stdout", args)
		assert.Empty(t, errOut, "%v", args)
	}
	code, out, errOut := onboard(t, "")
	assert.Equal(t, exitUsage, code, "no command is a usage error")
	assert.Empty(t, out)
	assert.Contains(t, errOut, "usage: onboard COMMAND")
}

// A flag after the file is named, with the fix, rather than taken for a
// second file.
func TestMisplacedFlagIsNamed(t *testing.T) {
	code, _, errOut := onboard(t, "", "import", "--org", "o1", "devices.csv", "--product", "pk")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `flag --product comes after the argument "devices.csv": put the flags before it`)
	code, _, errOut = onboard(t, "", "validate", casePath("cbr.agent.register", "ok-doc-example.json"), "--op=cbr.agent.register")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "flag --op=cbr.agent.register comes after the argument")
	// after "--" the caller meant it: a file named like a flag is no flag
	code, _, errOut = onboard(t, "", "validate", "--op", "cbr.agent.register", "--", "--op")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "--op: no such file")
}

// A response is called a response, and a parameter's error names the
// parameter, not "(body)".
func TestValidateSaysWhatItChecked(t *testing.T) {
	resp := filepath.Join(corpus.Dir(), "responses", "ces.agent-invocation.list", "ok-one.json")
	code, out, _ := onboard(t, "", "validate", "--op", "ces.agent-invocation.list:response", resp)
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "valid ces.agent-invocation.list response")
	assert.NotContains(t, out, "request")

	body := casePath("cbr.agent.register", "ok-doc-example.json")
	code, out, _ = onboard(t, "", "validate", "--op", "cbr.agent.register", "--params", `{"project_id":"bad!"}`, body)
	assert.Equal(t, exitInvalid, code, out)
	assert.Contains(t, out, "  params.pattern: parameter project_id: ")
	assert.NotContains(t, out, "(body)")
	code, out, _ = onboard(t, "", "validate", "--op", "cbr.agent.register", "--params", `{}`, body)
	assert.Equal(t, exitInvalid, code, out)
	assert.Contains(t, out, `params.required: parameters: missing required member "project_id"`)
	assert.NotContains(t, out, "(body)")
}
