package engine_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func newEngine(t testing.TB) *engine.Engine {
	e, err := engine.New()
	require.NoError(t, err)
	return e
}

func run(t testing.TB, e *engine.Engine, op string, body []byte) (*abi.Result, []byte) {
	out := append([]byte(nil), e.Run(op, nil, body)...)
	res, err := abi.DecodeResult(out)
	require.NoError(t, err, "result must be valid JSON: %s", out)
	return res, out
}

// golden compares got with testdata/golden/<name>; -update rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, got, "", "  "))
	pretty.WriteByte('\n')
	path := filepath.Join(corpus.Dir(), "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test ./plugins/engine -update")
	assert.Equal(t, string(want), pretty.String(), "golden %s differs (go test ./plugins/engine -update to accept)", name)
}

func hasViolation(vs []abi.Violation, pointer, rule string) bool {
	for _, v := range vs {
		if v.Rule == rule && (v.Pointer == pointer || strings.HasPrefix(v.Pointer, pointer+" ")) {
			return true
		}
	}
	return false
}

func TestRequestCorpus(t *testing.T) {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	e := newEngine(t)
	perOp := map[string]int{}
	for _, c := range cases {
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			res, out := run(t, e, c.Op, c.Body)
			if c.Valid {
				assert.True(t, res.Valid, "violations: %v", res.AllViolations())
				assert.True(t, json.Valid(res.Request), "normalised request must be JSON")
			} else {
				perOp[c.Op]++
				assert.False(t, res.Valid)
				require.NotEmpty(t, c.Rule, "bad case without an entry in expect.json")
				assert.True(t, hasViolation(res.AllViolations(), c.Pointer, c.Rule),
					"want %s at %q, got %v", c.Rule, c.Pointer, res.AllViolations())
				for _, v := range res.AllViolations() {
					assert.NotEmpty(t, v.Message)
				}
			}
			golden(t, filepath.Join("cases", c.Op, c.Name+".json"), out)
		})
	}
	// The seeds' create operations carry the full negative corpus; the other
	// operations of each resource have smaller case directories.
	for _, op := range createOperations {
		assert.GreaterOrEqual(t, perOp[op], 15, "operation %s needs at least 15 negative cases", op)
	}
}

var createOperations = []string{
	"ief.product.create",
	"iotda.provisioning-template.create",
	"enos.device.batch-create",
	"ces.agent-invocation.batch-create",
	"cbr.agent.register",
}

// bodyOperations lists the catalogue operations that take a request body.
func bodyOperations(t testing.TB) []string {
	var ops []string
	for _, op := range engine.Operations() {
		if e, ok := schemas.Lookup(op); ok && e.RequestSchema != "" {
			ops = append(ops, op)
		}
	}
	require.NotEmpty(t, ops)
	return ops
}

// Operations without a request body validate their parameters only and
// reject any body; a 204 response has no body either.
func TestOperationsWithoutBody(t *testing.T) {
	e := newEngine(t)
	call := func(op, params, body string) *abi.Result {
		res, err := abi.DecodeResult(e.Run(op, []byte(params), []byte(body)))
		require.NoError(t, err)
		return res
	}
	res := call("ief.product.list", `{"project_id":"p1","limit":"1000","offset":"0","sort":"created_at:desc"}`, "")
	assert.True(t, res.Valid, "%v", res.Violations)
	assert.Nil(t, res.Request, "no body, no normalised request")
	res = call("cbr.agent.delete", `{"project_id":"p1","agent_id":"a1"}`, " \n")
	assert.True(t, res.Valid, "whitespace is an empty body: %v", res.Violations)

	res = call("iotda.provisioning-template.delete", `{"project_id":"p1","template_id":"t1"}`, `{}`)
	require.False(t, res.Valid)
	require.Len(t, res.Violations, 1)
	assert.Equal(t, "body", res.Violations[0].Rule)
	assert.Equal(t, "this operation takes no request body", res.Violations[0].Message)

	res = call("iotda.provisioning-template.list", `{"project_id":"p1","limit":"51"}`, "")
	require.False(t, res.Valid)
	assert.Equal(t, "params.pattern", res.Violations[0].Rule)
	assert.Contains(t, res.Violations[0].Message, "limit")
	assert.Contains(t, res.Violations[0].Message, "1 to 50")

	res = call("ces.agent-invocation.list", `{"project_id":"p1","page":"2"}`, "")
	require.False(t, res.Valid)
	assert.Equal(t, "params.additionalProperties", res.Violations[0].Rule)
	assert.Contains(t, res.Violations[0].Message, "page")

	res = call("enos.device.get", `{"orgId":"o1","action":"get","productKey":"pk1"}`, "")
	assert.False(t, res.Valid, "productKey without deviceKey does not identify a device")
	res = call("enos.device.get", `{"orgId":"o1","action":"get","productKey":"pk1","deviceKey":"dk01"}`, "")
	assert.True(t, res.Valid, "%v", res.Violations)

	res = call("cbr.agent.delete"+abi.ResponseSuffix, "", "")
	assert.True(t, res.Valid, "%v", res.Violations)
	res = call("cbr.agent.delete"+abi.ResponseSuffix, "", `{"agent":{}}`)
	require.False(t, res.Valid)
	assert.Equal(t, "body", res.Violations[0].Rule)
}

// An updated template body obeys the create rule that a ref names a
// declared parameter.
func TestTemplateUpdateChecksRefs(t *testing.T) {
	res, _ := run(t, newEngine(t), "iotda.provisioning-template.update", []byte(`{"template_body":{"parameters":{},
		"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p1"}}}}`))
	require.False(t, res.Valid)
	assert.Equal(t, "ref-undeclared", res.Violations[0].Rule)
}

