package abi

import (
	"encoding/json"
	"fmt"
)

// Parameters maps the seven IoTDA template parameters to the X.509 subject
// attribute each one is read from (IoTDA Table 4, ProvisioningTemplateBody).
// A resolve subject is keyed by the attribute short names (or by the
// parameter names themselves).
var Parameters = []struct{ Name, Attribute string }{
	{"iotda::certificate::country", "C"},
	{"iotda::certificate::organization", "O"},
	{"iotda::certificate::organizational_unit", "OU"},
	{"iotda::certificate::distinguished_name_qualifier", "dnQualifier"},
	{"iotda::certificate::state_name", "ST"},
	{"iotda::certificate::common_name", "CN"},
	{"iotda::certificate::serial_number", "serialNumber"},
}

// ResolveInput is the body of an OpResolve call: the template body (a JSON
// object) and the certificate subject it resolves against.
//
//	{"template_body":{…},"subject":{"CN":"…",…}}
func ResolveInput(templateBody json.RawMessage, subject map[string]string) ([]byte, error) {
	in, err := json.Marshal(struct {
		TemplateBody json.RawMessage   `json:"template_body"`
		Subject      map[string]string `json:"subject"`
	}{templateBody, subject})
	if err != nil {
		return nil, fmt.Errorf("abi: resolve input: %w", err)
	}
	return in, nil
}
