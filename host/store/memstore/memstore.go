// Package memstore is the in-memory adapter of the store, for unit tests and
// for embedding without persistence. It holds everything behind one mutex
// and mirrors the SQL adapters' observable behaviour (ordering, JSON
// semantics of nested parts, time precision, quotas, errors) so that tests
// written against it hold against the real databases. It must not be used
// where data has to survive the process, and secrets are not encrypted here
// because nothing is at rest.
package memstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onboardhq/onboard/host/store/internal/model"
)

// Options configure New.
type Options struct {
	DeviceLimitPerProduct    int // 0 = 10,000 (EnOS)
	TemplateLimitPerInstance int // 0 = 10 (IoTDA)
}

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	limits model.Limits

	mu         sync.Mutex
	closed     bool
	products   []*model.Product
	templates  []*model.ProvisioningTemplate
	cas        []*model.DeviceCA
	devices    []*model.EnosDevice
	devKeys    map[string]bool // org \x1f deviceKey
	devCount   map[string]int  // org \x1f productKey
	iotda      []*model.IoTDADevice
	invs       []*model.AgentInvocation
	agents     []*model.Agent
	tokens     map[string]model.Token
	aks        map[string]model.AccessKey
	sas        map[string]model.ServiceAccount
	idem       map[string]model.IdempotencyRecord
	projectCAs map[string]projectCA
}

// New returns an empty store.
func New(o Options) *Store {
	return &Store{
		limits:     model.Limits{DevicesPerProduct: o.DeviceLimitPerProduct, TemplatesPerInstance: o.TemplateLimitPerInstance}.WithDefaults(),
		devKeys:    map[string]bool{},
		devCount:   map[string]int{},
		tokens:     map[string]model.Token{},
		aks:        map[string]model.AccessKey{},
		sas:        map[string]model.ServiceAccount{},
		idem:       map[string]model.IdempotencyRecord{},
		projectCAs: map[string]projectCA{},
	}
}

func k(parts ...string) string { return strings.Join(parts, "\x1f") }