func TestResponseCorpus(t *testing.T) {
	cases, err := corpus.Responses()
	require.NoError(t, err)
	e := newEngine(t)
	for _, c := range cases {
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			res, _ := run(t, e, c.Op+abi.ResponseSuffix, c.Body)
			assert.Equal(t, c.Valid, res.Valid, "violations: %v", res.AllViolations())
		})
	}
}

// The CES doc's example response is a bare array while its table says
// {"invocations":[…]}: the table wins.
func TestCESResponseTableWinsOverSample(t *testing.T) {
	e := newEngine(t)
	res, _ := run(t, e, "ces.agent-invocation.batch-create"+abi.ResponseSuffix,
		[]byte(`[{"instance_id":"instancexxx001","ret_status":"successful"}]`))
	assert.False(t, res.Valid)
	res, _ = run(t, e, "ces.agent-invocation.batch-create"+abi.ResponseSuffix,
		[]byte(`{"invocations":[{"instance_id":"instancexxx001","ret_status":"successful"}]}`))
	assert.True(t, res.Valid, "%v", res.Violations)
}

// The EnOS doc's sample request has a trailing comma: it must be reported
// as invalid JSON with its position.
func TestEnOSDocSampleTrailingComma(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "enos.device.batch-create", "bad-doc-sample-trailing-comma.json"))
	require.NoError(t, err)
	res, _ := run(t, newEngine(t), "enos.device.batch-create", body)
	require.Len(t, res.Violations, 1)
	v := res.Violations[0]
	assert.Equal(t, "json", v.Rule)
	assert.Contains(t, v.Message, "trailing comma")
	assert.Regexp(t, `line \d+, column \d+`, v.Message)
}

func TestResolveCorpus(t *testing.T) {
	cases, err := corpus.Resolutions()
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	e := newEngine(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			res, out := run(t, e, abi.OpResolve, c.Body)
			assert.Equal(t, c.Valid, res.Valid, "violations: %v", res.Violations)
			if c.Valid {
				require.NotNil(t, res.Device)
				assert.NotEmpty(t, res.Device.NodeID)
			}
			golden(t, filepath.Join("resolve", c.Name+".json"), out)
		})
	}
}

func TestResolveNamesMissingParameter(t *testing.T) {
	body := []byte(`{"template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"}},
	"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p1"}}},
	"subject":{"O":"acme"}}`)
	res, _ := run(t, newEngine(t), abi.OpResolve, body)
	require.False(t, res.Valid)
	require.Len(t, res.Violations, 1)
	assert.Equal(t, "missing-parameter", res.Violations[0].Rule)
	assert.Contains(t, res.Violations[0].Message, "CN")
	assert.Contains(t, res.Violations[0].Message, "iotda::certificate::common_name")
}

func TestDefaultsAreApplied(t *testing.T) {
	e := newEngine(t)
	res, _ := run(t, e, "enos.device.batch-create",
		[]byte(`{"deviceList":[{"productKey":"pk1","deviceName":{"defaultValue":"d"},"timezone":"+08:00"}]}`))
	require.True(t, res.Valid, "%v", res.AllViolations())
	assert.JSONEq(t, `{"deviceList":[{"productKey":"pk1","deviceName":{"defaultValue":"d"},"timezone":"+08:00"}],"requireSecret":false}`, string(res.Request))
}

func TestBatchItemsFailAlone(t *testing.T) {
	e := newEngine(t)
	res, _ := run(t, e, "enos.device.batch-create", []byte(`{"deviceList":[
		{"productKey":"pk1","deviceName":{"defaultValue":"a"},"timezone":"+08:00"},
		{"productKey":"pk1","deviceName":{"defaultValue":"b"},"timezone":"8 o'clock"},
		{"productKey":"pk1","deviceName":{"defaultValue":"c"},"timezone":"+01:00"}]}`))
	assert.False(t, res.Valid)
	assert.True(t, res.Accepted(), "a bad item must not reject the request: %v", res.Violations)
	require.Len(t, res.Batches, 1)
	assert.Equal(t, "/deviceList", res.Batches[0].Pointer)
	assert.Equal(t, 3, res.Batches[0].Total)
	require.Len(t, res.Batches[0].Failed, 1)
	assert.Equal(t, 1, res.Batches[0].Failed[0].Index)
	assert.Equal(t, "/deviceList/1/timezone", res.Batches[0].Failed[0].Violations[0].Pointer)
	assert.NotEmpty(t, res.Request)
}

func TestParamsAreValidated(t *testing.T) {
	e := newEngine(t)
	out := e.Run("cbr.agent.register", []byte(`{"project_id":""}`),
		[]byte(`{"agent":{"agent_id":"a","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`))
	res, err := abi.DecodeResult(out)
	require.NoError(t, err)
	require.False(t, res.Valid)
	assert.Equal(t, "params.minLength", res.Violations[0].Rule)
	assert.Contains(t, res.Violations[0].Message, "project_id")
}

func TestUnknownOperation(t *testing.T) {
	res, _ := run(t, newEngine(t), "nope.create", []byte(`{}`))
	require.False(t, res.Valid)
	assert.Equal(t, "operation", res.Violations[0].Rule)
	assert.Contains(t, res.Violations[0].Message, "ief.product.create")
}

func TestEcho(t *testing.T) {
	assert.Equal(t, "hello", string(newEngine(t).Run(abi.OpEcho, nil, []byte("hello"))))
}

// Schemas compile on first use; every one of them must compile.
func TestEveryOperationCompiles(t *testing.T) {
	require.NoError(t, engine.CompileAll())
}
