package engine

import (
	"fmt"

	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/plugins/engine/internal/schema"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// checkTemplateRefs enforces what the IoTDA tables say in prose: a template
// may only reference parameters it declares (Table 4: "A device certificate
// must contain the parameters referenced in the template", and the
// parameters object is where they are declared). The schema already limits
// names to the seven iotda::certificate:: parameters.
func checkTemplateRefs(e *Engine, body int32) {
	t := &e.tree
	declared := t.Member(body, "parameters")
	resources := t.Member(body, "resources")
	if declared < 0 || resources < 0 {
		return
	}
	var path []seg
	walkRefs(t, resources, &path, func(ref int32) {
		name := t.Str(ref)
		if t.Member(declared, string(name)) >= 0 {
			return
		}
		e.violations = append(e.violations, schema.Violation{
			Pointer: pointerOf("/template_body/resources", path),
			Rule:    "ref-undeclared",
			Message: "references " + jsontree.Quote(string(t.Str(ref))) +
				", which template_body.parameters does not declare: add it to parameters as {\"type\":\"String\"} or reference a declared parameter",
		})
	})
}

// walkRefs calls fn for every string member named "ref" under n, with
// *path holding the pointer segments below n (see pointerOf).
func walkRefs(t *jsontree.Tree, n int32, path *[]seg, fn func(ref int32)) {
	node := t.Nodes[n]
	switch node.Kind {
	case jsontree.Object:
		for k := node.First; k >= 0; k = t.Nodes[k].Next {
			key := string(t.Str(k))
			*path = append(*path, nameSeg(key))
			if key == "ref" && t.Nodes[k+1].Kind == jsontree.String {
				fn(k + 1)
			} else {
				walkRefs(t, k+1, path, fn)
			}
			*path = (*path)[:len(*path)-1]
		}
	case jsontree.Array:
		i := 0
		for el := node.First; el >= 0; el = t.Nodes[el].Next {
			*path = append(*path, seg{index: i})
			walkRefs(t, el, path, fn)
			*path = (*path)[:len(*path)-1]
			i++
		}
	}
}
