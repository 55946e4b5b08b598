package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// CreateEnOSProduct registers a product key in an org.
func (s *Store) CreateEnOSProduct(ctx context.Context, p *store.EnosProduct) (err error) {
	defer s.observe(ctx, "CreateEnOSProduct", time.Now(), &err)
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	p.CreatedAt = norm(p.CreatedAt)
	_, err = s.exec(ctx, `INSERT INTO enos_products (org_id, product_key, name, created_at) VALUES ($1,$2,$3,$4)`,
		p.OrgID, p.ProductKey, p.Name, toMicro(p.CreatedAt))
	return s.writeErr(err)
}

func scanEnOSProduct(r Row) (store.EnosProduct, error) {
	var p store.EnosProduct
	var ct int64
	err := r.Scan(&p.OrgID, &p.ProductKey, &p.Name, &ct)
	p.CreatedAt = fromMicro(ct)
	return p, err
}

// GetEnOSProduct returns one product of the org.
func (s *Store) GetEnOSProduct(ctx context.Context, orgID, productKey string) (_ *store.EnosProduct, err error) {
	defer s.observe(ctx, "GetEnOSProduct", time.Now(), &err)
	p, err := scanEnOSProduct(s.q(ctx).QueryRow(ctx, `SELECT org_id, product_key, name, created_at FROM enos_products WHERE org_id = $1 AND product_key = $2`,
		orgID, productKey))
	if err != nil {
		return nil, notFound(err, "product "+productKey)
	}
	return &p, nil
}

// ListEnOSProducts pages the org's products in product key order.
func (s *Store) ListEnOSProducts(ctx context.Context, f store.EnosProductFilter) (_ []store.EnosProduct, _ int, err error) {
	defer s.observe(ctx, "ListEnOSProducts", time.Now(), &err)
	if f.ProductKeys != nil && len(f.ProductKeys) == 0 {
		return nil, 0, nil // "IN ()" is a syntax error in PostgreSQL
	}
	var a args
	where := ` FROM enos_products WHERE org_id = ` + a.add(f.OrgID)
	if f.ProductKeys != nil {
		where += ` AND product_key IN ` + a.in(f.ProductKeys)
	}
	q := s.q(ctx)
	total := 0
	if !f.NoTotal {
		var err error
		if total, err = s.count(ctx, q, `SELECT count(*)`+where, a); err != nil {
			return nil, 0, err
		}
	}
	sql := `SELECT org_id, product_key, name, created_at` + where + ` ORDER BY product_key` + pageSQL(&a, f.Page)
	out, err := list(ctx, q, sql, a, scanEnOSProduct)
	return out, total, err
}

// DeleteEnOSProduct removes a product that has no devices. It takes the
// lock device batches of the product take, so no batch adds a device to it
// while it goes.
func (s *Store) DeleteEnOSProduct(ctx context.Context, orgID, productKey string) (err error) {
	defer s.observe(ctx, "DeleteEnOSProduct", time.Now(), &err)
	return s.tx(ctx, []string{"dev\x1f" + orgID + "\x1f" + productKey}, func(q Querier) error {
		// The product's device counter (row_counts), kept exact by the
		// triggers inside this transaction: one seek, not up to 10,000.
		n, err := counted(ctx, q, "devices", orgID, productKey)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: product %s of org %s has %d devices", store.ErrConflict, productKey, orgID, n)
		}
		tag, err := q.Exec(ctx, `DELETE FROM enos_products WHERE org_id = $1 AND product_key = $2`, orgID, productKey)
		if err != nil {
			return err
		}
		return mustAffect(tag, nil, "product "+productKey)
	})
}
