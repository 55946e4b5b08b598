package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// resource describes one Huawei resource to the kit: its operations and
// where its bodies carry ids. Everything else (cases, statuses, response
// schemas, parameters) comes from the catalogue and the corpus.
type resource struct {
	create, list, show, del string
	onItem                  []string // operations on one resource, with a body (update, add-path, …)
	onProject               []string // other operations on the project, with a body (cbr.agent.check)
	idParam                 string   // path parameter naming one resource
	header                  string   // the instance header that scopes names and quotas, "" if none
	fixture                 string   // the ok case that creates fixtures
	created                 func(obj map[string]any) []string
	listed                  func(obj map[string]any) []string
	count                   func(obj map[string]any) (int, bool)
	shown                   func(obj map[string]any) string
	// uniqueStrings lists the strings of a create body that name what it
	// creates (ids the client chooses), skipping the failed batch items.
	uniqueStrings func(body []byte, failed map[int]bool) []string
	// listQuery narrows a list to the resource created by a create response.
	listQuery func(obj map[string]any) url.Values
	// live makes an ok case of a create operation usable against a live
	// server (a fresh certificate in place of the case's, …).
	live func(r *runner, body []byte) []byte
	// bind makes an ok case of an operation on one resource live: ids of
	// other resources the case names become real ones in the fixture's
	// instance.
	bind func(r *runner, op string, body []byte, fx *fixture) ([]byte, error)
	// custom runs the checks of operations whose ok cases need more than
	// a fixture (a proof of possession, a resolved template).
	custom map[string]func(r *runner, res *resource, shared func() (*fixture, error))
	// afterOK checks what a success reply says beyond its schema.
	afterOK map[string]func(r *runner, body []byte, p *reply) error
	// shownOK checks what show says of a fixture beyond its id.
	shownOK func(r *runner, fx *fixture, p *reply) error
}

func (res *resource) ops() []string {
	var ops []string
	for _, op := range append([]string{res.create, res.list, res.show, res.del}, append(res.onItem, res.onProject...)...) {
		if op != "" {
			ops = append(ops, op)
		}
	}
	return ops
}

