package engine

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/plugins/engine/internal/schema"
)

// Template extensions (schemas/iotda/provisioning-template.onboard-extensions.json,
// docs/templates.md): a template body that says "onboard::extensions": "v1"
// may use expressions where IoTDA allows a string or a {"ref": …}, parameter
// defaults, named conditions and mappings. Without the marker a template is
// held to IoTDA's tables exactly, by the schema and by checkTemplateRefs.

// ExtensionsMember is the opt-in marker of a template body.
const ExtensionsMember = "onboard::extensions"

// maxValueLen bounds every intermediate string: expressions nest, and a
// onboard::sub that repeats a variable could otherwise grow without limit.
const maxValueLen = 4096

// Named condition states while a template is evaluated.
const (
	condUnknown int8 = iota
	condBusy         // being evaluated: meeting it again is a cycle
	condFalse
	condTrue
	condFailed // evaluated with a violation, already reported
)

// evaluator resolves the values of one template body against a subject,
// or, with no subject, checks the whole body: every branch, every named
// condition, literal mapping look-ups and list indexes.
type evaluator struct {
	e        *Engine
	t        *jsontree.Tree // holds the template body
	base     string         // JSON pointer of the template body
	extended bool
	params   int32          // template_body.parameters
	conds    int32          // template_body["onboard::conditions"], or -1
	maps     int32          // template_body["onboard::mappings"], or -1
	st       *jsontree.Tree // holds the subject (a compiled template has a tree of its own)
	subject  int32          // -1: check, do not resolve
	path     []seg          // where the evaluation is, below base; a pointer is built only for a violation
	from     int            // path[from:] is the position: a named condition is evaluated where it is declared
	kept     bool           // t is a kept template's tree, whose source never changes (see jsontree.Tree.Text)
	body     int32
	loc      string // member being resolved, for messages
	// where the last parameter value came from, for messages: the
	// subject's attribute, or the onboard::default of a parameter (built
	// into text only for a violation)
	sourceAttr, sourceDefault string
	memo                      map[string]int8
}

// newEvaluator evaluates the template body node body of t against the
// subject node of st (subject -1: check the body).
//
// The evaluator is the engine's own, reused (with its buffers) by the
// next call to newEvaluator.
func newEvaluator(e *Engine, t *jsontree.Tree, body int32, base string, st *jsontree.Tree, subject int32) *evaluator {
	memo := e.ev.memo
	clear(memo)
	ev := &e.ev
	*ev = evaluator{e: e, t: t, base: base, st: st, subject: subject, body: body, path: ev.path[:0], memo: memo,
		extended: t.Member(body, ExtensionsMember) >= 0,
		params:   t.Member(body, "parameters"),
		conds:    t.Member(body, "onboard::conditions"),
		maps:     t.Member(body, "onboard::mappings"),
	}
	return ev
}

func (ev *evaluator) checking() bool { return ev.subject < 0 }

// seg is one JSON pointer segment: a member name, or an array index
// (index >= 0).
type seg struct {
	name  string
	index int
}

func nameSeg(name string) seg { return seg{name: name, index: -1} }

// pointerOf is the JSON pointer of path below base, built only when a
// violation needs it.
func pointerOf(base string, path []seg) string {
	b := []byte(base)
	for _, sg := range path {
		b = append(b, '/')
		if sg.index >= 0 {
			b = strconv.AppendInt(b, int64(sg.index), 10)
		} else {
			b = append(b, jsontree.EscapePointer(sg.name)...)
		}
	}
	return string(b)
}

func (ev *evaluator) push(name string) { ev.path = append(ev.path, nameSeg(name)) }
func (ev *evaluator) pushIndex(i int)  { ev.path = append(ev.path, seg{index: i}) }
func (ev *evaluator) pop()             { ev.path = ev.path[:len(ev.path)-1] }
func (ev *evaluator) at(names ...string) {
	ev.path = ev.path[:0]
	for _, n := range names {
		ev.push(n)
	}
}

// pointer is the JSON pointer of the current position.
func (ev *evaluator) pointer() string { return pointerOf(ev.base, ev.path[ev.from:]) }

// text is the string node n of the template.
func (ev *evaluator) text(n int32) string {
	if ev.kept {
		return ev.t.Text(n)
	}
	return string(ev.t.Str(n))
}

