package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// Rules on a request's shape are the engine's, so `onboard validate` and
// the server give the same verdict (cmd/onboard TestValidateAndServeAgree
// runs the corpus through both). These were Go checks in handlers before;
// each now answers with the engine's violation, which names the rule.
func TestShapeRulesAnswerFromTheEngine(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	for _, tc := range []struct {
		name, query, body, want string
	}{
		{"orgId missing", "action=batchCreate", `{"deviceList":[` + device("") + `]}`, `missing required member "orgId"`},
		{"search by another expression", "action=search&orgId=" + enosOrgA, `{"expression":"deviceName = 'm'"}`, "/expression: pattern"},
		{"search sorted by another field", "action=search&orgId=" + enosOrgA,
			`{"pagination":{"pageNo":1,"pageSize":10,"sorters":[{"field":"deviceKey"}]}}`, "/pagination/sorters/0/field: enum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.enos("POST", tc.query, e.bare, tc.body)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
			assert.EqualValues(t, 99400, r.body["code"])
			assert.Contains(t, r.body["msg"], tc.want)
		})
	}
	r := e.enos("POST", "action=search&orgId="+enosOrgA, e.bare, `{"expression":" productKey\t=  'pk1' "}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.EqualValues(t, 0, r.body["code"], string(r.raw))

	tok := "tok-ief-ca"
	require.NoError(t, e.store.CreateToken(context.Background(), tok,
		&store.Token{ProjectID: projA, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	r = e.do("POST", "/v2/"+projA+"/productmgr/products", tok, `{"product":{"name":"ca"}}`)
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	assert.Equal(t, "IEF.100001", r.body["error_code"])
	assert.Contains(t, r.body["error_msg"], "/product/name: not")
	assert.Contains(t, r.body["error_msg"], "ca.crt")
}
