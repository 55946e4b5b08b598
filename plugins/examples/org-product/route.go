// Command org-product is an onboard hook plug-in that routes devices to a
// product by the organization (O) of their certificate.
//
// Config: each entry maps an organization to a product id, e.g.
// {"acme": "meter-v2", "globex": "sensor-v1"}; the key "*" is the product
// for any other organization. Set "unknown" to "deny" to refuse devices
// of an organization with no entry (and no "*") instead of leaving their
// template's product_id as it is.
//
// It acts on "before-provision" only: the patch sets the resolved
// device's product_id.
package main

import (
	"github.com/onboardhq/onboard/sdk"
)

// main is empty: the plug-in is a reactor whose export is hook (main.go).
func main() {}

func decide(req sdk.HookRequest, config func(string) (string, bool)) sdk.HookResponse {
	if req.Hook != sdk.BeforeProvision || req.Device == nil {
		return sdk.Allow()
	}
	org := req.Certificate["O"]
	product, ok := "", false
	if org != "" && org != "*" && org != "unknown" {
		product, ok = config(org)
	}
	if !ok {
		product, ok = config("*")
	}
	if !ok || product == "" {
		if mode, _ := config("unknown"); mode == "deny" {
			if org == "" {
				return sdk.Deny("the device certificate has no organization (O) in its subject")
			}
			return sdk.Denyf("organization %q has no product configured", org)
		}
		return sdk.Allow()
	}
	if product == req.Device.ProductID {
		return sdk.Allow()
	}
	return sdk.AllowPatch(map[string]string{"product_id": product})
}