// fail reports a violation at the current position, or below it at sub.
func (ev *evaluator) fail(sub, rule, msg string) {
	ptr := ev.pointer()
	if sub != "" {
		ptr += "/" + sub
	}
	ev.e.violations = append(ev.e.violations, schema.Violation{Pointer: ptr, Rule: rule, Message: msg})
}

func (ev *evaluator) member(obj int32, name string) int32 {
	if obj < 0 {
		return -1
	}
	return ev.t.Member(obj, name)
}

// checkAll checks every named condition, used or not, so a typo in one
// is found when the template is stored rather than when a device connects.
func (ev *evaluator) checkAll() {
	if ev.conds < 0 {
		return
	}
	t := ev.t
	for k := t.Nodes[ev.conds].First; k >= 0; k = t.Nodes[k].Next {
		name := string(t.Str(k))
		ev.at("onboard::conditions", name)
		ev.condition(name)
	}
}

// str evaluates the expression n (at the current position) to a string.
func (ev *evaluator) str(n int32) (string, bool) {
	t := ev.t
	if n < 0 {
		return "", false
	}
	switch t.Nodes[n].Kind {
	case jsontree.String:
		return ev.text(n), true
	case jsontree.Object:
	default:
		return "", false // the schema has refused it already
	}
	k := t.Nodes[n].First
	if k < 0 {
		return "", false
	}
	arg := k + 1
	name := operator(t.Str(k))
	if name == "" {
		return "", false
	}
	ev.push(name)
	defer ev.pop()
	switch name {
	case "ref":
		return ev.param(paramName(t.Str(arg)), true)
	case "onboard::join":
		return ev.join(arg)
	case "onboard::sub":
		return ev.sub(arg)
	case "onboard::select":
		return ev.selectItem(arg)
	case "onboard::if":
		return ev.ifValue(arg)
	case "onboard::find_in_map":
		return ev.findInMap(arg)
	}
	return "", false
}

// operator is the expression operator called b, or "" if none is: a
// constant, so that naming it does not allocate per device.
func operator(b []byte) string {
	for _, op := range operators {
		if string(b) == op {
			return op
		}
	}
	return ""
}

var operators = []string{"ref", "onboard::join", "onboard::sub", "onboard::select", "onboard::if", "onboard::find_in_map"}

// paramName is b as a string, without allocating for the seven IoTDA
// parameters.
func paramName(b []byte) string {
	for _, p := range abi.Parameters {
		if string(b) == p.Name {
			return p.Name
		}
	}
	return string(b)
}

// strAt evaluates n at member name of the current position.
func (ev *evaluator) strAt(n int32, name string) (string, bool) {
	ev.push(name)
	defer ev.pop()
	return ev.str(n)
}

// param is the value of a declared parameter: the certificate subject's
// attribute, else the parameter's onboard::default.
func (ev *evaluator) param(name string, isRef bool) (string, bool) {
	t := ev.t
	decl := ev.member(ev.params, name)
	if decl < 0 {
		msg := "references " + jsontree.Quote(name) + ", which template_body.parameters does not declare: add it to parameters as {\"type\":\"String\"} or reference a declared parameter"
		if !isRef {
			msg = "${" + name + "} names neither a variable of this onboard::sub nor a parameter declared in template_body.parameters: declare it or add it to variables"
		}
		ev.fail("", "ref-undeclared", msg)
		return "", false
	}
	if ev.checking() {
		return "", true
	}
	attr := attributeOf(name)
	st := ev.st
	sv := st.Member(ev.subject, attr)
	if sv < 0 {
		sv = st.Member(ev.subject, name)
	}
	if sv >= 0 && st.Nodes[sv].Kind == jsontree.String && len(st.Raw(sv)) > 0 {
		ev.sourceAttr, ev.sourceDefault = attr, ""
		if ev.extended {
			return ev.capped(string(st.Str(sv)))
		}
		return string(st.Str(sv)), true
	}
	if d := t.Member(decl, "onboard::default"); d >= 0 && ev.extended {
		ev.sourceAttr, ev.sourceDefault = "", name
		return ev.text(d), true
	}
	msg := ev.loc + " references " + name + ", but the certificate subject has no " + attr +
		" value: issue the device certificate with " + attr + "=… or change the template"
	if ev.extended {
		msg += " (for example give the parameter an onboard::default)"
	}
	ev.fail("", "missing-parameter", msg)
	return "", false
}