// jcopy deep-copies src into dst through JSON, exactly as the SQL adapters
// store nested parts, so callers see the same types (float64 numbers, nil
// versus empty) whichever adapter they use.
func jcopy[T any](src T) T {
	var dst T
	b, err := json.Marshal(src)
	if err != nil {
		panic(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers stay exact, as the SQL stores keep them
	if err := d.Decode(&dst); err != nil {
		panic(err)
	}
	return dst
}

func nf(what string) error { return fmt.Errorf("%w: %s", model.ErrNotFound, what) }

func conflict(what string) error { return fmt.Errorf("%w: %s", model.ErrConflict, what) }

// page applies offset/limit to items.
func page[T any](items []T, p model.Page) []T {
	lo, hi := p.Window(len(items))
	return slices.Clone(items[lo:hi])
}

// afterMarker drops items up to and including the one whose id is marker.
func afterMarker[T any](items []*T, all []*T, marker string, id func(*T) string) ([]*T, error) {
	if marker == "" {
		return items, nil
	}
	pos := slices.IndexFunc(all, func(x *T) bool { return id(x) == marker })
	if pos < 0 {
		return nil, nf(fmt.Sprintf("marker %q", marker))
	}
	var out []*T
	after := map[*T]bool{}
	for _, x := range all[pos+1:] {
		after[x] = true
	}
	for _, x := range items {
		if after[x] {
			out = append(out, x)
		}
	}
	return out, nil
}

func filter[T any](items []*T, keep func(*T) bool) []*T {
	var out []*T
	for _, x := range items {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func values[T any](items []*T, conv func(*T) T) []T {
	out := make([]T, 0, len(items))
	for _, x := range items {
		out = append(out, conv(x))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func remove[T any](items *[]*T, match func(*T) bool) bool {
	n := len(*items)
	*items = slices.DeleteFunc(*items, match)
	return len(*items) != n
}

// Ping reports whether the store is open.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memstore: closed")
	}
	return nil
}

// Close marks the store closed; the data is dropped with it.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// ---- products ----

func cloneProduct(p *model.Product) model.Product {
	c := *p
	c.Attributes = jcopy(p.Attributes)
	c.Tags = jcopy(p.Tags)
	return c
}

// CreateProduct stores p, filling ID and CreatedAt when empty.
func (s *Store) CreateProduct(ctx context.Context, p *model.Product) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == "" {
		p.ID = model.NewUUID()
	}
	if p.CreatedAt == 0 {
		p.CreatedAt = time.Now().Unix()
	}
	for _, x := range s.products {
		if x.ID == p.ID || (x.ProjectID == p.ProjectID && x.InstanceID == p.InstanceID && x.Name == p.Name) {
			return conflict("product " + p.Name)
		}
	}
	c := cloneProduct(p)
	s.products = append(s.products, &c)
	return nil
}

func (s *Store) findProduct(projectID, instanceID, id string) *model.Product {
	for _, x := range s.products {
		if x.ID == id && x.ProjectID == projectID && x.InstanceID == instanceID {
			return x
		}
	}
	return nil
}

// GetProduct returns one product of (project, instance).
func (s *Store) GetProduct(ctx context.Context, projectID, instanceID, id string) (*model.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findProduct(projectID, instanceID, id)
	if x == nil {
		return nil, nf("product " + id)
	}
	c := cloneProduct(x)
	return &c, nil
}

// ListProducts returns a page of products and the total number of matches.
func (s *Store) ListProducts(ctx context.Context, f model.ProductFilter) ([]model.Product, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := filter(s.products, func(x *model.Product) bool { return x.ProjectID == f.ProjectID && x.InstanceID == f.InstanceID })
	if f.SortBy == "name" {
		sort.SliceStable(m, func(i, j int) bool { return m[i].Name < m[j].Name })
	} else {
		sort.SliceStable(m, func(i, j int) bool { return m[i].CreatedAt < m[j].CreatedAt })
	}
	if f.SortDesc {
		slices.Reverse(m)
	}
	return values(page(m, f.Page), cloneProduct), len(m), nil
}

// UpdateProduct changes description, attributes and tags.
func (s *Store) UpdateProduct(ctx context.Context, p *model.Product) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findProduct(p.ProjectID, p.InstanceID, p.ID)
	if x == nil {
		return nf("product " + p.ID)
	}
	x.Description, x.Attributes, x.Tags = p.Description, jcopy(p.Attributes), jcopy(p.Tags)
	*p = cloneProduct(x)
	return nil
}

// DeleteProduct removes one product.
func (s *Store) DeleteProduct(ctx context.Context, projectID, instanceID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !remove(&s.products, func(x *model.Product) bool {
		return x.ID == id && x.ProjectID == projectID && x.InstanceID == instanceID
	}) {
		return nf("product " + id)
	}
	return nil
}

// ---- templates ----

func cloneTemplate(t *model.ProvisioningTemplate) model.ProvisioningTemplate {
	c := *t
	c.Body = json.RawMessage(string(t.Body))
	return c
}

// CreateTemplate stores t within the per-instance quota.
func (s *Store) CreateTemplate(ctx context.Context, t *model.ProvisioningTemplate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == "" {
		t.ID = model.NewHexID(12)
	}
	now := model.Now()
	t.CreateTime, t.UpdateTime = now, now
	n := 0
	for _, x := range s.templates {
		if x.ProjectID == t.ProjectID && x.InstanceID == t.InstanceID {
			n++
		}
	}
	if n >= s.limits.TemplatesPerInstance {
		return &model.QuotaError{Quota: model.QuotaTemplatesPerInstance, Limit: s.limits.TemplatesPerInstance, Scope: t.ProjectID + "/" + t.InstanceID}
	}
	for _, x := range s.templates {
		if x.ID == t.ID || (x.ProjectID == t.ProjectID && x.InstanceID == t.InstanceID && x.Name == t.Name) {
			return conflict("provisioning template " + t.Name)
		}
	}
	c := cloneTemplate(t)
	s.templates = append(s.templates, &c)
	return nil
}

func (s *Store) findTemplate(projectID, instanceID, id string) *model.ProvisioningTemplate {
	for _, x := range s.templates {
		if x.ID == id && x.ProjectID == projectID && x.InstanceID == instanceID {
			return x
		}
	}
	return nil
}

// GetTemplate returns one template of (project, instance).
func (s *Store) GetTemplate(ctx context.Context, projectID, instanceID, id string) (*model.ProvisioningTemplate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findTemplate(projectID, instanceID, id)
	if x == nil {
		return nil, nf("provisioning template " + id)
	}
	c := cloneTemplate(x)
	return &c, nil
}

// ListTemplates lists in creation order after Marker, then offset/limit.
func (s *Store) ListTemplates(ctx context.Context, f model.TemplateFilter) (model.TemplatePage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pg model.TemplatePage
	scope := filter(s.templates, func(x *model.ProvisioningTemplate) bool {
		return x.ProjectID == f.ProjectID && x.InstanceID == f.InstanceID
	})
	m := filter(scope, func(x *model.ProvisioningTemplate) bool { return f.Name == "" || x.Name == f.Name })
	pg.Total = len(m)
	m, err := afterMarker(m, scope, f.Marker, func(x *model.ProvisioningTemplate) string { return x.ID })
	if err != nil {
		return pg, err
	}
	pg.Items = values(page(m, f.Page), cloneTemplate)
	if n := len(pg.Items); n > 0 {
		pg.Marker = pg.Items[n-1].ID
	}
	return pg, nil
}

// UpdateTemplate replaces description and body.
func (s *Store) UpdateTemplate(ctx context.Context, t *model.ProvisioningTemplate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findTemplate(t.ProjectID, t.InstanceID, t.ID)
	if x == nil {
		return nf("provisioning template " + t.ID)
	}
	x.Description, x.Body, x.UpdateTime = t.Description, json.RawMessage(string(t.Body)), model.Now()
	*t = cloneTemplate(x)
	return nil
}

// DeleteTemplate removes one template.
func (s *Store) DeleteTemplate(ctx context.Context, projectID, instanceID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !remove(&s.templates, func(x *model.ProvisioningTemplate) bool {
		return x.ID == id && x.ProjectID == projectID && x.InstanceID == instanceID
	}) {
		return nf("provisioning template " + id)
	}
	return nil
}

// ---- device CAs ----

func cloneCA(c *model.DeviceCA) model.DeviceCA {
	cp := *c
	cp.RevokedSerials = slices.Clone(c.RevokedSerials)
	return cp
}

// CreateDeviceCA stores c.
func (s *Store) CreateDeviceCA(ctx context.Context, c *model.DeviceCA) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		c.ID = model.NewHexID(12)
	}
	c.CreateTime = model.Now()
	for _, x := range s.cas {
		if x.ID == c.ID {
			return conflict("device CA " + c.ID)
		}
	}
	cp := cloneCA(c)
	if len(cp.RevokedSerials) == 0 {
		cp.RevokedSerials = nil
	}
	s.cas = append(s.cas, &cp)
	return nil
}

