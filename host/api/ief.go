package api

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"

	"github.com/onboardhq/onboard/host/pki"
	"github.com/onboardhq/onboard/host/store"
)

// IEF products (batch node registration jobs): /v2/{project_id}/productmgr/products.
// Creating one mints real material: a per-project CA (created once, shared
// by every host on the same database), a product certificate signed by it,
// its private key, the .tar.gz package of the three, and an identifier.

func init() {
	register("ief.product.create", (*Server).createProduct)
	register("ief.product.list", (*Server).listProducts)
	register("ief.product.show", (*Server).showProduct)
	register("ief.product.delete", (*Server).deleteProduct)
}

const iefInstanceHeader = "ief-instance-id"

type productRequest struct {
	Product struct {
		Name        string                            `json:"name"`
		Description string                            `json:"description"`
		Attributes  map[string]store.ProductAttribute `json:"attributes"`
		Tags        []store.Tag                       `json:"tags"`
	} `json:"product"`
}

// iefTag omits absent members: Table 7 makes both optional, and an empty
// string would break their 1-character minimum.
type iefTag struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

type productJSON struct {
	ID          string                            `json:"id"`
	Name        string                            `json:"name"`
	Description string                            `json:"description"`
	Attributes  map[string]store.ProductAttribute `json:"attributes"`
	ProjectID   string                            `json:"project_id"`
	CreatedAt   int64                             `json:"created_at"`
	Tags        []iefTag                          `json:"tags"`
	// Secret material: returned by create only.
	PrivateKey  string `json:"private_key,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	CA          string `json:"ca,omitempty"`
	Package     string `json:"package,omitempty"`
	Identifier  string `json:"identifier,omitempty"`
}

func productOut(p *store.Product) productJSON {
	out := productJSON{ID: p.ID, Name: p.Name, Description: p.Description, Attributes: p.Attributes,
		ProjectID: p.ProjectID, CreatedAt: p.CreatedAt, Tags: []iefTag{}}
	if out.Attributes == nil {
		out.Attributes = map[string]store.ProductAttribute{}
	}
	for _, tg := range p.Tags {
		out.Tags = append(out.Tags, iefTag(tg))
	}
	return out
}

// newUUID returns a random RFC 4122 version 4 UUID, the form of IEF ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Server) projectCA(c *call) (*pki.CA, error) {
	certPEM, keyPEM, err := s.cfg.Store.GetOrCreateProjectCA(c.r.Context(), c.project, func() (string, string, error) {
		ca, err := pki.GenerateCA(c.project, s.cfg.Now())
		if err != nil {
			return "", "", err
		}
		return string(ca.CertPEM), string(ca.KeyPEM), nil
	})
	if err != nil {
		return nil, fmt.Errorf("project CA: %w", err)
	}
	return pki.LoadCA([]byte(certPEM), []byte(keyPEM))
}

func (s *Server) createProduct(c *call) error {
	var req productRequest
	if err := c.request(&req); err != nil {
		return err
	}
	ca, err := s.projectCA(c)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	id := newUUID()
	m, err := ca.IssueProduct(id, req.Product.Name, now)
	if err != nil {
		return fmt.Errorf("issue product certificate: %w", err)
	}
	p := &store.Product{ID: id, ProjectID: c.project, InstanceID: c.header(iefInstanceHeader),
		Name: req.Product.Name, Description: req.Product.Description, Attributes: req.Product.Attributes,
		Tags: req.Product.Tags, CreatedAt: now.Unix(), CACertPEM: string(m.CAPEM), CertPEM: string(m.CertPEM),
		PrivateKeyPEM: string(m.KeyPEM), Identifier: m.Identifier}
	if err := s.cfg.Store.CreateProduct(c.r.Context(), p); err != nil {
		return storeError(c.svc, err, fmt.Sprintf("product %q", p.Name))
	}
	out := productOut(p)
	out.PrivateKey, out.Certificate, out.CA = string(m.KeyPEM), string(m.CertPEM), string(m.CAPEM)
	out.Package, out.Identifier = m.Package, m.Identifier
	return c.reply(http.StatusCreated, map[string]any{"product": out})
}

func (s *Server) listProducts(c *call) error {
	f := store.ProductFilter{ProjectID: c.project, InstanceID: c.header(iefInstanceHeader), Page: c.page(1000)}
	// sort: "created_at:desc" style (field, optional direction).
	if v := c.query("sort"); v != "" {
		field, dir, _ := strings.Cut(v, ":")
		f.SortBy, f.SortDesc = field, dir == "desc"
	}
	items, total, err := s.cfg.Store.ListProducts(c.r.Context(), f)
	if err != nil {
		return storeError(c.svc, err, "products")
	}
	out := make([]productJSON, 0, len(items))
	for i := range items {
		out = append(out, productOut(&items[i]))
	}
	return c.reply(http.StatusOK, map[string]any{"products": out, "count": total})
}

func (s *Server) showProduct(c *call) error {
	id := c.r.PathValue("product_id")
	p, err := s.cfg.Store.GetProduct(c.r.Context(), c.project, c.header(iefInstanceHeader), id)
	if err != nil {
		return storeError(c.svc, err, "product "+id)
	}
	return c.reply(http.StatusOK, map[string]any{"product": productOut(p)})
}

func (s *Server) deleteProduct(c *call) error {
	id := c.r.PathValue("product_id")
	if err := s.cfg.Store.DeleteProduct(c.r.Context(), c.project, c.header(iefInstanceHeader), id); err != nil {
		return storeError(c.svc, err, "product "+id)
	}
	return c.reply(http.StatusNoContent, nil)
}
