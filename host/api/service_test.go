package api

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/schemas"
)

// The error style of a path no operation serves comes from the services'
// route prefixes in the catalogue.
func TestServiceForPath(t *testing.T) {
	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	s := &Server{prefixes: routePrefixes(ops)}
	got := map[string]string{}
	for _, sp := range s.prefixes {
		got[sp.service] = "/" + strings.Join(sp.segments, "/")
	}
	assert.Equal(t, map[string]string{"ief": "/v2/{project_id}/productmgr/products", "iotda": "/v5/iot/{project_id}",
		"enos": "/connect-service/v2.4/devices", "ces": "/v3/{project_id}/agent-invocations", "cbr": "/v3/{project_id}"}, got)
	for path, want := range map[string]string{
		"/v3/p1/agents/a1/nothing":          "cbr",
		"/v3/p1/nothing-here":               "cbr", // CBR's prefix matches whole, CES's does not
		"/v3/p1/agent-invocations/x":        "ces",
		"/v3/p1/agent-invocations":          "ces",
		"/v2/p1/productmgr/products/x/y":    "ief",
		"/v2/p1/other":                      "ief",
		"/v5/iot/p1/devices":                "iotda",
		"/v5/other":                         "iotda",
		"/connect-service/v2.4/products":    "enos",
		"/connect-service/v2.4/devices/x/y": "enos",
		"/healthz":                          "onboard", // no service's: neutral
		"/":                                 "onboard",
		"/favicon.ico":                      "onboard",
	} {
		assert.Equal(t, want, s.serviceForPath(path), path)
	}
}
