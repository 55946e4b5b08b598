package engine_test

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
)

// Messages echo at most jsontree.MaxQuoted (64) bytes of a client's value
// and say how long it was: a 100,000-digit number used to come back whole
// in a 100 KB message.
func TestMessagesQuoteBoundedValues(t *testing.T) {
	huge := strings.Repeat("9", 100_000)
	long := strings.Repeat("x", 100_000)
	agent := func(members string) string {
		return `{"agent":{"agent_id":"a","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"` + members + `}}`
	}
	cases := []struct {
		name, op, body, rule string
	}{
		{"number for a string", "cbr.agent.register", `{"agent":{"agent_id":` + huge + `,"host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`, "type"},
		{"number over a maximum", "enos.device.list", `{"pagination":{"pageNo":1,"pageSize":` + huge + `}}`, "maximum"},
		{"string outside an enum", "cbr.agent.register", agent(`,"agent_type":"` + long + `"`), "enum"},
		{"string against a pattern", "iotda.provisioning-template.create", `{"template_name":"` + long + `!","template_body":{}}`, "pattern"},
		{"unknown member name", "cbr.agent.register", agent(`,"` + long + `":1`), "additionalProperties"},
		{"duplicate member name", "enos.device.batch-create", `{"deviceList":[{"productKey":"pk","deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceAttributes":{"` + long + `":1,"` + long + `":2}}]}`, "duplicate-key"},
	}
	e := newEngine(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, _ := run(t, e, c.op, []byte(c.body))
			require.False(t, res.Valid)
			found := false
			for _, v := range res.AllViolations() {
				assert.Less(t, len(v.Message), 1024, "%s: %.200s…", v.Rule, v.Message)
				if v.Rule == c.rule {
					found = true
					assert.Regexp(t, `… \(10000[01] bytes\)`, v.Message, "a cut value says how long it was")
				}
			}
			assert.True(t, found, "want rule %s in %v", c.rule, res.AllViolations())
		})
	}
}

// U+0000 is refused in every string, keys included, by one engine rule
// ("nul"): PostgreSQL cannot store it in text, and the answer must not
// depend on the store. Inside a batch the item fails alone.
func TestNulIsRefusedEverywhere(t *testing.T) {
	e := newEngine(t)
	res, _ := run(t, e, "cbr.agent.register", []byte(`{"agent":{"agent_id":"a\u0000","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`))
	require.False(t, res.Valid)
	require.Len(t, res.Violations, 1)
	assert.Equal(t, "nul", res.Violations[0].Rule)
	assert.Equal(t, "/agent/agent_id", res.Violations[0].Pointer)

	// In a member name and in a value no schema constrains.
	res, _ = run(t, e, "enos.device.batch-create", []byte(`{"deviceList":[
		{"productKey":"pk","deviceName":{"defaultValue":"a"},"timezone":"+08:00","deviceAttributes":{"k\u0000":1}},
		{"productKey":"pk","deviceName":{"defaultValue":"b"},"timezone":"+08:00","deviceAttributes":{"k":["x","\u0000"]}},
		{"productKey":"pk","deviceName":{"defaultValue":"c"},"timezone":"+08:00"}]}`))
	require.True(t, res.Accepted(), "items fail alone: %v", res.Violations)
	require.Len(t, res.Batches, 1)
	require.Len(t, res.Batches[0].Failed, 2)
	assert.Equal(t, "/deviceList/0/deviceAttributes/k\u0000", res.Batches[0].Failed[0].Violations[0].Pointer)
	assert.Equal(t, "/deviceList/1/deviceAttributes/k/1", res.Batches[0].Failed[1].Violations[0].Pointer)
	for _, f := range res.Batches[0].Failed {
		require.Len(t, f.Violations, 1)
		assert.Equal(t, "nul", f.Violations[0].Rule)
	}

	// Inside alternatives (oneOf) the rule is reported once: re-scans of
	// the value for each alternative do not repeat it.
	res, _ = run(t, e, "iotda.provisioning-template.create", []byte(`{"template_name":"t","template_body":{
		"parameters":{"iotda::certificate::common_name":{"type":"String"}},
		"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p\u0000"}}}}`))
	require.False(t, res.Valid)
	nuls := 0
	for _, v := range res.Violations {
		if v.Rule == "nul" {
			nuls++
			assert.Equal(t, "/template_body/resources/device/product_id", v.Pointer)
		}
	}
	assert.Equal(t, 1, nuls, "%v", res.Violations)

	// Other escapes of control characters stay accepted; \u0000 does not
	// hide behind a surrogate pair or a longer escape.
	res, _ = run(t, e, "cbr.agent.register", []byte(`{"agent":{"agent_id":"a\u0001\u00000","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`))
	assert.Equal(t, "nul", res.Violations[0].Rule)
	res, _ = run(t, e, "cbr.agent.register", []byte(`{"agent":{"agent_id":"a\u0001\\u0000","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`))
	assert.True(t, res.Valid, "an escaped backslash followed by u0000 is text: %v", res.Violations)
}

