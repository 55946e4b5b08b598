package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const deviceCols = `asset_id, org_id, product_key, device_key, device_name, timezone, attributes, tags, description, device_secret, created_at, updated_at`

const deviceNCols = 12

func (s *Store) scanDevice(r Row) (store.EnosDevice, error) {
	var d store.EnosDevice
	var name, attrs, tags, secret string
	var ct, ut int64
	err := r.Scan(&d.AssetID, &d.OrgID, &d.ProductKey, &d.DeviceKey, &name, &d.Timezone, &attrs, &tags, &d.Desc, &secret, &ct, &ut)
	if err != nil {
		return d, err
	}
	d.CreatedAt, d.UpdatedAt = fromMicro(ct), fromMicro(ut)
	if err := unjs(name, &d.DeviceName); err != nil {
		return d, err
	}
	if err := unjs(attrs, &d.Attributes); err != nil {
		return d, err
	}
	if err := unjs(tags, &d.Tags); err != nil {
		return d, err
	}
	d.DeviceSecret, err = s.seal.Open(secret)
	return d, err
}

// CreateDevice creates one EnOS device through the batch insert, so a
// single create obeys exactly the batch's rules: ErrConflict when its
// deviceKey exists in the org, *QuotaError when its product is full.
func (s *Store) CreateDevice(ctx context.Context, d *store.EnosDevice) (err error) {
	defer s.observe(ctx, "CreateDevice", time.Now(), &err)
	devs := []store.EnosDevice{*d}
	res, err := s.batchCreateDevices(ctx, d.OrgID, devs)
	if err != nil {
		return err
	}
	if res[0].Status != store.ItemCreated {
		return res[0].Err
	}
	*d = devs[0]
	return nil
}

// BatchCreateDevices creates devices in one transaction and a handful of
// statements whatever the batch size: one count per batch, one lookup of
// existing keys when the quota is near, one INSERT ... ON CONFLICT DO
// NOTHING RETURNING (see insertRows).
// Each item gets its own result; a duplicate or over-quota item does not
// undo the others, and a failure of the transaction leaves none written.
// The transaction is serialised per (org, productKey) so concurrent batches
// on any number of hosts cannot overrun a product's quota. devs are updated
// in place with their generated AssetID/DeviceKey and CreatedAt.
func (s *Store) BatchCreateDevices(ctx context.Context, orgID string, devs []store.EnosDevice) (res []store.ItemResult, err error) {
	defer s.observe(ctx, "BatchCreateDevices", time.Now(), &err)
	res, err = s.batchCreateDevices(ctx, orgID, devs)
	observeItems(ctx, res)
	return res, err
}