// sourceText says where the last parameter value came from.
func (ev *evaluator) sourceText() string {
	switch {
	case ev.sourceAttr != "":
		return " (value taken from the certificate subject's " + ev.sourceAttr + ")"
	case ev.sourceDefault != "":
		return " (value taken from the onboard::default of " + ev.sourceDefault + ")"
	}
	return ""
}

func (ev *evaluator) capped(s string) (string, bool) {
	if len(s) > maxValueLen {
		ev.fail("", "too-long", "resolves to "+strconv.Itoa(len(s))+" bytes; an intermediate value may hold at most "+
			strconv.Itoa(maxValueLen)+": make the expression produce less")
		return "", false
	}
	return s, true
}

func (ev *evaluator) join(arg int32) (string, bool) {
	sep := ev.text(ev.member(arg, "separator"))
	items, ok := ev.list(ev.member(arg, "values"), "values")
	if !ok || ev.checking() {
		return "", ok
	}
	return ev.capped(strings.Join(items, sep))
}

// list evaluates the list at member name: an array of expressions or
// {"onboard::split": …}.
func (ev *evaluator) list(n int32, name string) ([]string, bool) {
	t := ev.t
	if n < 0 {
		return nil, false
	}
	ev.push(name)
	defer ev.pop()
	if t.Nodes[n].Kind == jsontree.Array {
		var out []string
		ok := true
		i := 0
		for el := t.Nodes[n].First; el >= 0; el = t.Nodes[el].Next {
			ev.pushIndex(i)
			s, good := ev.str(el)
			ev.pop()
			ok = ok && good
			out = append(out, s)
			i++
		}
		return out, ok
	}
	split := ev.member(n, "onboard::split")
	if split < 0 {
		return nil, false
	}
	sep := ev.text(ev.member(split, "separator"))
	ev.push("onboard::split")
	s, ok := ev.strAt(ev.member(split, "value"), "value")
	ev.pop()
	if !ok || ev.checking() {
		return nil, ok
	}
	return strings.Split(s, sep), true
}

func (ev *evaluator) selectItem(arg int32) (string, bool) {
	t := ev.t
	idxNode := ev.member(arg, "index")
	f, err := strconv.ParseFloat(string(t.Raw(idxNode)), 64)
	if err != nil {
		return "", false
	}
	idx := int(f)
	from := ev.member(arg, "from")
	items, ok := ev.list(from, "from")
	if !ok {
		return "", false
	}
	if ev.checking() {
		// Only a literal array has a length before a device connects.
		if t.Nodes[from].Kind != jsontree.Array {
			return "", true
		}
	}
	i := idx
	if i < 0 {
		i += len(items)
	}
	if i < 0 || i >= len(items) {
		ev.fail("index", "select-range", "index "+strconv.Itoa(idx)+" is outside the list, which has "+
			strconv.Itoa(len(items))+" items"+ev.listText(items)+": use 0 to "+strconv.Itoa(len(items)-1)+
			", or -1 for the last item")
		return "", false
	}
	return items[i], true
}

func (ev *evaluator) listText(items []string) string {
	if ev.checking() {
		return ""
	}
	b := []byte(" (")
	for i, s := range items {
		if i > 0 {
			b = append(b, ", "...)
		}
		if i == 8 {
			b = append(b, "…"...)
			break
		}
		b = strconv.AppendQuote(b, s)
	}
	return string(append(b, ')'))
}

