package filter_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/edge/filter"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/schemas"
)

// TestCorpusAgainstServeGoldens judges every request case of the five
// create operations natively and holds each refusal to the answer
// `onboard serve` gives (testdata/golden/http, which host/api's
// TestCorpusOverHTTP keeps true): same status, same body but the request
// id. A case serve accepts (per-item failures included) is forwarded.
func TestCorpusAgainstServeGoldens(t *testing.T) {
	f, err := filter.New(filter.Config{})
	require.NoError(t, err)
	n := 0
	for _, c := range goldenCases(t) {
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			n++
			call, v := f.Head(c.request())
			if v == nil {
				v = call.Body(c.Body)
			}
			if c.Status != c.SuccessStatus {
				require.False(t, v.Forward, "serve refuses this case with %d", c.Status)
				assert.Equal(t, c.Status, v.Status)
				assert.JSONEq(t, string(c.Golden), string(MaskRequestID(t, v.Body)))
				return
			}
			require.True(t, v.Forward, "serve accepts this case: %s", v.Body)
			assert.Equal(t, [][2]string{{filter.DefaultOperationHeader, c.Op}}, v.SetHeaders)
			assert.Nil(t, v.Body, "the client's body goes upstream unless forward_normalized says otherwise")
		})
	}
	require.Greater(t, n, 100)
}

// GoldenCase is a corpus request case with serve's recorded answer.
type GoldenCase struct {
	corpus.Case
	SuccessStatus int
	Status        int
	Golden        json.RawMessage // the masked body
}

func (c GoldenCase) request() filter.Request {
	op, _ := schemas.Lookup(c.Op)
	uri := strings.Replace(op.Route, "{project_id}", "corpus-1", 1)
	if op.Service == "enos" {
		uri += "?action=batchCreate&orgId=o-corpus-1"
	}
	h := http.Header{"Content-Type": {"application/json"}}
	return filter.Request{Method: op.Method, URI: uri, Header: h.Values, ContentLength: int64(len(c.Body))}
}

func goldenCases(t *testing.T) []GoldenCase {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	var out []GoldenCase
	for _, c := range cases {
		b, err := os.ReadFile(filepath.Join(corpus.Dir(), "golden", "http", c.Op, c.Name+".json"))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		var g struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		require.NoError(t, json.Unmarshal(b, &g))
		op, _ := schemas.Lookup(c.Op)
		out = append(out, GoldenCase{Case: c, SuccessStatus: op.SuccessStatus, Status: g.Status, Golden: g.Body})
	}
	return out
}

// MaskRequestID masks the one member of an error body that differs on
// every run, as the goldens do.
func MaskRequestID(t *testing.T, body []byte) []byte {
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	if _, ok := m["requestId"]; ok {
		m["requestId"] = "<masked>"
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}
