// Package engine is onboard's validation and template-resolution engine:
// given an operation id and request bytes it returns the normalised request,
// or violations that say what to fix, with per-item verdicts for batch
// operations; given a provisioning template and a certificate subject it
// returns the device to register.
//
// The same package builds natively (tests, the reference, the CLI's
// fallback) and into engine.wasm (plugins/engine/cmd/enginewasm), which the
// host runs in wazero. It is pure computation: it must not do I/O, read the
// clock, or draw random numbers, so that both builds answer byte for byte
// alike.
package engine

import (
	"strconv"
	"strings"
	"sync"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/plugins/engine/internal/schema"
	"github.com/onboardhq/onboard/schemas"
)

// compiledOp is one catalogue operation; its schemas are compiled on
// first use. Compiling all of them up front made every new Wasm instance
// pay for all 30 operations (369 ms to the first call) when a host usually
// serves a few.
type compiledOp struct {
	id    string
	entry schemas.Operation
	once  sync.Once
	err   error

	request  *schema.Schema
	response *schema.Schema
	params   *schema.Schema
	semantic func(e *Engine, root int32) // rules JSON Schema cannot say
	hint     bool                        // explain onboard:: members used without opting in
	// Template create only: IoTDA's ProvisioningTemplateBody exactly
	// (resolved values are held to its static rules) and the TemplateBody
	// definition, which also admits the onboard extensions.
	templateBody, templateAny *schema.Schema
}

type registry struct {
	ops map[string]*compiledOp
	ids []string
}

// templateCreate is the operation whose schema defines template bodies.
const templateCreate = "iotda.provisioning-template.create"

var compiled = sync.OnceValues(loadCatalogue)

func loadCatalogue() (*registry, error) {
	cat, err := schemas.Catalogue()
	if err != nil {
		return nil, err
	}
	r := &registry{ops: map[string]*compiledOp{}}
	for _, op := range cat {
		r.ops[op.ID] = &compiledOp{id: op.ID, entry: op}
		r.ids = append(r.ids, op.ID)
	}
	if r.ops[templateCreate] == nil {
		return nil, errorf("catalogue has no %s", templateCreate)
	}
	return r, nil
}

// op returns the operation id with its schemas compiled, or nil if the
// catalogue has no such operation.
func (r *registry) op(id string) (*compiledOp, error) {
	c := r.ops[id]
	if c == nil {
		return nil, nil
	}
	c.once.Do(func() { c.err = c.compile() })
	return c, c.err
}

// templates returns the two template body schemas.
func (r *registry) templates() (exact, anyBody *schema.Schema, err error) {
	c, err := r.op(templateCreate)
	if err != nil {
		return nil, nil, err
	}
	return c.templateBody, c.templateAny, nil
}

func (c *compiledOp) compile() error {
	op := c.entry
	// An empty schema path means no body: GET and DELETE requests, 204
	// responses. Run then requires an empty body.
	var req *schema.Document
	var err error
	if op.RequestSchema != "" {
		if req, err = compileFile(op.RequestSchema); err != nil {
			return err
		}
		c.request = req.Root
	}
	if op.ResponseSchema != "" {
		resp, err := compileFile(op.ResponseSchema)
		if err != nil {
			return err
		}
		c.response = resp.Root
	}
	if len(op.Params) > 0 {
		p, err := schema.Compile(op.ID+" params", op.Params)
		if err != nil {
			return err
		}
		c.params = p.Root
	}
	switch op.ID {
	case templateCreate:
		if req == nil {
			return errorf("%s has no request schema", op.ID)
		}
		c.semantic, c.hint = checkTemplate, true
		body, ok1 := req.Def("ProvisioningTemplateBody")
		anyBody, ok2 := req.Def("TemplateBody")
		if !ok1 || !ok2 {
			return errorf("%s: no $defs/ProvisioningTemplateBody or $defs/TemplateBody", op.RequestSchema)
		}
		c.templateBody, c.templateAny = body, anyBody
	case "iotda.provisioning-template.update":
		// A new template_body obeys the same rules as on create.
		c.semantic, c.hint = checkTemplate, true
	}
	return nil
}

