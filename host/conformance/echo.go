package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/onboardhq/onboard/schemas"
)

// A server may not drop what it was sent: every member of an ok request
// that the response schema declares where the response holds the resource
// must come back with the value sent. The schema marks most response
// members optional (servers differ in what they fill in), so a schema-valid
// response can still lose a field a client set; this is the check that
// catches it.

// notEchoed lists the request members a response may answer differently,
// by operation, with the reason.
var notEchoed = map[string]map[string]string{
	// The certificate comes back from show only, and may be re-encoded:
	// caShown compares it as DER.
	"iotda.device-ca.upload": {"/content": "show returns the certificate"},
	"iotda.device-ca.show":   {"/content": "compared as DER"},
}

// echo checks that every member of sent (a request object) comes back in
// got at the response pointer at (member names), where op's response
// schema declares it. null members are left out: they unset.
func (r *runner) echo(op string, sent any, got map[string]any, at ...string) error {
	doc, err := responseSchema(r.ops[op].ResponseSchema)
	if err != nil || doc == nil {
		return err
	}
	node := doc.root
	var gotAt any = got
	for _, k := range at {
		if node = doc.property(node, k); node == nil {
			return fmt.Errorf("kit: %s's response schema has no %q", op, k)
		}
		gotAt, _ = gotAt.(map[string]any)[k]
	}
	var errs []string
	doc.walkEcho(op, "", sent, gotAt, node, &errs)
	if len(errs) > 0 {
		return fmt.Errorf("the response lost what the request set: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (d *schemaDoc) walkEcho(op, ptr string, sent, got any, node map[string]any, errs *[]string) {
	obj, ok := sent.(map[string]any)
	if !ok {
		return
	}
	gotObj, _ := got.(map[string]any)
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, p := obj[k], ptr+"/"+k
		prop := d.property(node, k)
		if v == nil || prop == nil || notEchoed[op][p] != "" {
			continue
		}
		g, present := gotObj[k]
		switch {
		case !present:
			*errs = append(*errs, fmt.Sprintf("%s was sent and is missing", p))
		case d.declaresMembers(prop):
			if _, isObj := v.(map[string]any); isObj {
				d.walkEcho(op, p, v, g, prop, errs)
			}
		case !carries(g, v):
			*errs = append(*errs, fmt.Sprintf("%s was sent as %s, came back as %s", p, compact(v), compact(g)))
		}
	}
}

// carries reports whether got holds what was sent: the same value, where
// an object may have members besides the ones sent (a default the server
// fills in), but none of those sent may differ.
func carries(got, sent any) bool {
	s, ok := sent.(map[string]any)
	if !ok {
		return sameValue(sent, got)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range s {
		w, present := g[k]
		if !present || !carries(w, v) {
			return false
		}
	}
	return true
}

// sameValue compares decoded JSON values, numbers by value.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, okx := new(big.Rat).SetString(x.String())
		ry, oky := new(big.Rat).SetString(y.String())
		return okx && oky && rx.Cmp(ry) == 0
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// decode parses JSON with numbers kept as json.Number.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// schemaDoc is one decoded schema document of the schemas package.
type schemaDoc struct{ root map[string]any }

var schemaDocs sync.Map // path → *schemaDoc

func responseSchema(path string) (*schemaDoc, error) {
	if path == "" {
		return nil, nil
	}
	if d, ok := schemaDocs.Load(path); ok {
		return d.(*schemaDoc), nil
	}
	b, err := schemas.FS.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kit: %w", err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("kit: %s: %w", path, err)
	}
	d, _ := schemaDocs.LoadOrStore(path, &schemaDoc{root: root})
	return d.(*schemaDoc), nil
}

// deref follows a local $ref ("#/$defs/Name").
func (d *schemaDoc) deref(node map[string]any) map[string]any {
	for range 8 {
		ref, _ := node["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			return node
		}
		defs, _ := d.root["$defs"].(map[string]any)
		next, _ := defs[name].(map[string]any)
		if next == nil {
			return node
		}
		node = next
	}
	return node
}

// property is the schema of member name of an object schema (its
// properties, or those of an allOf/anyOf/oneOf branch), nil if undeclared.
func (d *schemaDoc) property(node map[string]any, name string) map[string]any {
	node = d.deref(node)
	if props, ok := node["properties"].(map[string]any); ok {
		if p, ok := props[name].(map[string]any); ok {
			return p
		}
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		branches, _ := node[kw].([]any)
		for _, b := range branches {
			if bm, ok := b.(map[string]any); ok {
				if p := d.property(bm, name); p != nil {
					return p
				}
			}
		}
	}
	return nil
}

// declaresMembers reports whether an object schema lists its members (so
// they are compared one by one rather than as a whole).
func (d *schemaDoc) declaresMembers(node map[string]any) bool {
	node = d.deref(node)
	_, ok := node["properties"]
	return ok
}