var resources = []*resource{
	{
		create: "ief.product.create", list: "ief.product.list", show: "ief.product.show", del: "ief.product.delete",
		idParam: "product_id", header: "ief-instance-id", fixture: "ok-minimal",
		created: func(o map[string]any) []string { return nonEmpty(str(o, "product", "id")) },
		listed:  func(o map[string]any) []string { return idsOf(o, "id", "products") },
		count:   func(o map[string]any) (int, bool) { return num(o, "count") },
		shown:   func(o map[string]any) string { return str(o, "product", "id") },
	},
	{
		create: "iotda.provisioning-template.create", list: "iotda.provisioning-template.list",
		show: "iotda.provisioning-template.show", del: "iotda.provisioning-template.delete",
		onItem:  []string{"iotda.provisioning-template.update", tmplPrev},
		idParam: "template_id", header: "Instance-Id", fixture: "ok-minimal",
		created: func(o map[string]any) []string { return nonEmpty(str(o, "template_id")) },
		listed:  func(o map[string]any) []string { return idsOf(o, "template_id", "templates") },
		count:   func(o map[string]any) (int, bool) { return num(o, "page", "count") },
		shown:   func(o map[string]any) string { return str(o, "template_id") },
		custom:  map[string]func(*runner, *resource, func() (*fixture, error)){tmplPrev: previewChecks},
	},
	{
		create: caUpload, list: "iotda.device-ca.list", show: caShow, del: "iotda.device-ca.delete",
		onItem:  []string{caUpdate, caVerify, caRevoke},
		idParam: "certificate_id", header: "Instance-Id", fixture: "ok-minimal",
		created: func(o map[string]any) []string { return nonEmpty(str(o, "certificate_id")) },
		listed:  func(o map[string]any) []string { return idsOf(o, "certificate_id", "certificates") },
		count:   func(o map[string]any) (int, bool) { return num(o, "page", "count") },
		shown:   func(o map[string]any) string { return str(o, "certificate_id") },
		live:    caLive,
		bind:    caBind,
		custom:  map[string]func(*runner, *resource, func() (*fixture, error)){caVerify: caVerifyChecks},
		afterOK: map[string]func(*runner, []byte, *reply) error{caRevoke: revokedOK},
		shownOK: caShown,
	},
	{
		create: cesCreate, list: "ces.agent-invocation.list", fixture: "ok-doc-example",
		onItem: []string{cesReport}, idParam: "invocation_id",
		custom: map[string]func(*runner, *resource, func() (*fixture, error)){cesReport: cesReportChecks},
		created: func(o map[string]any) []string {
			var ids []string
			items, _ := list(o, "invocations")
			for _, it := range items {
				if str(it, "ret_status") == "successful" {
					ids = append(ids, nonEmpty(str(it, "invocation_id"))...)
				}
			}
			return ids
		},
		listed:        func(o map[string]any) []string { return idsOf(o, "invocation_id", "invocations") },
		count:         func(o map[string]any) (int, bool) { return num(o, "count") },
		uniqueStrings: cesInstanceIDs,
		listQuery: func(o map[string]any) url.Values {
			items, _ := list(o, "invocations")
			if len(items) == 0 {
				return nil
			}
			return url.Values{"instance_id": {str(items[0], "instance_id")}}
		},
	},
	{
		create: "cbr.agent.register", list: "cbr.agent.list", show: "cbr.agent.show", del: "cbr.agent.delete",
		onItem:    []string{"cbr.agent.update", "cbr.agent.add-path", "cbr.agent.remove-path"},
		onProject: []string{"cbr.agent.check"},
		idParam:   "agent_id", fixture: "ok-doc-example",
		created: func(o map[string]any) []string { return nonEmpty(str(o, "agent", "agent_id")) },
		listed:  func(o map[string]any) []string { return idsOf(o, "agent_id", "agents") },
		count:   func(o map[string]any) (int, bool) { return num(o, "count") },
		shown:   func(o map[string]any) string { return str(o, "agent", "agent_id") },
		uniqueStrings: func(body []byte, _ map[int]bool) []string {
			var req struct {
				Agent struct {
					AgentID string `json:"agent_id"`
				} `json:"agent"`
			}
			_ = json.Unmarshal(body, &req)
			return nonEmpty(req.Agent.AgentID)
		},
		listQuery: func(o map[string]any) url.Values {
			return url.Values{"agent_id": {str(o, "agent", "agent_id")}}
		},
	},
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func idsOf(o map[string]any, member string, path ...string) []string {
	items, _ := list(o, path...)
	var ids []string
	for _, it := range items {
		ids = append(ids, nonEmpty(str(it, member))...)
	}
	return ids
}

// cesItems returns the array a CES batch is made of, by invocation_type.
func cesItems(invocationType string) string {
	switch invocationType {
	case "ROLLBACK", "RETRY":
		return "invocation_ids"
	case "REMOTE_INSTALL":
		return "remote_install_meta"
	}
	return "instance_ids"
}

// cesInstanceIDs: instance ids an INSTALL, UPDATE or SET_REMOTE_INSTALLER
// targets (a second INSTALL of one instance is refused while the first is
// pending, so each run needs its own).
func cesInstanceIDs(body []byte, failed map[int]bool) []string {
	var req struct {
		Type        string `json:"invocation_type"`
		InstanceIDs []any  `json:"instance_ids"`
	}
	if json.Unmarshal(body, &req) != nil || cesItems(req.Type) != "instance_ids" {
		return nil
	}
	var out []string
	for i, v := range req.InstanceIDs {
		if s, ok := v.(string); ok && !failed[i] {
			out = append(out, s)
		}
	}
	return out
}

// fixture is a resource created for the checks that need one.
type fixture struct {
	id     string
	header map[string]string
	query  url.Values // narrows the list to it
	obj    map[string]any
	body   []byte // the create request
}

func (r *runner) instanceHeader(res *resource) map[string]string {
	if res.header == "" {
		return nil
	}
	return map[string]string{res.header: r.name()}
}

// createBody returns a create case with the ids the client chooses made
// unique for this call (same lengths, same characters classes).
func (r *runner) createBody(res *resource, body []byte, failed map[int]bool) []byte {
	if res.uniqueStrings != nil {
		body = r.replaceStrings(body, res.uniqueStrings(body, failed))
	}
	if res.live != nil && len(failed) == 0 {
		body = res.live(r, body)
	}
	return body
}

// newFixture creates one resource as project A, and schedules its deletion.
func (r *runner) newFixture(res *resource, body []byte) (*fixture, error) {
	if body == nil {
		body = okCase(res.create, res.fixture)
	}
	fx := &fixture{header: r.instanceHeader(res), body: r.createBody(res, body, nil)}
	p, err := r.do(request{op: res.create, body: fx.body, header: fx.header})
	if err != nil {
		return nil, fmt.Errorf("setup: create: %w", err)
	}
	if err := r.wantSuccess(res.create, p); err != nil {
		return nil, fmt.Errorf("setup: create: %w", err)
	}
	ids := res.created(p.obj)
	if len(ids) == 0 {
		return nil, fmt.Errorf("setup: create: no id in the response: %s", p)
	}
	fx.id, fx.obj = ids[0], p.obj
	if res.listQuery != nil {
		fx.query = res.listQuery(p.obj)
	}
	r.scheduleDelete(res, fx.id, fx.header)
	return fx, nil
}

func (r *runner) scheduleDelete(res *resource, id string, header map[string]string) {
	if res.del == "" || id == "" {
		return
	}
	r.cleanups = append(r.cleanups, func() {
		_, _ = r.do(request{op: res.del, params: map[string]string{res.idParam: id}, header: header})
	})
}

// cleanup deletes what the run created, newest first (best effort).
func (r *runner) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// lazyFixture creates the shared fixture of a resource on first use.
func (r *runner) lazyFixture(res *resource) func() (*fixture, error) {
	var fx *fixture
	var err error
	done := false
	return func() (*fixture, error) {
		if !done {
			done = true
			fx, err = r.newFixture(res, nil)
		}
		return fx, err
	}
}

const missingID = "missing"

func (r *runner) missing() string { return "conform-" + r.run + "-" + missingID }

// huaweiResource runs every check of one Huawei resource.
func (r *runner) huaweiResource(res *resource) {
	shared := r.lazyFixture(res)
	r.createCases(res)
	for _, op := range res.onItem {
		if custom := res.custom[op]; custom != nil {
			custom(r, res, shared)
			continue
		}
		r.itemCases(res, op, shared)
	}
	for _, op := range res.onProject {
		r.projectCases(op)
	}
	if res.list != "" {
		r.listChecks(res, shared)
	}
	if res.show != "" {
		r.showChecks(res, shared)
	}
	if res.del != "" {
		r.deleteChecks(res)
	}
	r.authChecks(res)
	r.isolationChecks(res, shared)
	r.idempotencyChecks(res)
	if res.create == "iotda.provisioning-template.create" {
		r.templateQuota(res)
	}
	if res.create == "ces.agent-invocation.batch-create" {
		r.cesPerItem()
	}
	if res.create == caUpload {
		r.caChecks(res)
	}
}

// createCases sends every corpus case of the create operation.
func (r *runner) createCases(res *resource) {
	op := res.create
	for _, c := range cases(op) {
		r.check(op+"/"+c.name, func() error {
			if err := r.extensionCase(c); err != nil {
				return err
			}
			header := r.instanceHeader(res)
			if c.valid {
				body := r.createBody(res, c.body, nil)
				p, err := r.do(request{op: op, body: body, header: header})
				if err != nil {
					return err
				}
				if err := r.wantSuccess(op, p); err != nil {
					return err
				}
				for _, id := range res.created(p.obj) {
					r.scheduleDelete(res, id, header)
				}
				if err := r.perItem(op, body, p, nil); err != nil {
					return err
				}
				return r.okReply(res, op, body, p)
			}
			v := r.verdict(op, c.body)
			failed := failedItems(v)
			body := c.body
			if v.Accepted() && len(failed) > 0 {
				body = r.createBody(res, c.body, failed)
			}
			p, err := r.do(request{op: op, body: body, header: header})
			if err != nil {
				return err
			}
			if v.Accepted() && len(failed) > 0 {
				// Only some items break a rule: the batch succeeds and
				// answers those items with an error.
				if err := r.wantSuccess(op, p); err != nil {
					return fmt.Errorf("items %v break a rule, the others do not: %w", keys(failed), err)
				}
				return r.perItem(op, body, p, nil)
			}
			return r.wantInvalid(op, p)
		})
	}
}

func keys(m map[int]bool) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// extensionCase skips a case that needs onboard's template extensions on
// a target that does not claim them.
func (r *runner) extensionCase(c kase) error {
	if c.extension && !r.t.Extensions {
		return skipf("uses onboard's template extensions (docs/templates.md); set Target.Extensions (onboard conform --extensions) for a server that has them")
	}
	return nil
}

// itemCases sends the corpus cases of an operation on one resource to the
// shared fixture.
func (r *runner) itemCases(res *resource, op string, shared func() (*fixture, error)) {
	for _, c := range cases(op) {
		r.check(op+"/"+c.name, func() error {
			if err := r.extensionCase(c); err != nil {
				return err
			}
			fx, err := shared()
			if err != nil {
				return err
			}
			body := c.body
			if c.valid && res.bind != nil {
				if body, err = res.bind(r, op, body, fx); err != nil {
					return err
				}
			}
			p, err := r.do(request{op: op, params: map[string]string{res.idParam: fx.id}, body: body, header: fx.header})
			if err != nil {
				return err
			}
			if !c.valid {
				return r.wantInvalid(op, p)
			}
			if err := r.wantSuccess(op, p); err != nil {
				return err
			}
			return r.okReply(res, op, body, p)
		})
	}
	r.check(op+"/not-found", func() error {
		fx, err := shared()
		if err != nil {
			return err
		}
		p, err := r.do(request{op: op, params: map[string]string{res.idParam: r.missing()}, body: okCase(op, ""), header: fx.header})
		if err != nil {
			return err
		}
		return r.wantError(op, p, NotFound)
	})
}

// okReply checks a success reply beyond its schema: what the request set
// comes back, and what the operation's afterOK says.
func (r *runner) okReply(res *resource, op string, body []byte, p *reply) error {
	sent, err := decode(body)
	if err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	if err := r.echo(op, sent, p.obj); err != nil {
		return err
	}
	if after := res.afterOK[op]; after != nil {
		return after(r, body, p)
	}
	return nil
}

func (r *runner) projectCases(op string) {
	for _, c := range cases(op) {
		r.check(op+"/"+c.name, func() error {
			p, err := r.do(request{op: op, body: c.body})
			if err != nil {
				return err
			}
			if c.valid {
				return r.wantSuccess(op, p)
			}
			return r.wantInvalid(op, p)
		})
	}
}

func (r *runner) listChecks(res *resource, shared func() (*fixture, error)) {
	op := res.list
	r.check(op+"/ok", func() error {
		fx, err := shared()
		if err != nil {
			return err
		}
		p, err := r.do(request{op: op, query: fx.query, header: fx.header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(op, p); err != nil {
			return err
		}
		if ids := res.listed(p.obj); !slices.Contains(ids, fx.id) {
			return fmt.Errorf("the list does not hold %s, created by this run: %s", fx.id, p)
		}
		return nil
	})
	r.queryChecks(op, func() (request, error) {
		fx, err := shared()
		if err != nil {
			return request{}, err
		}
		return request{op: op, header: fx.header}, nil
	})
}

// queryChecks: the operation's query parameters, from its params schema,
// each sent with a value it forbids, and an unknown one.
func (r *runner) queryChecks(op string, base func() (request, error)) {
	entry := r.ops[op]
	send := func(name, value string) error {
		q, err := base()
		if err != nil {
			return err
		}
		if q.query == nil {
			q.query = url.Values{}
		}
		q.query.Set(name, value)
		p, err := r.do(q)
		if err != nil {
			return err
		}
		return r.wantInvalid(op, p)
	}
	r.check(op+"/bad-unknown-query-parameter", func() error { return send("conform_unknown", "1") })
	var params struct {
		Properties map[string]struct {
			Enum    []any  `json:"enum"`
			Pattern string `json:"pattern"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(entry.Params, &params)
	names := make([]string, 0, len(params.Properties))
	for name := range params.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		prop := params.Properties[name]
		if strings.Contains(entry.Route, "{"+name+"}") || name == "orgId" || entry.Query[name] != "" {
			continue // path parameters and what selects the operation
		}
		const bad = "~!"
		switch {
		case len(prop.Enum) > 0:
			r.check(op+"/bad-query-"+name+"-enum", func() error { return send(name, bad) })
		case prop.Pattern != "":
			if re, err := regexp.Compile(prop.Pattern); err == nil && !re.MatchString(bad) {
				r.check(op+"/bad-query-"+name+"-pattern", func() error { return send(name, bad) })
			}
		}
	}
}

func (r *runner) showChecks(res *resource, shared func() (*fixture, error)) {
	op := res.show
	r.check(op+"/ok", func() error {
		// A resource of its own, from the fullest ok case: show must give
		// back all it was created with.
		fx, err := r.newFixture(res, r.fullestOK(res.create))
		if err != nil {
			return err
		}
		p, err := r.do(request{op: op, params: map[string]string{res.idParam: fx.id}, header: fx.header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(op, p); err != nil {
			return err
		}
		if got := res.shown(p.obj); got != fx.id {
			return fmt.Errorf("asked for %s, got %q: %s", fx.id, got, p)
		}
		sent, err := decode(fx.body)
		if err != nil {
			return fmt.Errorf("kit: %w", err)
		}
		if err := r.echo(op, sent, p.obj); err != nil {
			return err
		}
		if res.shownOK != nil {
			return res.shownOK(r, fx, p)
		}
		return nil
	})
	r.check(op+"/not-found", func() error {
		p, err := r.do(request{op: op, params: map[string]string{res.idParam: r.missing()}, header: r.instanceHeader(res)})
		if err != nil {
			return err
		}
		return r.wantError(op, p, NotFound)
	})
}

func (r *runner) deleteChecks(res *resource) {
	op := res.del
	r.check(op+"/ok", func() error {
		fx, err := r.newFixture(res, nil)
		if err != nil {
			return err
		}
		q := request{op: op, params: map[string]string{res.idParam: fx.id}, header: fx.header}
		p, err := r.do(q)
		if err != nil {
			return err
		}
		if err := r.wantSuccess(op, p); err != nil {
			return err
		}
		if res.show != "" {
			q.op = res.show
			p, err := r.do(q)
			if err != nil {
				return err
			}
			if err := r.wantError(res.show, p, NotFound); err != nil {
				return fmt.Errorf("after delete, show: %w", err)
			}
		}
		return nil
	})
	r.check(op+"/not-found", func() error {
		p, err := r.do(request{op: op, params: map[string]string{res.idParam: r.missing()}, header: r.instanceHeader(res)})
		if err != nil {
			return err
		}
		return r.wantError(op, p, NotFound)
	})
}

// anyRequest is a well-formed request of op (its first ok case, a made-up
// id), for checks that are about something else.
func (r *runner) anyRequest(res *resource, op string) request {
	q := request{op: op, body: okCase(op, ""), header: r.instanceHeader(res)}
	if op == res.create {
		q.body = r.createBody(res, okCase(op, res.fixture), nil)
	}
	if res.idParam != "" && strings.Contains(r.ops[op].Route, "{"+res.idParam+"}") {
		q.params = map[string]string{res.idParam: r.missing()}
	}
	return q
}

func (r *runner) authChecks(res *resource) {
	for _, op := range res.ops() {
		r.check(op+"/auth-missing-credentials", func() error {
			q := r.anyRequest(res, op)
			q.cred = asNone
			p, err := r.do(q)
			if err != nil {
				return err
			}
			return r.wantError(op, p, Unauthenticated)
		})
	}
	r.check(res.create+"/auth-bad-credential", func() error {
		q := r.anyRequest(res, res.create)
		q.cred = asBad
		p, err := r.do(q)
		if err != nil {
			return err
		}
		return r.wantError(res.create, p, Unauthenticated)
	})
}

// isolationChecks: project A's credential on project B's routes is
// refused; with B's credential, B cannot see, change or delete A's
// resources.
func (r *runner) isolationChecks(res *resource, shared func() (*fixture, error)) {
	const name = "/isolation-other-project"
	noB := func() error {
		if r.t.ProjectB == "" {
			return skipf("no second project (Target.ProjectB)")
		}
		if r.t.ProjectBToken == "" && r.t.ProjectBAK == "" {
			return skipf("no credential of the second project (Target.ProjectBToken or ProjectBAK/SK)")
		}
		return nil
	}
	r.check(res.create+"/isolation-foreign-route", func() error {
		if r.t.ProjectB == "" {
			return skipf("no second project (Target.ProjectB)")
		}
		q := r.anyRequest(res, res.create)
		q.project = r.t.ProjectB
		p, err := r.do(q)
		if err != nil {
			return err
		}
		return r.wantError(res.create, p, Forbidden)
	})
	// asB sends the id of A's shared resource with B's credential on B's
	// route (skipping without a second project).
	asB := func(op string) (*fixture, *reply, error) {
		if err := noB(); err != nil {
			return nil, nil, err
		}
		fx, err := shared()
		if err != nil {
			return nil, nil, err
		}
		q := request{op: op, cred: asB, header: fx.header, body: okCase(op, "")}
		if res.idParam != "" && strings.Contains(r.ops[op].Route, "{"+res.idParam+"}") {
			q.params = map[string]string{res.idParam: fx.id}
		}
		if op == res.list {
			q.query = fx.query
		}
		p, err := r.do(q)
		return fx, p, err
	}
	if res.list != "" {
		r.check(res.list+name, func() error {
			fx, p, err := asB(res.list)
			if err != nil {
				return err
			}
			if p.status == http.StatusForbidden {
				return nil
			}
			if err := r.wantSuccess(res.list, p); err != nil {
				return err
			}
			if slices.Contains(res.listed(p.obj), fx.id) {
				return fmt.Errorf("project B's list shows %s, created by project A: %s", fx.id, p)
			}
			return nil
		})
	}
	for _, op := range append([]string{res.show}, res.onItem...) {
		if op == "" {
			continue
		}
		r.check(op+name, func() error {
			fx, p, err := asB(op)
			if err != nil {
				return err
			}
			if err := r.wantError(op, p, NotFound, Forbidden); err != nil {
				return fmt.Errorf("project B reached %s of project A: %w", fx.id, err)
			}
			return nil
		})
	}
	if res.del != "" {
		r.check(res.del+name, func() error {
			fx, p, err := asB(res.del)
			if err != nil {
				return err
			}
			if err := r.wantError(res.del, p, NotFound, Forbidden); err != nil {
				return fmt.Errorf("project B deleted %s of project A: %w", fx.id, err)
			}
			if res.show != "" {
				p, err := r.do(request{op: res.show, params: map[string]string{res.idParam: fx.id}, header: fx.header})
				if err != nil {
					return err
				}
				if err := r.wantSuccess(res.show, p); err != nil {
					return fmt.Errorf("after project B's delete, project A's show: %w", err)
				}
			}
			return nil
		})
	}
}

// idempotencyChecks: a create retried with its Idempotency-Key returns the
// first response and writes nothing; the key reused for another request
// is refused (422).
func (r *runner) idempotencyChecks(res *resource) {
	op := res.create
	r.check(op+"/idempotency-replay", func() error {
		key := r.name()
		header := map[string]string{"Idempotency-Key": key}
		for k, v := range r.instanceHeader(res) {
			header[k] = v
		}
		body := r.createBody(res, okCase(op, res.fixture), nil)
		first, err := r.do(request{op: op, body: body, header: header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(op, first); err != nil {
			return fmt.Errorf("first request: %w", err)
		}
		ids := res.created(first.obj)
		for _, id := range ids {
			r.scheduleDelete(res, id, header)
		}
		second, err := r.do(request{op: op, body: body, header: header})
		if err != nil {
			return err
		}
		if second.status != first.status || !sameJSON(first.body, second.body) {
			return fmt.Errorf("the retry with the same Idempotency-Key got another response:\nfirst:  %s\nretry:  %s", first, second)
		}
		var query url.Values
		if res.listQuery != nil {
			query = res.listQuery(first.obj)
		}
		p, err := r.do(request{op: res.list, query: query, header: header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(res.list, p); err != nil {
			return fmt.Errorf("list after the retry: %w", err)
		}
		if n, ok := res.count(p.obj); !ok || n != 1 {
			return fmt.Errorf("after a create and its retry the list holds %d (want 1): %s", n, p)
		}
		return nil
	})
	r.check(op+"/idempotency-key-reuse", func() error {
		header := map[string]string{"Idempotency-Key": r.name()}
		for k, v := range r.instanceHeader(res) {
			header[k] = v
		}
		first, err := r.do(request{op: op, body: r.createBody(res, okCase(op, res.fixture), nil), header: header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(op, first); err != nil {
			return fmt.Errorf("first request: %w", err)
		}
		for _, id := range res.created(first.obj) {
			r.scheduleDelete(res, id, header)
		}
		other := r.createBody(res, otherOK(op, res.fixture), nil)
		p, err := r.do(request{op: op, body: other, header: header})
		if err != nil {
			return err
		}
		for _, id := range res.created(p.obj) {
			r.scheduleDelete(res, id, header)
		}
		return r.wantError(op, p, IdempotencyReuse)
	})
}

// fullestOK is the longest ok case of op the target takes.
func (r *runner) fullestOK(op string) []byte {
	var best []byte
	for _, c := range cases(op) {
		if c.valid && (!c.extension || r.t.Extensions) && len(c.body) > len(best) {
			best = c.body
		}
	}
	return best
}

// otherOK is an ok case of op other than not.
func otherOK(op, not string) []byte {
	for _, c := range cases(op) {
		if c.valid && c.name != not {
			return c.body
		}
	}
	return nil
}

func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// templateQuota: IoTDA allows 10 provisioning templates per instance; the
// 11th is refused and not written.
func (r *runner) templateQuota(res *resource) {
	const limit = 10
	r.check(res.create+"/quota-10-per-instance", func() error {
		header := r.instanceHeader(res)
		var tmpl map[string]any
		if err := json.Unmarshal(okCase(res.create, "ok-minimal"), &tmpl); err != nil {
			return fmt.Errorf("kit: ok-minimal: %w", err)
		}
		for i := 1; i <= limit+1; i++ {
			tmpl["template_name"] = fmt.Sprintf("conform-%s-quota-%d", r.run, i)
			body, _ := json.Marshal(tmpl)
			p, err := r.do(request{op: res.create, body: body, header: header})
			if err != nil {
				return err
			}
			for _, id := range res.created(p.obj) {
				r.scheduleDelete(res, id, header)
			}
			if i <= limit {
				if err := r.wantSuccess(res.create, p); err != nil {
					return fmt.Errorf("template %d of %d in one instance: %w", i, limit, err)
				}
				continue
			}
			if err := r.wantError(res.create, p, Quota); err != nil {
				return fmt.Errorf("template %d in one instance must be refused (at most %d per instance): %w", i, limit, err)
			}
		}
		p, err := r.do(request{op: res.list, header: header})
		if err != nil {
			return err
		}
		if n, ok := res.count(p.obj); !ok || n != limit {
			return fmt.Errorf("after the refused template the instance holds %d templates (want %d): %s", n, limit, p)
		}
		return nil
	})
}
