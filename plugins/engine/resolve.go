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
//
// A host that registers many devices from one stored template names it in
// params, {"template_id":"…","template_version":"…"} (abi.ResolveParams):
// the engine then keeps the template, checked once, and a later call with
// the same id and version may send the subject alone. A new version of an
// id replaces the old one. Without the template, a call that sends no
// template_body gets rule abi.RuleTemplateNotCompiled, and the host sends
// the body.
func (e *Engine) resolve(params, body []byte) []byte {
	key, ok := e.templateKey(params)
	if !ok {
		return e.result(abi.OpResolve, false, nil)
	}
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
	subjOK := subj >= 0 && t.Nodes[subj].Kind == jsontree.Object
	ct := e.compiled[key.id]
	kept := key.id != "" && ct != nil && ct.version == key.version && subjOK
	if kept && ct.plan != nil {
		if d, ok := ct.plan.resolve(e, t, subj); ok {
			return e.writeDevice(d)
		}
	}
	exact, anyBody, err := e.reg.templates()
	if err != nil {
		e.violations = append(e.violations, schema.Violation{Rule: "engine", Message: err.Error()})
		return e.result(abi.OpResolve, false, nil)
	}
	if kept {
		ev := newEvaluator(e, &ct.tree, 0, "/template_body", t, subj)
		ev.kept = true
		return e.resolved(ev, exact)
	}
	switch {
	case subjOK && tb < 0 && key.id != "":
		e.violations = append(e.violations, schema.Violation{Rule: abi.RuleTemplateNotCompiled,
			Message: "template " + jsontree.Quote(key.id) + " version " + jsontree.Quote(key.version) +
				" is not compiled in this engine: send its template_body with the subject"})
		return e.result(abi.OpResolve, false, nil)
	case !subjOK || tb < 0:
		e.violations = append(e.violations, schema.Violation{Rule: "required",
			Message: `send {"template_body":{…},"subject":{"CN":"…",…}}: both members are required and subject must be an object of strings`})
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
	if key.id != "" {
		e.compile(key, t.RawJSON(tb), exact)
	}
	return e.resolved(newEvaluator(e, t, tb, "/template_body", t, subj), exact)
}

// templateKey reads a resolve call's params: both of template_id and
// template_version, or neither.
func (e *Engine) templateKey(params []byte) (templateKey, bool) {
	if len(params) == 0 {
		return templateKey{}, true
	}
	pt := &e.ptree
	if e.lastKey.id != "" && string(params) == string(pt.Src) {
		return e.lastKey, true // a fleet's devices name one template
	}
	e.lastKey = templateKey{}
	if err := pt.Parse(params); err != nil || pt.Nodes[0].Kind != jsontree.Object {
		e.violations = append(e.violations, schema.Violation{Rule: "params.type",
			Message: `parameters must be a JSON object {"template_id":"…","template_version":"…"}`})
		return templateKey{}, false
	}
	id, ver := pt.Member(0, "template_id"), pt.Member(0, "template_version")
	if pt.Nodes[0].Len == 0 {
		return templateKey{}, true
	}
	if pt.Nodes[0].Len != 2 || id < 0 || ver < 0 || pt.Nodes[id].Kind != jsontree.String || pt.Nodes[ver].Kind != jsontree.String ||
		pt.Nodes[id].Start == pt.Nodes[id].End || pt.Nodes[ver].Start == pt.Nodes[ver].End {
		e.violations = append(e.violations, schema.Violation{Rule: "params.template",
			Message: "parameters template_id and template_version are non-empty strings, given both or neither, and no other parameter is taken"})
		return templateKey{}, false
	}
	e.lastKey = templateKey{id: string(pt.Str(id)), version: string(pt.Str(ver))}
	pt.Src = append(e.params[:0], params...) // params is the caller's buffer
	e.params = pt.Src
	return e.lastKey, true
}

// templateKey names a stored template version (the host's choice of id
// and version, see resolve).
type templateKey struct{ id, version string }

// compiledTemplate is a template body that passed the template rules,
// parsed into a tree of its own (root: the body).
type compiledTemplate struct {
	version string
	tree    jsontree.Tree
	plan    *plan // nil: the evaluator resolves it
}

// maxCompiledTemplates bounds the templates an engine keeps: a host with
// more in use gets slower, never wrong.
const maxCompiledTemplates = 128

// compile keeps body, which passed the template rules, as key's template,
// in place of any other version of it.
func (e *Engine) compile(key templateKey, body []byte, exact *schema.Schema) {
	if e.compiled == nil {
		e.compiled = map[string]*compiledTemplate{}
	}
	if _, replaces := e.compiled[key.id]; !replaces && len(e.compiled) >= maxCompiledTemplates {
		for id := range e.compiled {
			delete(e.compiled, id)
			break
		}
	}
	ct := &compiledTemplate{version: key.version}
	if err := ct.tree.Parse(append([]byte(nil), body...)); err != nil {
		return // cannot happen: body was parsed as part of the input
	}
	ct.plan = newPlan(&ct.tree, exact)
	e.compiled[key.id] = ct
}

// resolved evaluates the template for the subject and writes the result.
func (e *Engine) resolved(ev *evaluator, exact *schema.Schema) []byte {
	d := ev.device(exact)
	if len(e.violations) > 0 {
		return e.result(abi.OpResolve, false, nil)
	}
	return e.writeDevice(d)
}

// writeDevice writes the result of a resolved device.
func (e *Engine) writeDevice(d resolvedDevice) []byte {
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