// sub expands ${name} placeholders: a variable of this onboard::sub, else
// a declared parameter; ${!text} is the literal ${text}.
func (ev *evaluator) sub(arg int32) (string, bool) {
	t := ev.t
	tmplNode, vars, tsub := arg, int32(-1), ""
	if t.Nodes[arg].Kind == jsontree.Object {
		tmplNode, vars, tsub = ev.member(arg, "template"), ev.member(arg, "variables"), "template"
	}
	ok := true
	var names, values []string
	if vars >= 0 {
		ev.push("variables")
		for k := t.Nodes[vars].First; k >= 0; k = t.Nodes[k].Next {
			name := ev.text(k)
			v, good := ev.strAt(k+1, name)
			ok = ok && good
			names, values = append(names, name), append(values, v)
		}
		ev.pop()
	}
	tmpl := ev.text(tmplNode)
	var b strings.Builder
	for at := 0; ; {
		i := strings.Index(tmpl[at:], "${")
		if i < 0 {
			b.WriteString(tmpl[at:])
			break
		}
		b.WriteString(tmpl[at : at+i])
		open := at + i
		end := strings.IndexByte(tmpl[open:], '}')
		if end < 0 {
			ev.fail(tsub, "sub-syntax", "the ${ at character "+strconv.Itoa(len([]rune(tmpl[:open]))+1)+
				" has no closing }: write ${name}, or ${!text} for a literal ${text}")
			return "", false
		}
		name := tmpl[open+2 : open+end]
		at = open + end + 1
		if lit, isLit := strings.CutPrefix(name, "!"); isLit {
			b.WriteString("${" + lit + "}")
		} else if !ev.placeholder(&b, name, names, values, tsub) {
			ok = false
		}
		if b.Len() > maxValueLen {
			return ev.capped(b.String())
		}
	}
	if !ok || ev.checking() {
		return "", ok
	}
	// The text after the last placeholder counts too.
	return ev.capped(b.String())
}

// placeholder writes the value of ${name}: a variable of the sub, else a
// declared parameter.
func (ev *evaluator) placeholder(b *strings.Builder, name string, names, values []string, tsub string) bool {
	for j, n := range names {
		if n == name {
			b.WriteString(values[j])
			return true
		}
	}
	if tsub != "" {
		ev.push(tsub)
		defer ev.pop()
	}
	v, ok := ev.param(name, false)
	b.WriteString(v)
	return ok
}

func (ev *evaluator) ifValue(arg int32) (string, bool) {
	ev.push("condition")
	c, ok := ev.condition(ev.text(ev.member(arg, "condition")))
	ev.pop()
	then, els := ev.member(arg, "then"), ev.member(arg, "else")
	if ev.checking() {
		_, ok1 := ev.strAt(then, "then")
		_, ok2 := ev.strAt(els, "else")
		return "", ok && ok1 && ok2
	}
	if !ok {
		return "", false
	}
	if c {
		return ev.strAt(then, "then")
	}
	return ev.strAt(els, "else")
}

func (ev *evaluator) findInMap(arg int32) (string, bool) {
	t := ev.t
	mapName := ev.text(ev.member(arg, "map"))
	m := ev.member(ev.maps, mapName)
	if m < 0 {
		ev.fail("map", "mapping-undeclared", jsontree.Quote(mapName)+
			" is not a mapping of template_body.onboard::mappings: declare it there or fix the name")
		return "", false
	}
	keyNode, fieldNode, dflt := ev.member(arg, "key"), ev.member(arg, "field"), ev.member(arg, "default")
	key, ok1 := ev.strAt(keyNode, "key")
	field, ok2 := ev.strAt(fieldNode, "field")
	if ev.checking() {
		ok := ok1 && ok2
		if dflt >= 0 {
			_, okd := ev.strAt(dflt, "default")
			ok = ok && okd
		} else if ok && t.Nodes[keyNode].Kind == jsontree.String && t.Nodes[fieldNode].Kind == jsontree.String {
			// Both literal: the look-up can be checked now.
			key, field = string(t.Str(keyNode)), string(t.Str(fieldNode))
			if cell := ev.member(ev.member(m, key), field); cell < 0 {
				ev.fail("", "mapping-miss", ev.missText(mapName, key, field))
				return "", false
			}
		}
		return "", ok
	}
	if !ok1 || !ok2 {
		return "", false
	}
	if cell := ev.member(ev.member(m, key), field); cell >= 0 {
		return ev.text(cell), true
	}
	if dflt >= 0 {
		return ev.strAt(dflt, "default")
	}
	ev.fail("", "mapping-miss", ev.missText(mapName, key, field))
	return "", false
}

func (ev *evaluator) missText(mapName, key, field string) string {
	return "mapping " + jsontree.Quote(mapName) + " has no key " + jsontree.Quote(key) + " with field " +
		jsontree.Quote(field) + ": add it to template_body.onboard::mappings." + jsontree.Short(mapName) + " or give onboard::find_in_map a default"
}

