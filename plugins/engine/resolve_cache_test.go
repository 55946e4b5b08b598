package engine_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
)

func runWith(t testing.TB, e *engine.Engine, params, body []byte) (*abi.Result, []byte) {
	t.Helper()
	out := append([]byte(nil), e.Run(abi.OpResolve, params, body)...)
	res, err := abi.DecodeResult(out)
	require.NoError(t, err, "result must be valid JSON: %s", out)
	return res, out
}

// subjectOnly is a resolve body without its template_body.
func subjectOnly(t testing.TB, body []byte) []byte {
	t.Helper()
	var in struct {
		Subject json.RawMessage `json:"subject"`
	}
	require.NoError(t, json.Unmarshal(body, &in))
	out, err := json.Marshal(map[string]json.RawMessage{"subject": in.Subject})
	require.NoError(t, err)
	return out
}

// A compiled template answers every corpus case byte for byte like the
// template sent whole: the cache skips checks, never changes a verdict.
func TestResolveCompiledAnswersAlike(t *testing.T) {
	cases, err := corpus.Resolutions()
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			e := newEngine(t)
			_, whole := run(t, e, abi.OpResolve, c.Body)
			params := abi.ResolveParams("proj/inst/"+c.Name, "v1")
			_, first := runWith(t, e, params, c.Body)
			assert.JSONEq(t, string(whole), string(first), "naming the template must not change the first answer")
			for range 2 {
				res, again := runWith(t, e, params, subjectOnly(t, c.Body))
				if len(res.Violations) == 1 && res.Violations[0].Rule == abi.RuleTemplateNotCompiled {
					assert.False(t, c.Valid, "a template that resolves must be kept")
					continue
				}
				assert.JSONEq(t, string(whole), string(again), "the kept template must answer like the whole one")
			}
		})
	}
}

// A new version of a template replaces the kept one: the next device
// resolves against the new body, and the old version is gone.
func TestResolveCompiledVersionReplaces(t *testing.T) {
	tpl := func(product string) string {
		return `{"parameters":{"iotda::certificate::common_name":{"type":"String"}},
			"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"` + product + `"}}}`
	}
	subject := []byte(`{"subject":{"CN":"meter-1"}}`)
	whole := func(body string) []byte { return []byte(`{"template_body":` + body + `,"subject":{"CN":"meter-1"}}`) }
	notCompiled := func(res *abi.Result) bool {
		return !res.Valid && len(res.Violations) == 1 && res.Violations[0].Rule == abi.RuleTemplateNotCompiled
	}
	e := newEngine(t)
	v1, v2 := abi.ResolveParams("p//t1", "1"), abi.ResolveParams("p//t1", "2")

	res, _ := runWith(t, e, v1, subject)
	require.True(t, notCompiled(res), "nothing is kept yet: %+v", res)
	res, _ = runWith(t, e, v1, whole(tpl("product-a")))
	require.True(t, res.Valid, "%+v", res.Violations)
	res, _ = runWith(t, e, v1, subject)
	require.True(t, res.Valid, "%+v", res.Violations)
	assert.Equal(t, "product-a", res.Device.ProductID)

	res, _ = runWith(t, e, v2, subject)
	require.True(t, notCompiled(res), "version 2 is not kept yet: %+v", res)
	res, _ = runWith(t, e, v2, whole(tpl("product-b")))
	require.True(t, res.Valid, "%+v", res.Violations)
	assert.Equal(t, "product-b", res.Device.ProductID)
	res, _ = runWith(t, e, v2, subject)
	require.True(t, res.Valid, "%+v", res.Violations)
	assert.Equal(t, "product-b", res.Device.ProductID)

	res, _ = runWith(t, e, v1, subject)
	assert.True(t, notCompiled(res), "version 1 was replaced: %+v", res)
	res, _ = runWith(t, e, abi.ResolveParams("p//t2", "2"), subject)
	assert.True(t, notCompiled(res), "another template id shares nothing: %+v", res)
	assert.Contains(t, res.Violations[0].Message, "send its template_body")

	// A template that breaks the rules is never kept.
	res, _ = runWith(t, e, abi.ResolveParams("p//t3", "1"), whole(tpl("bad product!")))
	require.False(t, res.Valid)
	res, _ = runWith(t, e, abi.ResolveParams("p//t3", "1"), subject)
	assert.True(t, notCompiled(res), "%+v", res)
}

func TestResolveParamsRefused(t *testing.T) {
	body := []byte(`{"template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"}},
		"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p"}}},"subject":{"CN":"n"}}`)
	for _, c := range []struct{ name, params, rule string }{
		{"not an object", `[]`, "params.type"},
		{"not JSON", `{`, "params.type"},
		{"id without version", `{"template_id":"t"}`, "params.template"},
		{"empty version", `{"template_id":"t","template_version":""}`, "params.template"},
		{"number", `{"template_id":"t","template_version":1}`, "params.template"},
		{"unknown member", `{"template_id":"t","template_version":"1","x":"y"}`, "params.template"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, _ := runWith(t, newEngine(t), []byte(c.params), body)
			require.False(t, res.Valid)
			require.Len(t, res.Violations, 1)
			assert.Equal(t, c.rule, res.Violations[0].Rule)
		})
	}
	res, _ := runWith(t, newEngine(t), []byte(`{}`), body)
	assert.True(t, res.Valid, "no template named: %+v", res.Violations)
}

// An engine keeps a bounded number of templates: beyond it, a template
// may have to be sent again, and no device ever gets another's template.
func TestResolveCompiledBound(t *testing.T) {
	e := newEngine(t)
	const n = 300
	tpl := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"}},
			"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p%d"}}},"subject":{"CN":"m"}}`, i))
	}
	params := func(i int) []byte { return abi.ResolveParams(fmt.Sprintf("t%d", i), "1") }
	for i := range n {
		res, _ := runWith(t, e, params(i), tpl(i))
		require.True(t, res.Valid, "%+v", res.Violations)
	}
	kept := 0
	for i := range n {
		res, _ := runWith(t, e, params(i), []byte(`{"subject":{"CN":"m"}}`))
		if !res.Valid {
			require.Equal(t, abi.RuleTemplateNotCompiled, res.Violations[0].Rule)
			continue
		}
		kept++
		assert.Equal(t, fmt.Sprintf("p%d", i), res.Device.ProductID)
	}
	assert.Positive(t, kept)
	assert.Less(t, kept, n, "the engine must not keep every template it ever saw")
}
