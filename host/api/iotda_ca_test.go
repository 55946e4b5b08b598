package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/host/store"
)

const certificatesPath = "/v5/iot/" + projA + "/certificates"

func TestIoTDADeviceCALifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ca := provisiontest.NewCA(t, "acme device CA")
		up := e.do("POST", certificatesPath, e.tokenA, map[string]any{"content": ca.PEM, "app_id": "app1"})
		require.Equal(t, http.StatusOK, up.status, string(up.raw))
		id := up.body["certificate_id"].(string)
		assert.Regexp(t, `^[0-9a-f]{24}$`, id)
		assert.Equal(t, "acme device CA", up.body["cn_name"])
		assert.Equal(t, projA, up.body["owner"])
		assert.Equal(t, false, up.body["status"])
		assert.Equal(t, false, up.body["provision_enable"])
		assert.Regexp(t, `^[0-9a-f]{32}$`, up.body["verify_code"])
		assert.Equal(t, ca.Cert.NotAfter.UTC().Format("20060102T150405Z"), up.body["expiry_date"])
		assert.NotContains(t, up.body, "content", "only show returns the content")

		dup := e.do("POST", certificatesPath, e.tokenA, map[string]any{"content": ca.PEM})
		assert.Equal(t, http.StatusConflict, dup.status, string(dup.raw))
		assert.Contains(t, dup.body["error_msg"], id)

		show := e.do("GET", certificatesPath+"/"+id, e.tokenA, nil)
		require.Equal(t, http.StatusOK, show.status, string(show.raw))
		assert.Equal(t, ca.PEM, show.body["content"])
		// Another project does not see it.
		assert.Equal(t, http.StatusForbidden, e.do("GET", certificatesPath+"/"+id, e.tokenB, nil).status)
		assert.Equal(t, http.StatusNotFound, e.do("GET", "/v5/iot/"+projB+"/certificates/"+id, e.tokenB, nil).status)

		// Proof of possession: the CN must be the verify code, signed by the CA key.
		code := up.body["verify_code"].(string)
		wrongCN := e.do("POST", certificatesPath+"/"+id+"/action?action_id=verify", e.tokenA, map[string]any{"verify_content": ca.VerificationPEM(t, "not-the-code")})
		assert.Equal(t, http.StatusBadRequest, wrongCN.status)
		assert.Contains(t, wrongCN.body["error_msg"], "verify_code")
		impostor := provisiontest.NewCA(t, "acme device CA")
		wrongKey := e.do("POST", certificatesPath+"/"+id+"/action?action_id=verify", e.tokenA, map[string]any{"verify_content": impostor.VerificationPEM(t, code)})
		assert.Equal(t, http.StatusBadRequest, wrongKey.status)
		assert.Contains(t, wrongKey.body["error_msg"], "not signed by this CA")
		badAction := e.do("POST", certificatesPath+"/"+id+"/action?action_id=delete", e.tokenA, map[string]any{"verify_content": "x"})
		assert.Equal(t, http.StatusBadRequest, badAction.status)
		assert.Contains(t, badAction.body["error_msg"], "action_id")
		ok := e.do("POST", certificatesPath+"/"+id+"/action?action_id=verify", e.tokenA, map[string]any{"verify_content": ca.VerificationPEM(t, code)})
		require.Equal(t, http.StatusOK, ok.status, string(ok.raw))
		assert.Equal(t, true, ok.body["status"])

		// Binding a template: it must exist; null unbinds.
		missing := e.do("PUT", certificatesPath+"/"+id, e.tokenA, map[string]any{"template_id": "5c90fa7d3c4e4405e8525079"})
		assert.Equal(t, http.StatusNotFound, missing.status, string(missing.raw))
		tr := e.do("POST", templatesPath, e.tokenA, templateNamed(t, "bound"))
		require.Equal(t, http.StatusCreated, tr.status, string(tr.raw))
		tplID := tr.body["template_id"].(string)
		bind := e.do("PUT", certificatesPath+"/"+id, e.tokenA, map[string]any{"template_id": tplID, "provision_enable": true})
		require.Equal(t, http.StatusOK, bind.status, string(bind.raw))
		assert.Equal(t, tplID, bind.body["template_id"])
		assert.Equal(t, true, bind.body["provision_enable"])
		assert.Equal(t, true, bind.body["status"], "update keeps the verification")
		unbind := e.do("PUT", certificatesPath+"/"+id, e.tokenA, map[string]any{"template_id": nil})
		require.Equal(t, http.StatusOK, unbind.status, string(unbind.raw))
		assert.Equal(t, "", unbind.body["template_id"])
		assert.Equal(t, true, unbind.body["provision_enable"])

		// List, with the app_id filter and marker paging.
		ca2 := provisiontest.NewCA(t, "second CA")
		require.Equal(t, http.StatusOK, e.do("POST", certificatesPath, e.tokenA, map[string]any{"content": ca2.PEM}).status)
		all := e.do("GET", certificatesPath+"?limit=1", e.tokenA, nil)
		require.Equal(t, http.StatusOK, all.status, string(all.raw))
		assert.Len(t, all.body["certificates"], 1)
		page := all.body["page"].(map[string]any)
		assert.Equal(t, float64(2), page["count"])
		next := e.do("GET", certificatesPath+"?limit=1&marker="+page["marker"].(string), e.tokenA, nil)
		require.Equal(t, http.StatusOK, next.status, string(next.raw))
		assert.Equal(t, "second CA", next.body["certificates"].([]any)[0].(map[string]any)["cn_name"])
		byApp := e.do("GET", certificatesPath+"?app_id=app1", e.tokenA, nil)
		assert.Len(t, byApp.body["certificates"], 1)

		del := e.do("DELETE", certificatesPath+"/"+id, e.tokenA, nil)
		assert.Equal(t, http.StatusNoContent, del.status, string(del.raw))
		assert.Equal(t, http.StatusNotFound, e.do("GET", certificatesPath+"/"+id, e.tokenA, nil).status)
	})
}

