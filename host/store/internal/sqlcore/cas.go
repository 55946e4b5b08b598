package sqlcore

import (
	"context"

	"github.com/onboardhq/onboard/host/store/internal/model"
)

const caCols = `id, project_id, instance_id, cert_pem, common_name, owner, verified, verify_code, provision_enable, template_id, create_time`

func scanCA(r Row) (model.DeviceCA, error) {
	var c model.DeviceCA
	var ct int64
	err := r.Scan(&c.ID, &c.ProjectID, &c.InstanceID, &c.CertPEM, &c.CommonName, &c.Owner, &c.Verified,
		&c.VerifyCode, &c.ProvisionEnable, &c.TemplateID, &ct)
	c.CreateTime = model.FromMicro(ct)
	return c, err
}

// CreateDeviceCA stores c, filling ID and CreateTime.
func (s *Store) CreateDeviceCA(ctx context.Context, c *model.DeviceCA) error {
	if c.ID == "" {
		c.ID = model.NewHexID(12)
	}
	c.CreateTime = model.Now()
	_, err := s.db.Exec(ctx, `INSERT INTO device_cas (`+caCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		c.ID, c.ProjectID, c.InstanceID, c.CertPEM, c.CommonName, c.Owner, c.Verified, c.VerifyCode,
		c.ProvisionEnable, c.TemplateID, model.ToMicro(c.CreateTime))
	return s.writeErr(err)
}

// GetDeviceCA returns one certificate of (project, instance).
func (s *Store) GetDeviceCA(ctx context.Context, projectID, instanceID, id string) (*model.DeviceCA, error) {
	c, err := scanCA(s.db.QueryRow(ctx, `SELECT `+caCols+` FROM device_cas WHERE id = $1 AND project_id = $2 AND instance_id = $3`,
		id, projectID, instanceID))
	if err != nil {
		return nil, notFound(err, "device CA "+id)
	}
	return &c, nil
}

// ListDeviceCAs lists in creation order (marker, then offset/limit).
func (s *Store) ListDeviceCAs(ctx context.Context, f model.DeviceCAFilter) ([]model.DeviceCA, int, error) {
	var w where
	w.eq("project_id", f.ProjectID)
	w.eq("instance_id", f.InstanceID)
	total, err := s.count(ctx, s.db, `SELECT count(*) FROM device_cas`+w.sql(), w.args)
	if err != nil {
		return nil, 0, err
	}
	if f.Marker != "" {
		seq, err := s.markerSeq(ctx, "device_cas", f.Marker, f.ProjectID, f.InstanceID)
		if err != nil {
			return nil, 0, err
		}
		w.conds = append(w.conds, "seq > "+w.add(seq))
	}
	out, err := list(ctx, s.db, `SELECT `+caCols+` FROM device_cas`+w.sql()+` ORDER BY seq`+pageSQL(&w.args, f.Page), w.args, scanCA)
	return out, total, err
}

// UpdateDeviceCA changes owner, verification, provisioning and template binding.
func (s *Store) UpdateDeviceCA(ctx context.Context, c *model.DeviceCA) error {
	n, err := s.db.Exec(ctx, `UPDATE device_cas SET owner = $1, verified = $2, verify_code = $3, provision_enable = $4, template_id = $5
WHERE id = $6 AND project_id = $7 AND instance_id = $8`,
		c.Owner, c.Verified, c.VerifyCode, c.ProvisionEnable, c.TemplateID, c.ID, c.ProjectID, c.InstanceID)
	if err := mustAffect(n, err, "device CA "+c.ID); err != nil {
		return err
	}
	got, err := s.GetDeviceCA(ctx, c.ProjectID, c.InstanceID, c.ID)
	if err != nil {
		return err
	}
	*c = *got
	return nil
}

// DeleteDeviceCA removes one certificate.
func (s *Store) DeleteDeviceCA(ctx context.Context, projectID, instanceID, id string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM device_cas WHERE id = $1 AND project_id = $2 AND instance_id = $3`, id, projectID, instanceID)
	return mustAffect(n, err, "device CA "+id)
}
