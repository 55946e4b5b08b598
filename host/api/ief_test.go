package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/pki"
)

const productsPath = "/v2/" + projA + "/productmgr/products"

func TestIEFProductMaterial(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		r := e.do("POST", productsPath, e.tokenA, `{"product":{"name":"edge-line-1","description":"","attributes":{},"tags":[{"key":"site","value":"plant-7"}]}}`)
		require.Equal(t, http.StatusCreated, r.status, string(r.raw))
		p := r.body["product"].(map[string]any)
		assert.Equal(t, projA, p["project_id"])
		assert.NotEmpty(t, p["identifier"])

		// The package decodes to a .tar.gz whose three files chain.
		contents, err := pki.VerifyPackage(p["package"].(string))
		require.NoError(t, err)
		assert.Equal(t, p["ca"], string(contents.CAPEM))
		assert.Equal(t, p["certificate"], string(contents.CertPEM))
		assert.Equal(t, p["private_key"], string(contents.KeyPEM))
		require.NoError(t, pki.VerifyChain(contents.CAPEM, contents.CertPEM, time.Now()))

		// A second product of the project is signed by the same CA.
		r2 := e.do("POST", productsPath, e.tokenA, `{"product":{"name":"edge-line-2"}}`)
		require.Equal(t, http.StatusCreated, r2.status, string(r2.raw))
		p2 := r2.body["product"].(map[string]any)
		assert.Equal(t, p["ca"], p2["ca"])

		// Names are unique per project; secrets are never listed or shown.
		dup := e.do("POST", productsPath, e.tokenA, `{"product":{"name":"edge-line-1"}}`)
		assert.Equal(t, http.StatusConflict, dup.status, string(dup.raw))
		assert.Equal(t, "IEF.100012", dup.body["error_code"])
		list := e.do("GET", productsPath+"?limit=10&offset=0", e.tokenA, nil)
		require.Equal(t, http.StatusOK, list.status, string(list.raw))
		assert.EqualValues(t, 2, list.body["count"])
		assert.NotContains(t, string(list.raw), "PRIVATE KEY")
		show := e.do("GET", productsPath+"/"+p["id"].(string), e.tokenA, nil)
		require.Equal(t, http.StatusOK, show.status, string(show.raw))
		assert.NotContains(t, string(show.raw), "PRIVATE KEY")

		// Another project never sees it.
		assert.Equal(t, http.StatusForbidden, e.do("GET", productsPath, e.tokenB, nil).status)

		del := e.do("DELETE", productsPath+"/"+p["id"].(string), e.tokenA, nil)
		assert.Equal(t, http.StatusNoContent, del.status, string(del.raw))
		assert.Equal(t, http.StatusNotFound, e.do("GET", productsPath+"/"+p["id"].(string), e.tokenA, nil).status)
	})
}

func TestIEFRejectsBadNames(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, name := range []string{"-edge", "Edge", "a234567890123456789012345678"} {
		r := e.do("POST", productsPath, e.tokenA, `{"product":{"name":"`+name+`"}}`)
		assert.Equal(t, http.StatusBadRequest, r.status, name)
		assert.Equal(t, "IEF.100001", r.body["error_code"])
		assert.Contains(t, r.body["error_msg"], "/product/name")
	}
}
