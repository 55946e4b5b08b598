package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const templateCols = `id, project_id, instance_id, name, description, body, create_time, update_time`

func scanTemplate(r Row) (store.ProvisioningTemplate, error) {
	var t store.ProvisioningTemplate
	var body string
	var ct, ut int64
	err := r.Scan(&t.ID, &t.ProjectID, &t.InstanceID, &t.Name, &t.Description, &body, &ct, &ut)
	t.Body = json.RawMessage(body)
	t.CreateTime, t.UpdateTime = fromMicro(ct), fromMicro(ut)
	return t, err
}

// CreateTemplate stores t. The count and the insert happen in one
// transaction serialised per (project, instance), so concurrent creates on
// any number of hosts never exceed the quota.
func (s *Store) CreateTemplate(ctx context.Context, t *store.ProvisioningTemplate) (err error) {
	defer s.observe(ctx, "CreateTemplate", time.Now(), &err)
	if t.ID == "" {
		t.ID = newHexID(12)
	}
	at := now()
	t.CreateTime, t.UpdateTime = at, at
	limit := s.limits.TemplatesPerInstance
	lock := "tpl\x1f" + t.ProjectID + "\x1f" + t.InstanceID
	err = s.tx(ctx, []string{lock}, func(q Querier) error {
		n, err := s.count(ctx, q, `SELECT count(*) FROM templates WHERE project_id = $1 AND instance_id = $2`,
			[]any{t.ProjectID, t.InstanceID})
		if err != nil {
			return err
		}
		if n >= limit {
			return &store.QuotaError{Quota: store.QuotaTemplatesPerInstance, Limit: limit, Scope: t.ProjectID + "/" + t.InstanceID}
		}
		_, err = q.Exec(ctx, `INSERT INTO templates (`+templateCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
			t.ID, t.ProjectID, t.InstanceID, t.Name, t.Description, string(t.Body), toMicro(at), toMicro(at))
		return err
	})
	return s.writeErr(err)
}

// GetTemplate returns one template of (project, instance).
func (s *Store) GetTemplate(ctx context.Context, projectID, instanceID, id string) (_ *store.ProvisioningTemplate, err error) {
	defer s.observe(ctx, "GetTemplate", time.Now(), &err)
	return s.getTemplate(ctx, projectID, instanceID, id)
}

func (s *Store) getTemplate(ctx context.Context, projectID, instanceID, id string) (*store.ProvisioningTemplate, error) {
	t, err := scanTemplate(s.q(ctx).QueryRow(ctx, `SELECT `+templateCols+` FROM templates WHERE id = $1 AND project_id = $2 AND instance_id = $3`,
		id, projectID, instanceID))
	if err != nil {
		return nil, notFound(err, "provisioning template "+id)
	}
	return &t, nil
}

// markerSeq resolves an IoTDA marker (an id) to its creation sequence.
func (s *Store) markerSeq(ctx context.Context, table, marker, projectID, instanceID string) (int64, error) {
	var seq int64
	err := s.q(ctx).QueryRow(ctx, `SELECT seq FROM `+table+` WHERE id = $1 AND project_id = $2 AND instance_id = $3`,
		marker, projectID, instanceID).Scan(&seq)
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("marker %q", marker))
	}
	return seq, nil
}

// ListTemplates lists in creation order, after Marker if set, then applies
// offset/limit. Total ignores marker and paging.
func (s *Store) ListTemplates(ctx context.Context, f store.TemplateFilter) (_ store.TemplatePage, err error) {
	defer s.observe(ctx, "ListTemplates", time.Now(), &err)
	var pg store.TemplatePage
	var w where
	w.eq("project_id", f.ProjectID)
	w.eq("instance_id", f.InstanceID)
	w.opt("name", f.Name)
	total, err := s.count(ctx, s.q(ctx), `SELECT count(*) FROM templates`+w.sql(), w.args)
	if err != nil {
		return pg, err
	}
	pg.Total = total
	if f.Marker != "" {
		seq, err := s.markerSeq(ctx, "templates", f.Marker, f.ProjectID, f.InstanceID)
		if err != nil {
			return pg, err
		}
		w.conds = append(w.conds, "seq > "+w.add(seq))
	}
	q := `SELECT ` + templateCols + ` FROM templates` + w.sql() + ` ORDER BY seq` + pageSQL(&w.args, f.Page)
	pg.Items, err = list(ctx, s.q(ctx), q, w.args, scanTemplate)
	if n := len(pg.Items); n > 0 {
		pg.Marker = pg.Items[n-1].ID
	}
	return pg, err
}

// UpdateTemplate replaces description and body (the IoTDA PUT) and reads
// the stored template back into t.
func (s *Store) UpdateTemplate(ctx context.Context, t *store.ProvisioningTemplate) (err error) {
	defer s.observe(ctx, "UpdateTemplate", time.Now(), &err)
	n, err := s.exec(ctx, `UPDATE templates SET description = $1, body = $2, update_time = $3 WHERE id = $4 AND project_id = $5 AND instance_id = $6`,
		t.Description, string(t.Body), toMicro(now()), t.ID, t.ProjectID, t.InstanceID)
	if err := mustAffect(n, err, "provisioning template "+t.ID); err != nil {
		return err
	}
	got, err := s.getTemplate(ctx, t.ProjectID, t.InstanceID, t.ID)
	if err != nil {
		return err
	}
	*t = *got
	return nil
}

// DeleteTemplate removes one template.
func (s *Store) DeleteTemplate(ctx context.Context, projectID, instanceID, id string) (err error) {
	defer s.observe(ctx, "DeleteTemplate", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM templates WHERE id = $1 AND project_id = $2 AND instance_id = $3`, id, projectID, instanceID)
	return mustAffect(n, err, "provisioning template "+id)
}
