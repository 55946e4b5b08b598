package engine

import (
	"strings"

	"github.com/onboardhq/onboard/abi"

	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/plugins/engine/internal/schema"
)

// plan is a compiled IoTDA template whose every value is a literal or a
// {"ref": …} of a declared parameter (no onboard extensions): resolving it
// for a device is a look-up per value in the subject, with no walk of the
// template. A device the plan cannot resolve cleanly (a missing attribute,
// a value that breaks its rule) goes to the evaluator, which says why, so
// both answer alike.
type plan struct {
	nodeID, name, product planValue
	hasName               bool
	tags                  [][2]planValue
	policies              []planValue
}

// planValue is a literal, or the parameter whose subject attribute it
// takes, with the static string rule of its location (nil: none).
type planValue struct {
	literal     string
	ref         bool
	attr, param string
	form        *schema.Schema
	absent      bool // the member is missing: the evaluator resolves it to ""
}

// newPlan compiles the template body at the root of t, or returns nil
// when it uses more than literals and references.
func newPlan(t *jsontree.Tree, exact *schema.Schema) *plan {
	if t.Member(0, ExtensionsMember) >= 0 {
		return nil
	}
	params := t.Member(0, "parameters")
	simple := true
	value := func(obj int32, name string, s *schema.Schema) planValue {
		n := int32(-1)
		if obj >= 0 {
			n = t.Member(obj, name)
		}
		v := planValue{form: s.StringForm()}
		switch {
		case n < 0:
			v.absent = true
		case t.Nodes[n].Kind == jsontree.String:
			v.literal = string(t.Str(n))
		case t.Nodes[n].Kind == jsontree.Object && t.Nodes[n].Len == 1:
			ref := t.Member(n, "ref")
			if ref < 0 || t.Nodes[ref].Kind != jsontree.String || params < 0 || t.Member(params, string(t.Str(ref))) < 0 {
				simple = false
				break
			}
			v.ref, v.param = true, string(t.Str(ref))
			v.attr = attributeOf(v.param)
		default:
			simple = false
		}
		return v
	}
	res := t.Member(0, "resources")
	dev := int32(-1)
	if res >= 0 {
		dev = t.Member(res, "device")
	}
	if dev < 0 {
		return nil
	}
	devS := exact.Prop("resources").Prop("device")
	p := &plan{nodeID: value(dev, "node_id", devS.Prop("node_id")), product: value(dev, "product_id", devS.Prop("product_id"))}
	if t.Member(dev, "device_name") >= 0 {
		p.hasName, p.name = true, value(dev, "device_name", devS.Prop("device_name"))
	}
	if tn := t.Member(dev, "tags"); tn >= 0 {
		tagS := devS.Prop("tags").Items()
		for el := t.Nodes[tn].First; el >= 0; el = t.Nodes[el].Next {
			p.tags = append(p.tags, [2]planValue{value(el, "tag_key", tagS.Prop("tag_key")), value(el, "tag_value", tagS.Prop("tag_value"))})
		}
	}
	if policy := t.Member(res, "policy"); policy >= 0 {
		if ids := t.Member(policy, "policy_ids"); ids >= 0 {
			for el := t.Nodes[ids].First; el >= 0; el = t.Nodes[el].Next {
				v := planValue{}
				switch {
				case t.Nodes[el].Kind == jsontree.String:
					v.literal = string(t.Str(el))
				case t.Nodes[el].Kind == jsontree.Object && t.Nodes[el].Len == 1 && t.Member(el, "ref") >= 0:
					ref := t.Member(el, "ref")
					if t.Nodes[ref].Kind != jsontree.String || params < 0 || t.Member(params, string(t.Str(ref))) < 0 {
						return nil
					}
					v.ref, v.param = true, string(t.Str(ref))
					v.attr = attributeOf(v.param)
				default:
					return nil
				}
				p.policies = append(p.policies, v)
			}
		}
	}
	if !simple {
		return nil
	}
	return p
}

// resolve resolves the plan for the subject node subj of st; ok is false
// when the evaluator must (a missing attribute, a broken rule).
func (p *plan) resolve(e *Engine, st *jsontree.Tree, subj int32) (d resolvedDevice, ok bool) {
	get := func(v *planValue, checked bool) (string, bool) {
		s := v.literal
		if v.ref {
			sv := st.Member(subj, v.attr)
			if sv < 0 {
				sv = st.Member(subj, v.param)
			}
			if sv < 0 || st.Nodes[sv].Kind != jsontree.String || len(st.Raw(sv)) == 0 {
				return "", false
			}
			s = string(st.Str(sv))
		}
		if !checked || v.absent {
			return s, true
		}
		if strings.IndexByte(s, 0) >= 0 {
			return "", false
		}
		if v.form != nil {
			ok, decided := v.form.AcceptsString(s)
			if !decided {
				e.enc = abi.AppendString(e.enc[:0], s)
				ok = e.scratch.Valid(v.form, e.enc)
			}
			if !ok {
				return "", false
			}
		}
		return s, true
	}
	if d.nodeID, ok = get(&p.nodeID, true); !ok {
		return d, false
	}
	d.name = d.nodeID
	if p.hasName {
		if d.name, ok = get(&p.name, true); !ok {
			return d, false
		}
	}
	if d.product, ok = get(&p.product, true); !ok {
		return d, false
	}
	d.tags = e.tags[:0]
	for i := range p.tags {
		k, ok1 := get(&p.tags[i][0], true)
		v, ok2 := get(&p.tags[i][1], true)
		if !ok1 || !ok2 {
			return d, false
		}
		d.tags = append(d.tags, [2]string{k, v})
	}
	e.tags = d.tags
	d.policies = e.policies[:0]
	for i := range p.policies {
		v, ok := get(&p.policies[i], false)
		if !ok {
			return d, false
		}
		d.policies = append(d.policies, v)
	}
	e.policies = d.policies
	return d, true
}
