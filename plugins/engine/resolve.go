package engine

import (
	"strconv"

	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/plugins/engine/internal/schema"
)

// Parameters maps the seven IoTDA template parameters to the X.509 subject
// attribute each one is read from (IoTDA Table 4, ProvisioningTemplateBody).
var Parameters = []struct{ Name, Attribute string }{
	{"iotda::certificate::country", "C"},
	{"iotda::certificate::organization", "O"},
	{"iotda::certificate::organizational_unit", "OU"},
	{"iotda::certificate::distinguished_name_qualifier", "dnQualifier"},
	{"iotda::certificate::state_name", "ST"},
	{"iotda::certificate::common_name", "CN"},
	{"iotda::certificate::serial_number", "serialNumber"},
}

func attributeOf(param string) string {
	for _, p := range Parameters {
		if p.Name == param {
			return p.Attribute
		}
	}
	return ""
}

// resolve turns {"template_body":{…},"subject":{"CN":"…",…}} into the device
// the template registers:
//
//	{"op":…,"valid":true,"device":{"device_name","node_id","product_id","tags","policy_ids"}}
//
// Subject keys are the attribute short names (C, O, OU, dnQualifier, ST,
// CN, serialNumber) or the parameter names themselves.
func (e *Engine) resolve(body []byte) []byte {
	t := &e.tree
	if err := t.Parse(body); err != nil {
		e.violations = append(e.violations, syntaxViolation(err))
		return e.result(OpResolve, false, nil)
	}
	if t.Nodes[0].Kind != jsontree.Object {
		e.violations = append(e.violations, schema.Violation{Rule: "type", Message: `must be an object {"template_body":{…},"subject":{…}}`})
		return e.result(OpResolve, false, nil)
	}
	tb, subj := t.Member(0, "template_body"), t.Member(0, "subject")
	if tb < 0 || subj < 0 || t.Nodes[subj].Kind != jsontree.Object {
		e.violations = append(e.violations, schema.Violation{Rule: "required",
			Message: `send {"template_body":{…},"subject":{"CN":"…",…}}: both members are required and subject must be an object of strings`})
		return e.result(OpResolve, false, nil)
	}
	tbs := e.reg.templateBody
	e.v.Prefix = "/template_body"
	e.v.Validate(tbs, t.RawJSON(tb))
	e.v.Prefix = ""
	e.violations = append(e.violations, e.v.Violations...)
	if len(e.violations) > 0 {
		return e.result(OpResolve, false, nil)
	}
	// Undeclared refs: same rule as on create.
	declared := t.Member(tb, "parameters")
	walkRefs(t, t.Member(tb, "resources"), "/template_body/resources", func(ref int32, ptr string) {
		if t.Member(declared, string(t.Str(ref))) < 0 {
			e.violations = append(e.violations, schema.Violation{Pointer: ptr, Rule: "ref-undeclared",
				Message: "references " + strconv.Quote(string(t.Str(ref))) + ", which template_body.parameters does not declare"})
		}
	})
	if len(e.violations) > 0 {
		return e.result(OpResolve, false, nil)
	}

	r := resolver{e: e, t: t, subject: subj}
	res := t.Member(tb, "resources")
	dev := t.Member(res, "device")
	devS := tbs.Prop("resources").Prop("device")
	base := "/template_body/resources/device"

	nodeID := r.value(dev, "node_id", base, devS.Prop("node_id"))
	name := nodeID
	if t.Member(dev, "device_name") >= 0 {
		name = r.value(dev, "device_name", base, devS.Prop("device_name"))
	}
	product := r.value(dev, "product_id", base, devS.Prop("product_id"))
	type tag struct{ k, v string }
	var tags []tag
	if tn := t.Member(dev, "tags"); tn >= 0 {
		tagS := devS.Prop("tags").Items()
		i := 0
		for el := t.Nodes[tn].First; el >= 0; el = t.Nodes[el].Next {
			p := base + "/tags/" + strconv.Itoa(i)
			k := r.value(el, "tag_key", p, tagS.Prop("tag_key"))
			v := r.value(el, "tag_value", p, tagS.Prop("tag_value"))
			tags = append(tags, tag{k, v})
			i++
		}
	}
	var policies []string
	if pol := t.Member(res, "policy"); pol >= 0 {
		if ids := t.Member(pol, "policy_ids"); ids >= 0 {
			for el := t.Nodes[ids].First; el >= 0; el = t.Nodes[el].Next {
				policies = append(policies, string(t.Str(el)))
			}
		}
	}
	if len(e.violations) > 0 {
		return e.result(OpResolve, false, nil)
	}
	b := append(e.out[:0], `{"op":`...)
	b = schema.AppendString(b, OpResolve)
	b = append(b, `,"valid":true,"device":{"device_name":`...)
	b = schema.AppendString(b, name)
	b = append(b, `,"node_id":`...)
	b = schema.AppendString(b, nodeID)
	b = append(b, `,"product_id":`...)
	b = schema.AppendString(b, product)
	b = append(b, `,"tags":[`...)
	for i, tg := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"tag_key":`...)
		b = schema.AppendString(b, tg.k)
		b = append(b, `,"tag_value":`...)
		b = schema.AppendString(b, tg.v)
		b = append(b, '}')
	}
	b = append(b, `],"policy_ids":[`...)
	for i, p := range policies {
		if i > 0 {
			b = append(b, ',')
		}
		b = schema.AppendString(b, p)
	}
	b = append(b, "]}}"...)
	e.out = b
	return b
}

type resolver struct {
	e       *Engine
	t       *jsontree.Tree
	subject int32
}

// value resolves member name of obj: a static string is taken as is, a
// {"ref": …} is looked up in the subject. Either way the result must meet
// the static string rule of that location.
func (r *resolver) value(obj int32, name, base string, s *schema.Schema) string {
	t := r.t
	n := t.Member(obj, name)
	if n < 0 {
		return ""
	}
	ptr := base + "/" + name
	var val, source string
	if t.Nodes[n].Kind == jsontree.String {
		val = string(t.Str(n))
	} else {
		ref := t.Member(n, "ref")
		param := string(t.Str(ref))
		attr := attributeOf(param)
		sv := t.Member(r.subject, attr)
		if sv < 0 {
			sv = t.Member(r.subject, param)
		}
		if sv < 0 || t.Nodes[sv].Kind != jsontree.String || len(t.Raw(sv)) == 0 {
			r.e.violations = append(r.e.violations, schema.Violation{Pointer: ptr + "/ref", Rule: "missing-parameter",
				Message: name + " references " + param + ", but the certificate subject has no " + attr +
					" value: issue the device certificate with " + attr + "=… or change the template"})
			return ""
		}
		val = string(t.Str(sv))
		source = " (value taken from the certificate subject's " + attr + ")"
	}
	if f := s.StringForm(); f != nil {
		r.check(f, val, ptr, source)
	}
	return val
}

// check validates a resolved string against a string schema by parsing it
// as a JSON string into the scratch tree.
func (r *resolver) check(s *schema.Schema, val, ptr, source string) {
	e := r.e
	var v schema.Validator
	v.Prefix = ptr
	v.Validate(s, schema.AppendString(nil, val))
	for _, viol := range v.Violations {
		viol.Message += source
		e.violations = append(e.violations, viol)
	}
}