func TestIoTDADeviceCAUploadRefusals(t *testing.T) {
	e := newEnv(t, "sqlite")
	ca := provisiontest.NewCA(t, "CA")
	leaf := ca.Issue(t, map[string]string{"CN": "dev-1"}, provisiontest.Options{})
	expired := provisiontest.NewCAValid(t, "old CA", time.Now().AddDate(-2, 0, 0), time.Now().AddDate(-1, 0, 0))
	for name, tc := range map[string]struct{ content, msg string }{
		"device certificate": {leaf.PEM, "CA:TRUE"},
		"expired CA":         {expired.PEM, "expired"},
		"not PEM":            {"hello", "no -----BEGIN CERTIFICATE----- block"},
		"two certificates":   {ca.PEM + leaf.PEM, "exactly one certificate"},
		"private key":        {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "never a private key"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", certificatesPath, e.tokenA, map[string]any{"content": tc.content})
			assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
			assert.Equal(t, "IOTDA.000006", r.body["error_code"])
			assert.Contains(t, r.body["error_msg"], tc.msg)
		})
	}
	r := e.do("POST", certificatesPath, e.tokenA, map[string]any{"content": ca.PEM, "template_id": "nope"})
	assert.Equal(t, http.StatusNotFound, r.status, string(r.raw))
	list := e.do("GET", certificatesPath, e.tokenA, nil)
	assert.Equal(t, float64(0), list.body["page"].(map[string]any)["count"], "nothing refused is stored")
}

func TestIoTDATemplatePreview(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		tr := e.do("POST", templatesPath, e.tokenA, templateNamed(t, "preview"))
		require.Equal(t, http.StatusCreated, tr.status, string(tr.raw))
		tplID := tr.body["template_id"].(string)
		path := templatesPath + "/" + tplID + "/onboard-preview"
		subject := map[string]any{"C": "CN", "O": "acme", "OU": "meters", "dnQualifier": "dq", "ST": "GD", "CN": "dev-001", "serialNumber": "SN1"}

		r := e.do("POST", path, e.tokenA, map[string]any{"subject": subject})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, false, r.body["effective"], "not bound to any CA yet")
		assert.Equal(t, []any{}, r.body["certificate_ids"])
		dev := r.body["device"].(map[string]any)
		assert.NotEmpty(t, dev["node_id"])
		assert.NotEmpty(t, dev["product_id"])

		ca := provisiontest.NewCA(t, "CA")
		up := e.do("POST", certificatesPath, e.tokenA, map[string]any{"content": ca.PEM, "template_id": tplID, "provision_enable": true})
		require.Equal(t, http.StatusOK, up.status, string(up.raw))
		r = e.do("POST", path, e.tokenA, map[string]any{"subject": subject})
		assert.Equal(t, true, r.body["effective"])
		assert.Equal(t, []any{up.body["certificate_id"]}, r.body["certificate_ids"])

		// Nothing was registered.
		_, n, err := e.store.ListIoTDADevices(t.Context(), storeFilterAll())
		require.NoError(t, err)
		assert.Equal(t, 0, n)

		missing := e.do("POST", path, e.tokenA, map[string]any{"subject": map[string]any{"CN": "dev-1"}})
		assert.Equal(t, http.StatusBadRequest, missing.status, string(missing.raw))
		assert.Contains(t, missing.body["error_msg"], "missing-parameter")
		unknown := e.do("POST", templatesPath+"/5c90fa7d3c4e4405e8525079/onboard-preview", e.tokenA, map[string]any{"subject": subject})
		assert.Equal(t, http.StatusNotFound, unknown.status)
	})
}

func storeFilterAll() store.IoTDADeviceFilter { return store.IoTDADeviceFilter{ProjectID: projA} }
