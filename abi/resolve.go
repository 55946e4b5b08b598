package abi

import (
	"encoding/json"
	"fmt"
	"slices"
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

// ResolveParams are the params of an OpResolve call that names the stored
// template it resolves: the engine keeps a template, checked once, per id
// and replaces it when the version changes, so a later call may send
// ResolveSubjectInput instead of ResolveInput. id must name the template
// uniquely across every scope the host serves; version must change
// whenever the body does (a digest of the body does).
func ResolveParams(id, version string) []byte {
	b := append([]byte(`{"template_id":`), AppendString(nil, id)...)
	b = append(b, `,"template_version":`...)
	b = AppendString(b, version)
	return append(b, '}')
}

// ResolveSubjectInput is the body of an OpResolve call with ResolveParams
// whose template the engine already holds: the subject alone, keys in
// order.
//
//	{"subject":{"CN":"…",…}}
func ResolveSubjectInput(subject map[string]string) []byte {
	keys := make([]string, 0, len(subject))
	for k := range subject {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := append(make([]byte, 0, 64+32*len(keys)), `{"subject":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = AppendString(b, subject[k])
	}
	return append(b, "}}"...)
}
