package filter_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/edge/filter"
	"github.com/onboardhq/onboard/internal/gatewaytest"
)

// TestCorpusAgainstServeGoldens judges every request case of the five
// create operations natively and holds each refusal to the answer
// `onboard serve` gives (testdata/golden/http, which host/api's
// TestCorpusOverHTTP keeps true): same status, same body but the request
// id. A case serve accepts (per-item failures included) is forwarded.
func TestCorpusAgainstServeGoldens(t *testing.T) {
	f, err := filter.New(filter.Config{})
	require.NoError(t, err)
	for _, c := range gatewaytest.Goldens(t) {
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			call, v := f.Head(filter.Request{Method: c.Method, URI: c.URI, Header: c.Header.Values, ContentLength: int64(len(c.Body))})
			if v == nil {
				v = call.Body(c.Body)
			}
			if c.AtEdge() {
				require.False(t, v.Forward, "serve refuses this case with %d", c.Status)
				assert.Equal(t, c.Status, v.Status)
				assert.JSONEq(t, string(c.Golden), string(gatewaytest.MaskRequestID(t, v.Body)))
				return
			}
			require.True(t, v.Forward, "serve accepts this case: %s", v.Body)
			assert.Equal(t, [][2]string{{filter.DefaultOperationHeader, c.Op}}, v.SetHeaders)
			assert.Nil(t, v.Body, "the client's body goes upstream unless forward_normalized says otherwise")
		})
	}
}