// Path, query and header parameters reach the engine as a JSON object the
// host builds with the client's bytes: a NUL or invalid UTF-8 there is
// named by parameter, not by a position in that object.
func TestParamsNulAndUTF8(t *testing.T) {
	e := newEngine(t)
	out := e.Run("iotda.provisioning-template.list", []byte("{\"project_id\":\"p1\",\"Instance-Id\":\"i\xff\"}"), nil)
	res, err := abi.DecodeResult(out)
	require.NoError(t, err)
	require.False(t, res.Valid)
	assert.Equal(t, "params.utf8", res.Violations[0].Rule)
	assert.Equal(t, "parameter Instance-Id: invalid UTF-8 byte 0xff in string: send UTF-8 text", res.Violations[0].Message)

	out = e.Run("cbr.agent.list", []byte(`{"project_id":"p\u0000"}`), nil)
	res, err = abi.DecodeResult(out)
	require.NoError(t, err)
	require.False(t, res.Valid)
	assert.Equal(t, "params.nul", res.Violations[0].Rule)
	assert.Contains(t, res.Violations[0].Message, "project_id")
}

// Numbers with huge exponents are judged from their digits: math/big
// expanded 1e1000000 in full, so a 1 KB CES body of a hundred of them
// (uniqueItems compares numbers) held an engine instance for 2 s natively
// and past the host's call timeout in Wasm. Measured in bytes allocated,
// not time: the old path allocated hundreds of megabytes for it.
func TestHugeExponentsCostNothing(t *testing.T) {
	var items []string
	for i := 1; i <= 100; i++ {
		items = append(items, strconv.Itoa(i)+"e1000000")
	}
	e := newEngine(t)
	cases := []struct{ op, body, rule string }{
		{"ces.agent-invocation.batch-create", `{"invocation_type":"INSTALL","instance_ids":[` + strings.Join(items, ",") + `]}`, "type"},
		{"enos.device.list", `{"pagination":{"pageNo":1e1000000,"pageSize":1.5e-1000000}}`, "type"},
		{"enos.device.list", `{"pagination":{"pageNo":1,"pageSize":1e1000000}}`, "maximum"},
	}
	for _, c := range cases {
		run(t, e, c.op, []byte(c.body)) // warm up
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, _ := run(t, e, c.op, []byte(c.body))
		runtime.ReadMemStats(&after)
		require.False(t, res.Valid)
		assert.Equal(t, c.rule, res.AllViolations()[0].Rule, "%v", res.AllViolations())
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "bytes allocated for %.80s", c.body)
	}
}

// Rule nul holds for what a template resolves to: device_name has no
// static rule of its own, so a certificate's serialNumber with U+0000 was
// resolved, then stored by SQLite and refused with a 500 by PostgreSQL.
func TestResolvedNulIsRefused(t *testing.T) {
	body := []byte(`{"template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"},"iotda::certificate::serial_number":{"type":"String"}},
	"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"device_name":{"ref":"iotda::certificate::serial_number"},"product_id":"p1"}}},
	"subject":{"CN":"dev-1","serialNumber":"SN\u0000"}}`)
	res, _ := run(t, newEngine(t), abi.OpResolve, body)
	require.False(t, res.Valid)
	require.Len(t, res.Violations, 1, "%v", res.Violations)
	assert.Equal(t, "nul", res.Violations[0].Rule)
	assert.Equal(t, "/template_body/resources/device/device_name", res.Violations[0].Pointer)
	assert.Contains(t, res.Violations[0].Message, "serialNumber")
}
