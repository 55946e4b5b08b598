package engine

import (
	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/plugins/engine/internal/schema"
)

func attributeOf(param string) string {
	for _, p := range abi.Parameters {
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
		return e.result(abi.OpResolve, false, nil)
	}
	if t.Nodes[0].Kind != jsontree.Object {
		e.violations = append(e.violations, schema.Violation{Rule: "type", Message: `must be an object {"template_body":{…},"subject":{…}}`})
		return e.result(abi.OpResolve, false, nil)
	}
	tb, subj := t.Member(0, "template_body"), t.Member(0, "subject")
	if tb < 0 || subj < 0 || t.Nodes[subj].Kind != jsontree.Object {
		e.violations = append(e.violations, schema.Violation{Rule: "required",
			Message: `send {"template_body":{…},"subject":{"CN":"…",…}}: both members are required and subject must be an object of strings`})
		return e.result(abi.OpResolve, false, nil)
	}
	exact, anyBody, err := e.reg.templates()
	if err != nil {
		e.violations = append(e.violations, schema.Violation{Rule: "engine", Message: err.Error()})
		return e.result(abi.OpResolve, false, nil)
	}
	e.v.Prefix = "/template_body"
	e.v.Validate(anyBody, t.RawJSON(tb))
	e.v.Prefix = ""
	e.violations = append(e.violations, e.v.Violations...)
	if len(e.violations) > 0 {
		if hint, ok := extensionHint(body); ok {
			// First: it explains the "unknown member" violations after it.
			e.violations = append([]schema.Violation{hint}, e.violations...)
		}
		return e.result(abi.OpResolve, false, nil)
	}
	// The same rules as on create: a stored template passed them, a
	// template sent for a dry run may not have.
	checkTemplate(e, 0)
	if len(e.violations) > 0 {
		return e.result(abi.OpResolve, false, nil)
	}
	ev := newEvaluator(e, tb, "/template_body", subj)
	d := ev.device(exact)
	if len(e.violations) > 0 {
		return e.result(abi.OpResolve, false, nil)
	}
	b := append(e.out[:0], `{"op":`...)
	b = abi.AppendString(b, abi.OpResolve)
	b = append(b, `,"valid":true,"device":{"device_name":`...)
	b = abi.AppendString(b, d.name)
	b = append(b, `,"node_id":`...)
	b = abi.AppendString(b, d.nodeID)
	b = append(b, `,"product_id":`...)
	b = abi.AppendString(b, d.product)
	b = append(b, `,"tags":[`...)
	for i, tg := range d.tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"tag_key":`...)
		b = abi.AppendString(b, tg[0])
		b = append(b, `,"tag_value":`...)
		b = abi.AppendString(b, tg[1])
		b = append(b, '}')
	}
	b = append(b, `],"policy_ids":[`...)
	for i, p := range d.policies {
		if i > 0 {
			b = append(b, ',')
		}
		b = abi.AppendString(b, p)
	}
	b = append(b, "]}}"...)
	e.out = b
	return b
}

// resolvedDevice is what a template registers.
type resolvedDevice struct {
	name, nodeID, product string
	tags                  [][2]string
	policies              []string
}
