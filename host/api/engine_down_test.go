package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
)

// An engine that fails (here: closed under the server) is a 503 in the
// service's style with a message to retry, never a verdict on the
// request, whichever handler called it.
func TestEngineFailureIs503(t *testing.T) {
	rt, err := host.New(context.Background(), host.WithCompilationCacheDir(enginetest.CacheDir()), host.WithMaxInstances(1))
	require.NoError(t, err)
	e := newEnv(t, "sqlite", func(c *api.Config) { c.Engine = rt })
	tr := e.do("POST", templatesPath, e.tokenA, templateNamed(t, "engine-down"))
	require.Equal(t, http.StatusCreated, tr.status, string(tr.raw))
	preview := templatesPath + "/" + tr.body["template_id"].(string) + "/onboard-preview"
	require.NoError(t, rt.Close(context.Background()))

	for _, tc := range []struct {
		name, path string
		body       any
		code       string
	}{
		{"validation", agentsPath, agentBody("a1", "10.0.0.1"), "BackupService.0503"},
		{"template resolution", preview, map[string]any{"subject": map[string]any{"CN": "dev-1"}}, "IOTDA.000503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, e.tokenA, tc.body)
			require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.raw))
			assert.Equal(t, tc.code, r.body["error_code"])
			assert.Equal(t, host.ErrUnavailable.Error(), r.body["error_msg"])
		})
	}
}
