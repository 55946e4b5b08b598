package engine_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
)

// engineOnlyRules are where the engine is deliberately stricter than JSON
// Schema over encoding/json, which keeps the last of duplicate keys,
// replaces invalid UTF-8, nests 10,000 deep and accepts \u0000 in a string
// (which PostgreSQL cannot store); and the IoTDA rule that a
// ref names a declared parameter, which 2020-12 cannot express; and the
// template-extension rules that relate one part of a template to another
// (schemas/schemas_test.go keeps the same list).
var engineOnlyRules = map[string]bool{"duplicate-key": true, "utf8": true, "depth": true, "nul": true, "ref-undeclared": true,
	"sub-syntax": true, "condition-undeclared": true, "condition-cycle": true,
	"mapping-undeclared": true, "mapping-miss": true, "select-range": true}

func onlyEngineRules(vs []abi.Violation) bool {
	if len(vs) == 0 {
		return false
	}
	for _, v := range vs {
		if !engineOnlyRules[v.Rule] {
			return false
		}
	}
	return true
}

// agree checks the engine against the santhosh-tekuri oracle on one body.
func agree(t testing.TB, e *engine.Engine, o *corpus.Oracle, op string, response bool, body []byte) {
	name := op
	if response {
		name += abi.ResponseSuffix
	}
	out := e.Run(name, nil, body)
	res, err := abi.DecodeResult(out)
	require.NoError(t, err, "engine result is not JSON: %q", out)
	want, err := o.Valid(op, response, body)
	require.NoError(t, err)
	if res.Valid == want || (!res.Valid && onlyEngineRules(res.AllViolations())) {
		return
	}
	t.Fatalf("engine says valid=%v, santhosh-tekuri says valid=%v for %s\nbody: %q\nviolations: %v",
		res.Valid, want, name, body, res.AllViolations())
}

func TestDifferentialCorpus(t *testing.T) {
	e, o := newEngine(t), corpus.NewOracle()
	reqs, err := corpus.Requests()
	require.NoError(t, err)
	resps, err := corpus.Responses()
	require.NoError(t, err)
	for _, c := range reqs {
		agree(t, e, o, c.Op, false, c.Body)
	}
	for _, c := range resps {
		agree(t, e, o, c.Op, true, c.Body)
	}
}

// FuzzEngine feeds mutated corpus bodies to every operation: the engine must
// not panic, must write a JSON result, must agree with the oracle, and its
// normalised request must validate again to the same normal form.
func FuzzEngine(f *testing.F) {
	reqs, err := corpus.Requests()
	require.NoError(f, err)
	ops := bodyOperations(f)
	index := map[string]uint8{}
	for i, op := range ops {
		index[op] = uint8(i)
	}
	for _, c := range reqs {
		f.Add(index[c.Op], c.Body)
	}
	e, o := newEngine(f), corpus.NewOracle()
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		op := ops[int(opIndex)%len(ops)]
		agree(t, e, o, op, false, body)
		res, err := abi.DecodeResult(e.Run(op, nil, body))
		require.NoError(t, err)
		if res.Request == nil {
			return
		}
		require.True(t, json.Valid(res.Request))
		again, err := abi.DecodeResult(e.Run(op, nil, res.Request))
		require.NoError(t, err)
		require.Equal(t, res.Valid, again.Valid, "normalising changed the verdict")
		require.JSONEq(t, string(res.Request), string(again.Request), "normalisation is not idempotent")
	})
}
