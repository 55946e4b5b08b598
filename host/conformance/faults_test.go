package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/host/store"
)

// The kit must catch faults, and name them: onboard with one deliberate
// fault each, and the checks that must report it.
func TestConformanceCatchesFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts options
		// want must all fail; exact also says nothing else may.
		want  []string
		exact bool
	}{
		{
			name: "quota not enforced",
			opts: options{wrapStore: func(s store.Store) store.Store { return &quotaIgnored{Store: s} }},
			want: []string{"iotda.provisioning-template.create/quota-10-per-instance"}, exact: true,
		},
		{
			name: "wrong error code",
			opts: options{middleware: rewriteErrorCode},
			want: []string{
				"ief.product.create/bad-name-empty",
				"iotda.provisioning-template.create/bad-template-name-too-long",
				"ces.agent-invocation.batch-create/bad-instance-ids-101",
				"cbr.agent.register/bad-missing-agent-id",
				"cbr.agent.update/bad-host-name-empty",
				"ief.product.list/bad-unknown-query-parameter",
			},
		},
		{
			name: "missing per-item result",
			opts: options{middleware: dropLastItem},
			want: []string{
				"enos.device.batch-create/ok-doc-sample",
				"enos.device.batch-create/ok-batch-1000",
				"enos.device.batch-create/per-item-results",
				"enos.device.batch-create/bad-item-missing-timezone",
				"ces.agent-invocation.batch-create/ok-doc-example",
				"ces.agent-invocation.batch-create/ok-update-100-instances",
				"ces.agent-invocation.batch-create/per-item-results",
			},
		},
		{
			name: "leaked resource across projects",
			opts: options{wrapStore: func(s store.Store) store.Store { return &leaky{Store: s, owner: map[string]string{}} }},
			want: []string{
				"ief.product.show/isolation-other-project",
				"iotda.provisioning-template.show/isolation-other-project",
				"iotda.provisioning-template.update/isolation-other-project",
				"cbr.agent.show/isolation-other-project",
				"cbr.agent.update/isolation-other-project",
				// add-path and remove-path read the agent inside the store's
				// scoped write, not through GetAgent: they do not leak.
			},
			exact: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startOnboard(t, "sqlite", tc.opts)
			rep := conformance.Check(t.Context(), s.tokenTarget())
			var failed []string
			for _, r := range rep.Failed() {
				failed = append(failed, r.Name)
			}
			sort.Strings(failed)
			for _, name := range tc.want {
				assert.Contains(t, failed, name, "the fault must be reported by this check")
			}
			if tc.exact {
				assert.ElementsMatch(t, tc.want, failed, "only the checks of this fault may fail")
			}
			assert.NotEmpty(t, rep.Passed())
			t.Logf("%s: %d checks failed, e.g. %s", tc.name, len(failed), detail(rep, tc.want[0]))
		})
	}
}

func detail(rep conformance.Report, name string) string {
	r, _ := rep.Result(name)
	return r.Name + ": " + r.Detail
}

// quotaIgnored: the 11th template of an instance is written anyway, under
// a shadow instance the quota does not count.
type quotaIgnored struct{ store.Store }

func (s *quotaIgnored) CreateTemplate(ctx context.Context, t *store.ProvisioningTemplate) error {
	err := s.Store.CreateTemplate(ctx, t)
	var q *store.QuotaError
	if errors.As(err, &q) {
		inst := t.InstanceID
		t.InstanceID = inst + "~overflow~" + t.ID
		err = s.Store.CreateTemplate(ctx, t)
		t.InstanceID = inst
	}
	return err
}

// leaky: a read that misses in the caller's project falls back to the
// project that created the resource (a lost scope filter). Writes stay
// scoped, so add-path and remove-path still answer 404 and pass.
type leaky struct {
	store.Store
	mu    sync.Mutex
	owner map[string]string // resource id → project
}

func (s *leaky) own(id, project string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner[id] = project
}

func (s *leaky) ownerOf(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner[id]
}

func (s *leaky) CreateProduct(ctx context.Context, p *store.Product) error {
	err := s.Store.CreateProduct(ctx, p)
	if err == nil {
		s.own(p.ID, p.ProjectID)
	}
	return err
}

func (s *leaky) GetProduct(ctx context.Context, project, instance, id string) (*store.Product, error) {
	p, err := s.Store.GetProduct(ctx, project, instance, id)
	if errors.Is(err, store.ErrNotFound) && s.ownerOf(id) != "" {
		return s.Store.GetProduct(ctx, s.ownerOf(id), instance, id)
	}
	return p, err
}

func (s *leaky) CreateTemplate(ctx context.Context, t *store.ProvisioningTemplate) error {
	err := s.Store.CreateTemplate(ctx, t)
	if err == nil {
		s.own(t.ID, t.ProjectID)
	}
	return err
}

func (s *leaky) GetTemplate(ctx context.Context, project, instance, id string) (*store.ProvisioningTemplate, error) {
	t, err := s.Store.GetTemplate(ctx, project, instance, id)
	if errors.Is(err, store.ErrNotFound) && s.ownerOf(id) != "" {
		return s.Store.GetTemplate(ctx, s.ownerOf(id), instance, id)
	}
	return t, err
}

func (s *leaky) RegisterAgent(ctx context.Context, a *store.Agent) (bool, error) {
	created, err := s.Store.RegisterAgent(ctx, a)
	if err == nil {
		s.own(a.AgentID, a.ProjectID)
	}
	return created, err
}

func (s *leaky) GetAgent(ctx context.Context, project, id string) (*store.Agent, error) {
	a, err := s.Store.GetAgent(ctx, project, id)
	if errors.Is(err, store.ErrNotFound) && s.ownerOf(id) != "" {
		return s.Store.GetAgent(ctx, s.ownerOf(id), id)
	}
	return a, err
}

// rewrite buffers a response and lets edit change its status-preserving body.
func rewrite(next http.Handler, edit func(r *http.Request, status int, body map[string]any) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if d.Decode(&m) == nil && edit(r, rec.Code, m) {
			body, _ = json.Marshal(m)
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// rewriteErrorCode: every Huawei 400 answers the gateway's auth code.
func rewriteErrorCode(next http.Handler) http.Handler {
	return rewrite(next, func(r *http.Request, status int, m map[string]any) bool {
		if _, ok := m["error_code"]; ok && status == http.StatusBadRequest {
			m["error_code"] = "APIGW.0301"
			return true
		}
		return false
	})
}

// dropLastItem: EnOS batchCreate and CES batch-create lose their last
// per-item result.
func dropLastItem(next http.Handler) http.Handler {
	return rewrite(next, func(r *http.Request, status int, m map[string]any) bool {
		member := ""
		switch {
		case r.URL.Query().Get("action") == "batchCreate":
			member = "data"
		case strings.HasSuffix(r.URL.Path, "/agent-invocations/batch-create"):
			member = "invocations"
		}
		items, ok := m[member].([]any)
		if !ok || len(items) == 0 {
			return false
		}
		m[member] = items[:len(items)-1]
		return true
	})
}
