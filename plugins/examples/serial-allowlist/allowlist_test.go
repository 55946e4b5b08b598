package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onboardhq/onboard/sdk"
)

func cfg(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDecide(t *testing.T) {
	c := cfg(map[string]string{"ranges": "1000-1999, 5000", "prefix": "SN-", "field": "/agent/host_name"})
	prov := func(serial string) sdk.HookRequest {
		return sdk.HookRequest{Hook: sdk.BeforeProvision, Certificate: map[string]string{"serialNumber": serial}}
	}
	assert.Equal(t, sdk.DecisionAllow, decide(prov("SN-1500"), c).Decision)
	assert.Equal(t, sdk.DecisionAllow, decide(prov("SN-5000"), c).Decision)
	d := decide(prov("SN-2000"), c)
	assert.Equal(t, sdk.DecisionDeny, d.Decision)
	assert.Contains(t, d.Reason, "outside the allowed ranges")
	assert.Contains(t, decide(prov("1500"), c).Reason, "not \"SN-\" followed by a decimal number")
	assert.Contains(t, decide(sdk.HookRequest{Hook: sdk.BeforeProvision}, c).Reason, "no serialNumber")

	create := func(body string) sdk.HookRequest {
		return sdk.HookRequest{Hook: sdk.BeforeCreate, Request: json.RawMessage(body)}
	}
	assert.Equal(t, sdk.DecisionAllow, decide(create(`{"agent":{"host_name":"SN-1001"}}`), c).Decision)
	assert.Equal(t, sdk.DecisionDeny, decide(create(`{"agent":{"host_name":"SN-0999"}}`), c).Decision)
	assert.Contains(t, decide(create(`{"agent":{}}`), c).Reason, "no serial at /agent/host_name")
	assert.Equal(t, sdk.DecisionAllow, decide(create(`{}`), cfg(map[string]string{"ranges": "1-2"})).Decision)

	assert.Contains(t, decide(prov("SN-1"), cfg(map[string]string{"ranges": "9-1"})).Reason, "misconfigured")
}
