package sqlcore

import (
	"context"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const productCols = `id, project_id, instance_id, name, description, attributes, tags, created_at, ca_cert_pem, cert_pem, private_key, identifier`

func (s *Store) scanProduct(r Row) (store.Product, error) {
	var p store.Product
	var attrs, tags, key string
	err := r.Scan(&p.ID, &p.ProjectID, &p.InstanceID, &p.Name, &p.Description, &attrs, &tags,
		&p.CreatedAt, &p.CACertPEM, &p.CertPEM, &key, &p.Identifier)
	if err != nil {
		return p, err
	}
	if err := unjs(attrs, &p.Attributes); err != nil {
		return p, err
	}
	if err := unjs(tags, &p.Tags); err != nil {
		return p, err
	}
	p.PrivateKeyPEM, err = s.seal.Open(key)
	return p, err
}

// CreateProduct stores p, filling ID and CreatedAt when empty.
func (s *Store) CreateProduct(ctx context.Context, p *store.Product) (err error) {
	defer s.observe(ctx, "CreateProduct", time.Now(), &err)
	if p.ID == "" {
		p.ID = newUUID()
	}
	if p.CreatedAt == 0 {
		p.CreatedAt = time.Now().Unix()
	}
	key, err := s.seal.Seal(p.PrivateKeyPEM)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO products (`+productCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
		p.ID, p.ProjectID, p.InstanceID, p.Name, p.Description, js(p.Attributes), js(p.Tags),
		p.CreatedAt, p.CACertPEM, p.CertPEM, key, p.Identifier)
	return s.writeErr(err)
}

// GetProduct returns one product of (project, instance).
func (s *Store) GetProduct(ctx context.Context, projectID, instanceID, id string) (_ *store.Product, err error) {
	defer s.observe(ctx, "GetProduct", time.Now(), &err)
	return s.getProduct(ctx, projectID, instanceID, id)
}

func (s *Store) getProduct(ctx context.Context, projectID, instanceID, id string) (*store.Product, error) {
	p, err := s.scanProduct(s.q(ctx).QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1 AND project_id = $2 AND instance_id = $3`,
		id, projectID, instanceID))
	if err != nil {
		return nil, notFound(err, "product "+id)
	}
	return &p, nil
}

// ListProducts returns a page of products and the total number of matches.
func (s *Store) ListProducts(ctx context.Context, f store.ProductFilter) (_ []store.Product, _ int, err error) {
	defer s.observe(ctx, "ListProducts", time.Now(), &err)
	var w where
	w.eq("project_id", f.ProjectID)
	w.eq("instance_id", f.InstanceID)
	total, err := s.total(ctx, f.Page, "products", f.ProjectID, f.InstanceID, "products", &w)
	if err != nil {
		return nil, 0, err
	}
	dir := " ASC"
	if f.SortDesc {
		dir = " DESC"
	}
	order := " ORDER BY created_at" + dir + ", seq" + dir
	if f.SortBy == "name" {
		order = " ORDER BY name" + dir
	}
	q := `SELECT ` + productCols + ` FROM products` + w.sql() + order + pageSQL(&w.args, f.Page)
	out, err := list(ctx, s.q(ctx), q, w.args, s.scanProduct)
	return out, total, err
}

// UpdateProduct changes description, attributes and tags.
func (s *Store) UpdateProduct(ctx context.Context, p *store.Product) (err error) {
	defer s.observe(ctx, "UpdateProduct", time.Now(), &err)
	n, err := s.exec(ctx, `UPDATE products SET description = $1, attributes = $2, tags = $3 WHERE id = $4 AND project_id = $5 AND instance_id = $6`,
		p.Description, js(p.Attributes), js(p.Tags), p.ID, p.ProjectID, p.InstanceID)
	if err := mustAffect(n, err, "product "+p.ID); err != nil {
		return err
	}
	got, err := s.getProduct(ctx, p.ProjectID, p.InstanceID, p.ID)
	if err != nil {
		return err
	}
	*p = *got
	return nil
}

// DeleteProduct removes one product.
func (s *Store) DeleteProduct(ctx context.Context, projectID, instanceID, id string) (err error) {
	defer s.observe(ctx, "DeleteProduct", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM products WHERE id = $1 AND project_id = $2 AND instance_id = $3`, id, projectID, instanceID)
	return mustAffect(n, err, "product "+id)
}