func (s *Store) findCA(projectID, instanceID, id string) *model.DeviceCA {
	for _, x := range s.cas {
		if x.ID == id && x.ProjectID == projectID && x.InstanceID == instanceID {
			return x
		}
	}
	return nil
}

// GetDeviceCA returns one certificate.
func (s *Store) GetDeviceCA(ctx context.Context, projectID, instanceID, id string) (*model.DeviceCA, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findCA(projectID, instanceID, id)
	if x == nil {
		return nil, nf("device CA " + id)
	}
	c := cloneCA(x)
	return &c, nil
}

// ListDeviceCAs lists in creation order (marker, then offset/limit).
func (s *Store) ListDeviceCAs(ctx context.Context, f model.DeviceCAFilter) ([]model.DeviceCA, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := filter(s.cas, func(x *model.DeviceCA) bool {
		return x.ProjectID == f.ProjectID && x.InstanceID == f.InstanceID && (f.AppID == "" || x.AppID == f.AppID)
	})
	total := len(m)
	m, err := afterMarker(m, m, f.Marker, func(x *model.DeviceCA) string { return x.ID })
	if err != nil {
		return nil, 0, err
	}
	return values(page(m, f.Page), cloneCA), total, nil
}

// UpdateDeviceCA changes owner, verification, provisioning and binding.
func (s *Store) UpdateDeviceCA(ctx context.Context, c *model.DeviceCA) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findCA(c.ProjectID, c.InstanceID, c.ID)
	if x == nil {
		return nf("device CA " + c.ID)
	}
	x.Owner, x.Verified, x.VerifyCode, x.ProvisionEnable, x.TemplateID = c.Owner, c.Verified, c.VerifyCode, c.ProvisionEnable, c.TemplateID
	x.RevokedSerials = nil
	if len(c.RevokedSerials) > 0 {
		x.RevokedSerials = slices.Clone(c.RevokedSerials)
	}
	*c = cloneCA(x)
	return nil
}

// DeleteDeviceCA removes one certificate.
func (s *Store) DeleteDeviceCA(ctx context.Context, projectID, instanceID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !remove(&s.cas, func(x *model.DeviceCA) bool {
		return x.ID == id && x.ProjectID == projectID && x.InstanceID == instanceID
	}) {
		return nf("device CA " + id)
	}
	return nil
}