// condition evaluates the named condition once per template; the current
// position is where it is named.
func (ev *evaluator) condition(name string) (bool, bool) {
	n := ev.member(ev.conds, name)
	if n < 0 {
		ev.fail("", "condition-undeclared", jsontree.Quote(name)+
			" is not a condition of template_body.onboard::conditions: declare it there or fix the name")
		return false, false
	}
	if ev.memo == nil {
		ev.memo = map[string]int8{}
	}
	switch ev.memo[name] {
	case condBusy:
		ev.fail("", "condition-cycle", "condition "+jsontree.Quote(name)+" depends on itself through onboard::condition: break the cycle")
		ev.memo[name] = condFailed
		return false, false
	case condFalse:
		return false, true
	case condTrue:
		return true, true
	case condFailed:
		return false, false
	}
	ev.memo[name] = condBusy
	saved, mark := ev.from, len(ev.path)
	ev.from = mark
	ev.path = append(ev.path, nameSeg("onboard::conditions"), nameSeg(name))
	v, ok := ev.cond(n)
	ev.path, ev.from = ev.path[:mark], saved
	switch {
	case ev.memo[name] == condFailed || !ok:
		ev.memo[name] = condFailed
		return false, false
	case v:
		ev.memo[name] = condTrue
	default:
		ev.memo[name] = condFalse
	}
	return v, true
}

// cond evaluates one condition object. and/or stop at the first deciding
// operand when resolving; when checking, every operand is visited.
func (ev *evaluator) cond(n int32) (bool, bool) {
	t := ev.t
	k := t.Nodes[n].First
	if k < 0 {
		return false, false
	}
	arg := k + 1
	name := condOperator(t.Str(k))
	if name == "" {
		return false, false
	}
	ev.push(name)
	defer ev.pop()
	switch name {
	case "onboard::equals":
		a := t.Nodes[arg].First
		ev.pushIndex(0)
		x, ok1 := ev.str(a)
		ev.path[len(ev.path)-1].index = 1
		y, ok2 := ev.str(t.Nodes[a].Next)
		ev.pop()
		return x == y, ok1 && ok2
	case "onboard::and", "onboard::or":
		decides := name == "onboard::or" // the operand value that decides
		ok, i := true, 0
		for el := t.Nodes[arg].First; el >= 0; el = t.Nodes[el].Next {
			ev.pushIndex(i)
			v, good := ev.cond(el)
			ev.pop()
			ok = ok && good
			if good && v == decides && !ev.checking() {
				return decides, true
			}
			if !good && !ev.checking() {
				return false, false
			}
			i++
		}
		return !decides, ok
	case "onboard::not":
		v, ok := ev.cond(arg)
		return !v, ok
	case "onboard::condition":
		return ev.condition(ev.text(arg))
	}
	return false, false
}

// condOperator is the condition operator called b, or "" if none is (a
// constant: naming it does not allocate per device).
func condOperator(b []byte) string {
	for _, op := range condOperators {
		if string(b) == op {
			return op
		}
	}
	return ""
}

var condOperators = []string{"onboard::equals", "onboard::and", "onboard::or", "onboard::not", "onboard::condition"}

// device resolves (or checks) the resources of the template body. tbs is
// IoTDA's exact ProvisioningTemplateBody schema: every resolved value must
// meet the static rule of its location there, so "product_id ≤ 36
// characters" holds for a value built from a certificate as for a literal.
func (ev *evaluator) device(tbs *schema.Schema) resolvedDevice {
	t := ev.t
	var d resolvedDevice
	res := ev.member(ev.body, "resources")
	dev := ev.member(res, "device")
	devS := tbs.Prop("resources").Prop("device")
	ev.at("resources", "device")
	d.nodeID = ev.value(dev, "node_id", devS.Prop("node_id"))
	d.name = d.nodeID
	if ev.member(dev, "device_name") >= 0 {
		d.name = ev.value(dev, "device_name", devS.Prop("device_name"))
	}
	d.product = ev.value(dev, "product_id", devS.Prop("product_id"))
	if tn := ev.member(dev, "tags"); tn >= 0 {
		d.tags = ev.e.tags[:0]
		defer func() { ev.e.tags = d.tags }()
		tagS := devS.Prop("tags").Items()
		ev.push("tags")
		i := 0
		for el := t.Nodes[tn].First; el >= 0; el = t.Nodes[el].Next {
			ev.pushIndex(i)
			k := ev.value(el, "tag_key", tagS.Prop("tag_key"))
			v := ev.value(el, "tag_value", tagS.Prop("tag_value"))
			ev.pop()
			d.tags = append(d.tags, [2]string{k, v})
			i++
		}
		ev.pop()
	}
	if ids := ev.member(ev.member(res, "policy"), "policy_ids"); ids >= 0 {
		ev.loc = "policy_ids"
		ev.at("resources", "policy", "policy_ids")
		d.policies = ev.e.policies[:0]
		defer func() { ev.e.policies = d.policies }()
		i := 0
		for el := t.Nodes[ids].First; el >= 0; el = t.Nodes[el].Next {
			ev.pushIndex(i)
			v, _ := ev.str(el)
			ev.pop()
			d.policies = append(d.policies, v)
			i++
		}
	}
	return d
}

