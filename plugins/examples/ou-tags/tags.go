// Command ou-tags is an onboard hook plug-in that tags devices with the
// organizational unit (OU) of their certificate.
//
// Config:
//
//	tag_key  optional, default "ou": the key of the tag it adds
//
// On "before-provision" it adds the tag {tag_key: OU} to the resolved
// device (a device whose certificate has no OU, or that already has the
// key, is left alone). On "before-create" of an IoTDA provisioning template
// (iotda.provisioning-template.create) it adds the same tag to the
// template as a reference to iotda::certificate::organizational_unit,
// declaring the parameter, so every device the template provisions gets
// it; the engine validates the patched template again. Other operations
// pass unchanged.
package main

import (
	"encoding/json"

	"github.com/onboardhq/onboard/sdk"
)

// main is empty: the plug-in is a reactor whose export is hook (main.go).
func main() {}

const (
	templateCreate = "iotda.provisioning-template.create"
	ouParameter    = "iotda::certificate::organizational_unit"
)

func decide(req sdk.HookRequest, config func(string) (string, bool)) sdk.HookResponse {
	key, ok := config("tag_key")
	if !ok || key == "" {
		key = "ou"
	}
	switch {
	case req.Hook == sdk.BeforeProvision && req.Device != nil:
		ou := req.Certificate["OU"]
		if ou == "" {
			return sdk.Allow()
		}
		for _, t := range req.Device.Tags {
			if t.Key == key {
				return sdk.Allow()
			}
		}
		tags := append(append([]sdk.Tag{}, req.Device.Tags...), sdk.Tag{Key: key, Value: ou})
		return sdk.AllowPatch(map[string]any{"tags": tags})
	case req.Hook == sdk.BeforeCreate && req.Operation == templateCreate:
		return tagTemplate(req.Request, key)
	}
	return sdk.Allow()
}

// template is the part of a template create request the hook reads; tags
// are kept raw so static values and references survive unchanged.
type template struct {
	TemplateBody struct {
		Resources struct {
			Device struct {
				Tags []json.RawMessage `json:"tags"`
			} `json:"device"`
		} `json:"resources"`
	} `json:"template_body"`
}

func tagTemplate(request json.RawMessage, key string) sdk.HookResponse {
	var t template
	if err := json.Unmarshal(request, &t); err != nil {
		return sdk.Denyf("ou-tags: cannot read the template: %v", err)
	}
	tags := t.TemplateBody.Resources.Device.Tags
	for _, raw := range tags {
		var tag struct {
			Key any `json:"tag_key"`
		}
		if json.Unmarshal(raw, &tag) == nil && tag.Key == key {
			return sdk.Allow()
		}
	}
	added, _ := json.Marshal(map[string]any{"tag_key": key, "tag_value": map[string]string{"ref": ouParameter}})
	tags = append(append([]json.RawMessage{}, tags...), added)
	return sdk.AllowPatch(map[string]any{"template_body": map[string]any{
		"parameters": map[string]any{ouParameter: map[string]string{"type": "String"}},
		"resources":  map[string]any{"device": map[string]any{"tags": tags}},
	}})
}
