package provision_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/hooks"
	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/plugins/examples"
)

// Operators' before-provision hooks see the resolved device and the
// certificate fields: a deny refuses the device with the hook's reason and
// writes nothing; a patch is resolved again by the engine, then stored.
func TestBootstrapHooks(t *testing.T) {
	wasm, err := examples.Build(t.TempDir(), "serial-allowlist", "ou-tags")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "hooks.json")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`[
	 {"name":"serials","path":%q,"hooks":["before-provision"],"config":{"prefix":"SN","ranges":"0-499"}},
	 {"name":"ou","path":%q,"hooks":["before-provision"],"config":{"tag_key":"unit"}}]`,
		wasm["serial-allowlist"], wasm["ou-tags"])), 0o644))
	runner, err := hooks.Load(context.Background(), file)
	require.NoError(t, err)
	t.Cleanup(func() { _ = runner.Close(context.Background()) })

	e := newEnvWith(t, "sqlite", func(c *provision.Config) { c.Hooks = runner })
	ca := provisiontest.NewCA(t, "acme device CA")
	e.setupCA(ca, true, true, true)

	inRange := map[string]string{}
	for k, v := range meter {
		inRange[k] = v
	}
	inRange["OU"] = "meters"
	r := e.connect(ca.Issue(t, inRange, provisiontest.Options{}))
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Contains(t, r.body["tags"], map[string]any{"tag_key": "unit", "tag_value": "meters"}, "the ou-tags hook's patch is stored")

	outOfRange := map[string]string{}
	for k, v := range meter {
		outOfRange[k] = v
	}
	outOfRange["serialNumber"], outOfRange["CN"] = "SN900", "meter-900"
	before := e.deviceCount()
	r = e.connect(ca.Issue(t, outOfRange, provisiontest.Options{}))
	assert.Equal(t, http.StatusForbidden, r.status, r.raw)
	assert.Contains(t, r.raw, "serials", "the deny names the hook")
	assert.Equal(t, before, e.deviceCount(), "a denied device is not written")
}
