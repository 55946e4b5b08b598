package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onboardhq/onboard/sdk"
)

func TestRoute(t *testing.T) {
	m := map[string]string{"acme": "meter-v2"}
	c := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	req := func(o string) sdk.HookRequest {
		return sdk.HookRequest{Hook: sdk.BeforeProvision, Certificate: map[string]string{"O": o}, Device: &sdk.Device{ProductID: "p0"}}
	}
	assert.JSONEq(t, `{"product_id":"meter-v2"}`, string(decide(req("acme"), c).Patch))
	r := decide(req("globex"), c)
	assert.Equal(t, sdk.DecisionAllow, r.Decision)
	assert.Empty(t, r.Patch)
	m["unknown"] = "deny"
	assert.Equal(t, `organization "globex" has no product configured`, decide(req("globex"), c).Reason)
	m["*"] = "generic"
	assert.JSONEq(t, `{"product_id":"generic"}`, string(decide(req("globex"), c).Patch))
	assert.Empty(t, decide(sdk.HookRequest{Hook: sdk.BeforeCreate}, c).Patch)
}