func compileFile(path string) (*schema.Document, error) {
	b, err := schemas.FS.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return schema.CompileWith(path, b, schemas.FS.ReadFile)
}

// CompileAll compiles the schemas of every operation now instead of on
// first use, and reports the first that does not compile.
func CompileAll() error {
	r, err := compiled()
	if err != nil {
		return err
	}
	for _, id := range r.ids {
		if _, err := r.op(id); err != nil {
			return err
		}
	}
	return nil
}

// Operations lists the operation ids the engine validates, in catalogue
// order, followed by the engine-only ones.
func Operations() []string {
	r, err := compiled()
	if err != nil {
		return nil
	}
	return append(append([]string(nil), r.ids...), abi.OpResolve, abi.OpEcho)
}

// Engine runs operations. It reuses its parse tree and buffers between
// calls, so it is not safe for concurrent use: keep one per goroutine (the
// host keeps one per Wasm instance).
type Engine struct {
	reg  *registry
	tree jsontree.Tree
	v    schema.Validator
	// scratch checks resolved template values, each against the static
	// rule of its location, encoded into enc.
	scratch schema.Validator
	enc     []byte
	out     []byte
	// compiled templates of OpResolve, by the host's template id, and
	// the parse tree of a resolve call's params
	compiled map[string]*compiledTemplate
	ptree    jsontree.Tree
	lastKey  templateKey // the key of the last params, which ptree holds
	params   []byte      // ptree's copy of those params
	// the template evaluator and its device's lists, reused per call
	ev       evaluator
	tags     [][2]string
	policies []string
	// per-call state
	violations []schema.Violation
}

// New compiles the embedded schemas (once per process) and returns an
// engine.
func New() (*Engine, error) {
	r, err := compiled()
	if err != nil {
		return nil, err
	}
	return &Engine{reg: r}, nil
}

// Run executes op over params (a JSON object of path and query parameters,
// or empty) and body, and returns the result document. The returned slice
// is reused by the next call.
func (e *Engine) Run(op string, params, body []byte) []byte {
	e.out = e.out[:0]
	e.violations = e.violations[:0]
	switch {
	case op == abi.OpEcho:
		e.out = append(e.out, body...)
		return e.out
	case op == abi.OpResolve:
		return e.resolve(params, body)
	}
	id, response := strings.CutSuffix(op, abi.ResponseSuffix)
	c, err := e.reg.op(id)
	if err != nil {
		e.violations = append(e.violations, schema.Violation{Rule: "engine", Message: err.Error()})
		return e.result(op, false, nil)
	}
	if c == nil {
		e.violations = append(e.violations, schema.Violation{Rule: "operation",
			Message: "unknown operation " + jsontree.Quote(op) + "; known operations: " + strings.Join(Operations(), ", ")})
		return e.result(op, false, nil)
	}
	if len(params) > 0 && c.params != nil && !response {
		e.v.Validate(c.params, params)
		if syn := e.v.Syntax; syn != nil {
			// Parameters reach the engine as a JSON object the host builds,
			// so a position in it means nothing to the client; the name of
			// the parameter (invalid UTF-8 in a header, say) does.
			msg := "parameters: " + syn.Msg
			if syn.Pointer != "" && syn.Text != "" {
				msg = "parameter " + strings.TrimPrefix(syn.Pointer, "/") + ": " + syn.Text
			}
			e.violations = append(e.violations, schema.Violation{Rule: "params." + syn.Rule, Message: msg})
			return e.result(op, false, nil)
		}
		for _, pv := range e.v.Violations {
			pv.Rule = "params." + pv.Rule
			if pv.Pointer == "" { // about the parameters as a whole: a missing one
				pv.Message = "parameters: " + pv.Message
			} else {
				pv.Message = "parameter " + strings.TrimPrefix(pv.Pointer, "/") + ": " + pv.Message
			}
			pv.Pointer = ""
			e.violations = append(e.violations, pv)
		}
	}
	target := c.request
	if response {
		target = c.response
	}
	if target == nil {
		// The operation (or its success response) has no body.
		for _, ch := range body {
			if ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r' {
				msg := "this operation takes no request body"
				if response {
					msg = "this operation's success response has no body"
				}
				e.violations = append(e.violations, schema.Violation{Rule: "body", Message: msg})
				break
			}
		}
		return e.result(op, false, nil)
	}
	e.v.Validate(target, body)
	if e.v.Syntax != nil {
		e.violations = append(e.violations, syntaxViolation(e.v.Syntax))
		return e.result(op, false, nil)
	}
	e.violations = append(e.violations, e.v.Violations...)
	if len(e.violations) > 0 && c.hint && !response {
		if hint, ok := extensionHint(body); ok {
			// First: it explains the "unknown member" violations after it.
			e.violations = append([]schema.Violation{hint}, e.violations...)
		}
	}
	if len(e.violations) == 0 && c.semantic != nil && !response && !batchFailed(e.v.Batches) {
		// Semantic rules navigate the document; it is known to be valid
		// JSON, so the parse cannot fail.
		if err := e.tree.Parse(body); err == nil {
			c.semantic(e, 0)
		}
	}
	return e.result(op, true, e.v.Batches)
}

