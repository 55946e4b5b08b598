package filter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
)

// TestVerdictAgreesWithDecodeResult holds the partial reader to the full
// decoder of the result document over every request case of the corpus.
func TestVerdictAgreesWithDecodeResult(t *testing.T) {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	eng, err := engine.New()
	require.NoError(t, err)
	withRequest, withViolations := 0, 0
	for _, c := range cases {
		doc := eng.Run(c.Op, nil, c.Body)
		want, err := abi.DecodeResult(doc)
		require.NoError(t, err)
		vs, req, err := verdict(doc)
		require.NoError(t, err, c.Path)
		assert.Equal(t, want.Violations, vs, c.Path)
		if len(want.Request) > 0 {
			withRequest++
			assert.JSONEq(t, string(want.Request), string(req), c.Path)
		} else {
			assert.Empty(t, req, c.Path)
		}
		if len(vs) > 0 {
			withViolations++
		}
	}
	assert.Greater(t, withRequest, 100)
	assert.Greater(t, withViolations, 100)
	for _, bad := range []string{``, `{}`, `{"op":"x"}`, `[1]`, `{"op":"x","valid":true`} {
		_, _, err := verdict([]byte(bad + " "))
		assert.Error(t, err, bad)
	}
}
