package provision_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/internal/corpus"
)

// fleetTemplate is the create request of the corpus's extended template
// (docs/templates.md): defaults, join, sub, split/select, if, mappings.
func fleetTemplate(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "iotda.provisioning-template.create", "ok-ext-fleet-functions.json"))
	require.NoError(t, err)
	var tpl map[string]any
	require.NoError(t, json.Unmarshal(b, &tpl))
	return tpl
}

// An extended template registers devices over mutual TLS like an IoTDA
// one: the Wasm engine evaluates its expressions against each certificate.
func TestBootstrapExtendedTemplate(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, nil)
			e.template = fleetTemplate(t)
			ca := provisiontest.NewCA(t, "fleet CA")
			_, tplID := e.setupCA(ca, true, true, true)

			r := e.connect(ca.Issue(t, map[string]string{"C": "CN", "OU": "factory-7", "CN": "line-a_0001", "serialNumber": "SN0001"}, provisiontest.Options{}))
			require.Equal(t, http.StatusCreated, r.status, r.raw)
			assert.Equal(t, "factory-7-line-a_0001", r.body["node_id"])
			assert.Equal(t, "line-a_0001 (SN0001) ${not-a-placeholder}", r.body["device_name"])
			assert.Equal(t, "642bf260f2f9030e44210d8d", r.body["product_id"], "mapped from the CN's line")
			assert.Equal(t, []any{
				map[string]any{"tag_key": "region", "tag_value": "cn-prod"},
				map[string]any{"tag_key": "serial", "tag_value": "sn.SN0001"},
				map[string]any{"tag_key": "unit", "tag_value": "0001"},
			}, r.body["tags"])
			assert.Equal(t, []any{"policy-base", "policy-line-a"}, r.body["policy_ids"])
			assert.Equal(t, tplID, r.body["template_id"])

			// No OU, no C: the parameters' defaults; an unknown line: the
			// mapping's default product.
			d := e.connect(ca.Issue(t, map[string]string{"CN": "line-z_0002", "serialNumber": "SN0002"}, provisiontest.Options{}))
			require.Equal(t, http.StatusCreated, d.status, d.raw)
			assert.Equal(t, "unassigned-line-z_0002", d.body["node_id"])
			assert.Equal(t, "642bf260f2f9030e44210d8f", d.body["product_id"])

			// serialNumber has no default: refused, nothing written.
			no := e.connect(ca.Issue(t, map[string]string{"CN": "line-a_0003"}, provisiontest.Options{}))
			assert.Equal(t, http.StatusBadRequest, no.status, no.raw)
			assert.Equal(t, "IOTDA.000006", no.body["error_code"])
			assert.Contains(t, no.body["error_msg"], "serialNumber")
			assert.Equal(t, 2, e.deviceCount(), "the refused device is not written")

			// The preview answers what the listener registered.
			p := e.op("POST", "/provisioning-templates/"+tplID+"/onboard-preview",
				map[string]any{"subject": map[string]any{"CN": "line-b_0004", "OU": "lab", "serialNumber": "SN4"}})
			require.Equal(t, http.StatusOK, p.status, p.raw)
			dev := p.body["device"].(map[string]any)
			assert.Equal(t, "lab-line-b_0004", dev["node_id"])
			assert.Equal(t, "642bf260f2f9030e44210d8e", dev["product_id"])
			assert.Equal(t, "other", dev["tags"].([]any)[0].(map[string]any)["tag_value"], "a lab device is not production")
		})
	}
}