func syntaxViolation(err *jsontree.Error) schema.Violation {
	return schema.Violation{Pointer: err.Pointer, Rule: err.Rule, Message: err.Msg}
}

func batchFailed(bs []schema.Batch) bool {
	for _, b := range bs {
		if len(b.Failed) > 0 {
			return true
		}
	}
	return false
}

// result writes the result document by hand: encoding/json's reflection is
// the single largest cost of a Go engine in Wasm.
//
//	{"op":…,"valid":…,"violations":[…],"batches":[…],"request":{…}}
//
// "request" (the normalised body) is present when no request-level rule is
// broken, even if some batch items failed: the API reports those per item.
func (e *Engine) result(op string, normalized bool, batches []schema.Batch) []byte {
	b := append(e.out, `{"op":`...)
	b = abi.AppendString(b, op)
	b = append(b, `,"valid":`...)
	b = strconv.AppendBool(b, len(e.violations) == 0 && !batchFailed(batches))
	if len(e.violations) > 0 {
		b = append(b, `,"violations":`...)
		b = appendViolations(b, e.violations)
	}
	if len(batches) > 0 && len(e.violations) == 0 {
		b = append(b, `,"batches":[`...)
		for i, bt := range batches {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"pointer":`...)
			b = abi.AppendString(b, bt.Pointer)
			b = append(b, `,"total":`...)
			b = strconv.AppendInt(b, int64(bt.Total), 10)
			b = append(b, `,"failed":[`...)
			for j, f := range bt.Failed {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"index":`...)
				b = strconv.AppendInt(b, int64(f.Index), 10)
				b = append(b, `,"violations":`...)
				b = appendViolations(b, f.Violations)
				b = append(b, '}')
			}
			b = append(b, "]}"...)
		}
		b = append(b, ']')
	}
	if normalized && len(e.violations) == 0 {
		b = append(b, `,"request":`...)
		b = e.v.Normalize(b)
	}
	b = append(b, '}')
	e.out = b
	return b
}

func appendViolations(b []byte, vs []schema.Violation) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"pointer":`...)
		b = abi.AppendString(b, v.Pointer)
		b = append(b, `,"rule":`...)
		b = abi.AppendString(b, v.Rule)
		b = append(b, `,"message":`...)
		b = abi.AppendString(b, v.Message)
		b = append(b, '}')
	}
	return append(b, ']')
}

type engineError string

func (e engineError) Error() string { return string(e) }

func errorf(format string, args ...any) error {
	return engineError("engine: " + sprintf(format, args...))
}