func (s *Store) batchCreateDevices(ctx context.Context, orgID string, devs []store.EnosDevice) ([]store.ItemResult, error) {
	res := make([]store.ItemResult, len(devs))
	if len(devs) == 0 { // nothing to write; "IN ()" is a syntax error in PostgreSQL
		return res, nil
	}
	vals := make([][]any, len(devs))
	at := now()
	products := map[string]bool{}
	for i := range devs {
		d := &devs[i]
		d.OrgID = orgID
		if d.AssetID == "" {
			d.AssetID = newKey(10)
		}
		if d.DeviceKey == "" {
			d.DeviceKey = newKey(10)
		}
		d.CreatedAt, d.UpdatedAt = at, time.Time{}
		secret, err := s.seal.Seal(d.DeviceSecret)
		if err != nil {
			return nil, err
		}
		attrs, err := json.Marshal(d.Attributes)
		if err != nil {
			return nil, fmt.Errorf("store: device %d: attributes: %w", i, err)
		}
		vals[i] = []any{d.AssetID, orgID, d.ProductKey, d.DeviceKey, js(d.DeviceName), d.Timezone, string(attrs),
			js(d.Tags), d.Desc, secret, toMicro(at), int64(0)}
		res[i] = store.ItemResult{Index: i, ID: d.AssetID, Key: d.DeviceKey}
		products[d.ProductKey] = true
	}
	locks := make([]string, 0, len(products))
	pks := make([]string, 0, len(products))
	for pk := range products {
		pks = append(pks, pk)
		locks = append(locks, "dev\x1f"+orgID+"\x1f"+pk)
	}
	limit := s.limits.DevicesPerProduct
	err := s.tx(ctx, locks, func(q Querier) error {
		counts, err := s.deviceCounts(ctx, q, orgID, pks)
		if err != nil {
			return err
		}
		// When every product has room for all the batch's distinct keys, no
		// item can meet the quota, so which keys exist need not be known
		// first: the INSERT skips them and they are reported as conflicts
		// below. That saves a lookup of the whole batch.
		existing := map[string]bool{}
		distinct := map[string]int{}
		for i := range devs {
			if d := &devs[i]; !existing[d.DeviceKey] {
				existing[d.DeviceKey] = true
				distinct[d.ProductKey]++
			}
		}
		clear(existing)
		for pk, n := range distinct {
			if counts[pk]+n > limit {
				if existing, err = s.existingKeys(ctx, q, orgID, devs); err != nil {
					return err
				}
				break
			}
		}
		var ins []int
		for i := range devs {
			d := &devs[i]
			switch {
			case existing[d.DeviceKey]:
				res[i].Status = store.ItemConflict
			case counts[d.ProductKey] >= limit:
				res[i].Status = store.ItemQuota
			default:
				existing[d.DeviceKey] = true // a later duplicate in the same batch conflicts
				counts[d.ProductKey]++
				res[i].Status = store.ItemCreated
				ins = append(ins, i)
			}
		}
		// Insert in deviceKey order so that two transactions racing for the
		// same keys (different products) wait for each other in the same
		// order instead of deadlocking.
		sort.Slice(ins, func(a, b int) bool { return devs[ins[a]].DeviceKey < devs[ins[b]].DeviceKey })
		inserted, err := s.insertRows(ctx, q, "devices", deviceCols, deviceNCols, "asset_id", ins, vals)
		if err != nil {
			return err
		}
		for _, i := range ins {
			if !inserted[devs[i].AssetID] { // the key exists, or was taken meanwhile by a batch of another product
				res[i].Status = store.ItemConflict
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range res {
		switch res[i].Status {
		case store.ItemConflict:
			res[i].Err = fmt.Errorf("%w: deviceKey %q exists in org %s", store.ErrConflict, res[i].Key, orgID)
		case store.ItemQuota:
			res[i].Err = &store.QuotaError{Quota: store.QuotaDevicesPerProduct, Limit: limit, Scope: orgID + "/" + devs[i].ProductKey}
		}
	}
	return res, nil
}

// deviceCounts reads the products' device counters (one seek each, not a
// count of their devices).
func (s *Store) deviceCounts(ctx context.Context, q Querier, orgID string, pks []string) (map[string]int, error) {
	var a args
	sql := `SELECT k2, CAST(sum(n) AS BIGINT) FROM row_counts WHERE tbl = 'devices' AND k1 = ` + a.add(orgID) + ` AND k2 IN ` + a.in(pks) + ` GROUP BY k2`
	rows, err := q.Query(ctx, sql, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var pk string
		var n int64
		if err := rows.Scan(&pk, &n); err != nil {
			return nil, err
		}
		out[pk] = int(n)
	}
	return out, rows.Err()
}

func (s *Store) existingKeys(ctx context.Context, q Querier, orgID string, devs []store.EnosDevice) (map[string]bool, error) {
	out := map[string]bool{}
	chunk := s.db.MaxParams() - 1
	for lo := 0; lo < len(devs); lo += chunk {
		hi := min(lo+chunk, len(devs))
		keys := make([]string, 0, hi-lo)
		for _, d := range devs[lo:hi] {
			keys = append(keys, d.DeviceKey)
		}
		var a args
		rows, err := q.Query(ctx, `SELECT device_key FROM devices WHERE org_id = `+a.add(orgID)+` AND device_key IN `+a.in(keys), a...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, err
			}
			out[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertRows inserts vals[i] for i in idx, in that order, ON CONFLICT DO
// NOTHING and returns the idCol values actually inserted: through the DB's
// RowInserter when it has one, else with multi-row INSERTs of as few
// statements as the parameter limit allows.
func (s *Store) insertRows(ctx context.Context, q Querier, table, cols string, ncols int, idCol string, idx []int, vals [][]any) (map[string]bool, error) {
	if len(idx) == 0 {
		return map[string]bool{}, nil
	}
	if ri, ok := s.db.(RowInserter); ok {
		rows := make([][]any, len(idx))
		for k, i := range idx {
			rows[k] = vals[i]
		}
		return ri.InsertRows(ctx, q, table, splitCols(cols), idCol, rows)
	}
	inserted := make(map[string]bool, len(idx))
	per := s.db.MaxParams() / ncols
	for lo := 0; lo < len(idx); lo += per {
		hi := min(lo+per, len(idx))
		var a args
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		for k, i := range idx[lo:hi] {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for c, v := range vals[i] {
				if c > 0 {
					b.WriteByte(',')
				}
				b.WriteString(a.add(v))
			}
			b.WriteByte(')')
		}
		b.WriteString(" ON CONFLICT DO NOTHING RETURNING " + idCol)
		if err := scanIDs(ctx, q, b.String(), a, inserted); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// splitCols splits a column list such as deviceCols into names.
func splitCols(cols string) []string {
	out := strings.Split(cols, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// scanIDs adds the single string column of every row of the query to ids.
func scanIDs(ctx context.Context, q Querier, sql string, a []any, ids map[string]bool) error {
	rows, err := q.Query(ctx, sql, a...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids[id] = true
	}
	return rows.Err()
}

// GetDevice returns a device of the org by assetId.
func (s *Store) GetDevice(ctx context.Context, orgID, assetID string) (_ *store.EnosDevice, err error) {
	defer s.observe(ctx, "GetDevice", time.Now(), &err)
	return s.getDevice(ctx, orgID, assetID)
}

func (s *Store) getDevice(ctx context.Context, orgID, assetID string) (*store.EnosDevice, error) {
	d, err := s.scanDevice(s.q(ctx).QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE asset_id = $1 AND org_id = $2`, assetID, orgID))
	if err != nil {
		return nil, notFound(err, "device "+assetID)
	}
	return &d, nil
}

// GetDeviceByKey returns a device of the org by deviceKey.
func (s *Store) GetDeviceByKey(ctx context.Context, orgID, deviceKey string) (_ *store.EnosDevice, err error) {
	defer s.observe(ctx, "GetDeviceByKey", time.Now(), &err)
	d, err := s.scanDevice(s.q(ctx).QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE device_key = $1 AND org_id = $2`, deviceKey, orgID))
	if err != nil {
		return nil, notFound(err, "deviceKey "+deviceKey)
	}
	return &d, nil
}

// ListDevices lists devices of an org in creation order.
func (s *Store) ListDevices(ctx context.Context, f store.DeviceFilter) (_ []store.EnosDevice, _ int, err error) {
	defer s.observe(ctx, "ListDevices", time.Now(), &err)
	var w where
	w.eq("org_id", f.OrgID)
	w.opt("product_key", f.ProductKey)
	var total int
	switch {
	case f.Page.NoTotal:
	case f.ProductKey != "":
		total, err = counted(ctx, s.q(ctx), "devices", f.OrgID, f.ProductKey)
	default:
		// The sum of the org's product counters: one index entry per
		// product, however many devices.
		total, err = s.count(ctx, s.q(ctx), `SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM row_counts WHERE tbl = 'devices' AND k1 = $1`, []any{f.OrgID})
	}
	if err != nil {
		return nil, 0, err
	}
	order := ` ORDER BY seq`
	if f.Desc {
		order += ` DESC`
	}
	out, err := list(ctx, s.q(ctx), `SELECT `+deviceCols+` FROM devices`+w.sql()+order+pageSQL(&w.args, f.Page), w.args, s.scanDevice)
	return out, total, err
}

// UpdateDevice changes name, timezone, attributes, tags and description.
func (s *Store) UpdateDevice(ctx context.Context, d *store.EnosDevice) (err error) {
	defer s.observe(ctx, "UpdateDevice", time.Now(), &err)
	attrs, err := json.Marshal(d.Attributes)
	if err != nil {
		return fmt.Errorf("store: device attributes: %w", err)
	}
	n, err := s.exec(ctx, `UPDATE devices SET device_name = $1, timezone = $2, attributes = $3, tags = $4, description = $5, updated_at = $6
WHERE asset_id = $7 AND org_id = $8`,
		js(d.DeviceName), d.Timezone, string(attrs), js(d.Tags), d.Desc, toMicro(now()), d.AssetID, d.OrgID)
	if err := mustAffect(n, err, "device "+d.AssetID); err != nil {
		return err
	}
	got, err := s.getDevice(ctx, d.OrgID, d.AssetID)
	if err != nil {
		return err
	}
	*d = *got
	return nil
}

// DeleteDevice removes a device by assetId.
func (s *Store) DeleteDevice(ctx context.Context, orgID, assetID string) (err error) {
	defer s.observe(ctx, "DeleteDevice", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM devices WHERE asset_id = $1 AND org_id = $2`, assetID, orgID)
	return mustAffect(n, err, "device "+assetID)
}