// valueSource says where the value of expression n came from, for a
// message about it.
func (ev *evaluator) valueSource(n int32) string {
	switch {
	case ev.t.Nodes[n].Kind == jsontree.String:
		return ""
	case ev.member(n, "ref") >= 0:
		return ev.sourceText()
	}
	return " (the value its expression resolved to)"
}

// value resolves member name of obj and holds the result to the static
// string rule s of that location.
func (ev *evaluator) value(obj int32, name string, s *schema.Schema) string {
	n := ev.member(obj, name)
	if n < 0 {
		return ""
	}
	ev.loc = name
	val, ok := ev.strAt(n, name)
	if !ok || ev.checking() {
		// A literal's rule is the schema's to check (if/then in
		// provisioning-template.onboard-extensions.json).
		return ""
	}
	if strings.IndexByte(val, 0) >= 0 {
		// Rule nul holds for what a template resolves to as for what a
		// client sends: a certificate subject may carry U+0000, and
		// PostgreSQL cannot store it.
		ev.fail(name, "nul", "resolves to a value that contains U+0000 (\\u0000), which onboard accepts in no string"+ev.valueSource(n)+
			": issue the device certificate without it")
		return ""
	}
	if f := s.StringForm(); f != nil {
		if ok, decided := f.AcceptsString(val); decided && ok {
			return val
		}
		v := &ev.e.scratch
		enc := abi.AppendString(ev.e.enc[:0], val)
		ev.e.enc = enc
		if v.Valid(f, enc) {
			return val
		}
		ev.push(name)
		v.Prefix = ev.pointer()
		ev.pop()
		v.Validate(f, enc)
		source := ev.valueSource(n)
		for _, viol := range v.Violations {
			viol.Message += source
			ev.e.violations = append(ev.e.violations, viol)
		}
	}
	return val
}

// checkTemplate is the semantic rule of template create and update: an
// IoTDA template may only reference parameters it declares; an extended
// one is checked whole (names, cycles, literal look-ups and indexes).
func checkTemplate(e *Engine, root int32) {
	body := e.tree.Member(root, "template_body")
	if body < 0 {
		return
	}
	if e.tree.Member(body, ExtensionsMember) < 0 {
		checkTemplateRefs(e, body)
		return
	}
	exact, _, err := e.reg.templates()
	if err != nil {
		ev := schema.Violation{Rule: "engine", Message: err.Error()}
		e.violations = append(e.violations, ev)
		return
	}
	ev := newEvaluator(e, &e.tree, body, "/template_body", nil, -1)
	ev.checkAll()
	ev.device(exact)
}

// extensionHint explains a refusal of a template that uses onboard::
// members without opting in: the schema alone would only say "not allowed".
func extensionHint(body []byte) (schema.Violation, bool) {
	if !bytes.Contains(body, []byte(`"onboard::`)) || bytes.Contains(body, []byte(`"`+ExtensionsMember+`"`)) {
		return schema.Violation{}, false
	}
	return schema.Violation{Pointer: "/template_body", Rule: "extensions-not-enabled",
		Message: `uses onboard:: members (template functions, parameter defaults, conditions or mappings), an onboard extension outside IoTDA: add "` +
			ExtensionsMember + `": "v1" to template_body to enable them (see docs/templates.md)`}, true
}
