package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/sdk"
)

func none(string) (string, bool) { return "", false }

func TestProvision(t *testing.T) {
	req := sdk.HookRequest{Hook: sdk.BeforeProvision, Certificate: map[string]string{"OU": "meters"},
		Device: &sdk.Device{Tags: []sdk.Tag{{Key: "site", Value: "a"}}}}
	r := decide(req, none)
	assert.Equal(t, sdk.DecisionAllow, r.Decision)
	assert.JSONEq(t, `{"tags":[{"tag_key":"site","tag_value":"a"},{"tag_key":"ou","tag_value":"meters"}]}`, string(r.Patch))

	req.Device.Tags = append(req.Device.Tags, sdk.Tag{Key: "ou", Value: "x"})
	assert.Empty(t, decide(req, none).Patch, "an existing key is left alone")
	req.Certificate = nil
	assert.Empty(t, decide(req, none).Patch)
}

func TestTemplate(t *testing.T) {
	req := sdk.HookRequest{Hook: sdk.BeforeCreate, Operation: templateCreate, Request: json.RawMessage(
		`{"template_name":"t","template_body":{"resources":{"device":{"tags":[{"tag_key":"k","tag_value":"v"}]}}}}`)}
	r := decide(req, func(k string) (string, bool) { return "unit", k == "tag_key" })
	require.Equal(t, sdk.DecisionAllow, r.Decision)
	assert.JSONEq(t, `{"template_body":{"parameters":{"iotda::certificate::organizational_unit":{"type":"String"}},
		"resources":{"device":{"tags":[{"tag_key":"k","tag_value":"v"},
		{"tag_key":"unit","tag_value":{"ref":"iotda::certificate::organizational_unit"}}]}}}}`, string(r.Patch))
	req.Operation = "cbr.agent.register"
	assert.Empty(t, decide(req, none).Patch)
}
