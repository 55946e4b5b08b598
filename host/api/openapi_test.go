package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenAPIDocsAndProbes(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("GET", "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "3.1.0", r.body["openapi"])
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.raw, &doc))
	assert.Equal(t, "cbr.agent.register", doc.Paths["/v3/{project_id}/agents"]["post"].OperationID)

	r = e.do("GET", "/docs", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.raw), "openapi.json")
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")

	r = e.do("GET", "/readyz", "", nil)
	assert.Equal(t, http.StatusOK, r.status, string(r.raw))
	r = e.do("GET", "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, r.status)
}
