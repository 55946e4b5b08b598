package provision_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
)

// The engine keeps each stored template it resolved, checked once; an
// update or a delete of the template must reach the very next device.
// The provisioner runs on one engine instance, so the instance that kept
// the old version is the one the next device gets.
func TestBootstrapAfterTemplateUpdateAndDelete(t *testing.T) {
	one, err := host.New(context.Background(), host.WithCompilationCacheDir(enginetest.CacheDir()), host.WithMaxInstances(1), host.WithCallTimeout(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = one.Close(context.Background()) })
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnvWith(t, kind, func(c *provision.Config) { c.Engine = one })
			ca := provisiontest.NewCA(t, "acme device CA")
			caID, tplID := e.setupCA(ca, true, true, true)
			device := func(cn string) map[string]string {
				return map[string]string{"C": "CN", "O": "acme", "CN": cn, "serialNumber": "SN-" + cn}
			}

			for _, cn := range []string{"meter-1", "meter-2"} {
				r := e.connect(ca.Issue(t, device(cn), provisiontest.Options{}))
				require.Equal(t, http.StatusCreated, r.status, r.raw)
				assert.Equal(t, "acme", r.body["product_id"], "the template as created: product_id from O")
			}

			body := template["template_body"].(map[string]any)
			updated := map[string]any{"parameters": body["parameters"], "resources": map[string]any{
				"device": map[string]any{
					"node_id":    map[string]any{"ref": "iotda::certificate::common_name"},
					"product_id": "meters-v2",
				},
			}}
			u := e.op("PUT", "/provisioning-templates/"+tplID, map[string]any{"template_body": updated})
			require.Equal(t, http.StatusOK, u.status, u.raw)

			r := e.connect(ca.Issue(t, device("meter-3"), provisiontest.Options{}))
			require.Equal(t, http.StatusCreated, r.status, r.raw)
			assert.Equal(t, "meters-v2", r.body["product_id"], "the next device after an update gets the new template")
			assert.Equal(t, "meter-3", r.body["device_name"], "the new template has no device_name: node_id stands in")
			assert.Equal(t, []any{}, r.body["tags"])

			d := e.op("DELETE", "/provisioning-templates/"+tplID, nil)
			require.Equal(t, http.StatusNoContent, d.status, d.raw)
			r = e.connect(ca.Issue(t, device("meter-4"), provisiontest.Options{}))
			assert.Equal(t, http.StatusForbidden, r.status, r.raw)
			assert.Equal(t, "IOTDA.000004", r.body["error_code"], r.raw)
			assert.Contains(t, r.body["error_msg"], "no longer exists")
			assert.Contains(t, r.body["error_msg"], caID)
			assert.Equal(t, 3, e.deviceCount(), "the device after the delete is not written")
		})
	}
}

// A fleet's device costs one engine call: the parameters' verdict is kept
// per engine, and the engine instance holds the template, so only the
// subject is resolved. A reload (new schemas) asks about the parameters
// and sends the template again.
func TestBootstrapEngineCallsPerDevice(t *testing.T) {
	newRuntime := func() *host.Runtime {
		rt, err := host.New(context.Background(), host.WithCompilationCacheDir(enginetest.CacheDir()), host.WithMaxInstances(1), host.WithCallTimeout(0))
		require.NoError(t, err)
		return rt
	}
	engine := host.NewReloadable(newRuntime())
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	e := newEnvWith(t, "sqlite", func(c *provision.Config) { c.Engine = engine })
	ca := provisiontest.NewCA(t, "acme device CA")
	e.setupCA(ca, true, true, true)
	connect := func(cn string) int64 {
		t.Helper()
		before := engine.Stats().Calls
		r := e.connect(ca.Issue(t, map[string]string{"C": "CN", "O": "acme", "CN": cn, "serialNumber": "SN-" + cn}, provisiontest.Options{}))
		require.Equal(t, http.StatusCreated, r.status, r.raw)
		return engine.Stats().Calls - before
	}

	assert.Equal(t, int64(3), connect("meter-1"), "first device: parameters, then the subject alone, then the template with it")
	assert.Equal(t, int64(1), connect("meter-2"), "next devices: the subject alone")
	assert.Equal(t, int64(1), connect("meter-3"))

	require.NoError(t, engine.Swap(context.Background(), newRuntime()))
	assert.Equal(t, int64(3), connect("meter-4"), "a reloaded engine is asked again")
	assert.Equal(t, int64(1), connect("meter-5"))

	// A refused parameter is never kept.
	for range 2 {
		r := e.connect(ca.Issue(t, map[string]string{"C": "CN", "O": "acme", "CN": "meter-x"}, provisiontest.Options{}), "Instance-Id", "not a valid instance id!")
		assert.Equal(t, http.StatusBadRequest, r.status, r.raw)
	}
}
