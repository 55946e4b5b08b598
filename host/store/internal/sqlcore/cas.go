package sqlcore

import (
	"context"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const caCols = `id, project_id, instance_id, cert_pem, common_name, owner, verified, verify_code, provision_enable, template_id, create_time, app_id, revoked_serials`

func scanCA(r Row) (store.DeviceCA, error) {
	var c store.DeviceCA
	var ct int64
	var revoked string
	if err := r.Scan(&c.ID, &c.ProjectID, &c.InstanceID, &c.CertPEM, &c.CommonName, &c.Owner, &c.Verified,
		&c.VerifyCode, &c.ProvisionEnable, &c.TemplateID, &ct, &c.AppID, &revoked); err != nil {
		return c, err
	}
	c.CreateTime = fromMicro(ct)
	if err := unjs(revoked, &c.RevokedSerials); err != nil {
		return c, err
	}
	if len(c.RevokedSerials) == 0 {
		c.RevokedSerials = nil // one form for "none" across adapters
	}
	return c, nil
}

// CreateDeviceCA stores c, filling ID and CreateTime.
func (s *Store) CreateDeviceCA(ctx context.Context, c *store.DeviceCA) (err error) {
	defer s.observe(ctx, "CreateDeviceCA", time.Now(), &err)
	if c.ID == "" {
		c.ID = newHexID(12)
	}
	c.CreateTime = now()
	_, err = s.exec(ctx, `INSERT INTO device_cas (`+caCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		c.ID, c.ProjectID, c.InstanceID, c.CertPEM, c.CommonName, c.Owner, c.Verified, c.VerifyCode,
		c.ProvisionEnable, c.TemplateID, toMicro(c.CreateTime), c.AppID, serials(c.RevokedSerials))
	return s.writeErr(err)
}

// GetDeviceCA returns one certificate of (project, instance).
func (s *Store) GetDeviceCA(ctx context.Context, projectID, instanceID, id string) (_ *store.DeviceCA, err error) {
	defer s.observe(ctx, "GetDeviceCA", time.Now(), &err)
	return s.getDeviceCA(ctx, projectID, instanceID, id)
}

func (s *Store) getDeviceCA(ctx context.Context, projectID, instanceID, id string) (*store.DeviceCA, error) {
	c, err := scanCA(s.q(ctx).QueryRow(ctx, `SELECT `+caCols+` FROM device_cas WHERE id = $1 AND project_id = $2 AND instance_id = $3`,
		id, projectID, instanceID))
	if err != nil {
		return nil, notFound(err, "device CA "+id)
	}
	return &c, nil
}

// ListDeviceCAs lists in creation order (marker, then offset/limit).
func (s *Store) ListDeviceCAs(ctx context.Context, f store.DeviceCAFilter) (_ []store.DeviceCA, _ int, err error) {
	defer s.observe(ctx, "ListDeviceCAs", time.Now(), &err)
	var w where
	w.eq("project_id", f.ProjectID)
	w.eq("instance_id", f.InstanceID)
	w.opt("app_id", f.AppID)
	w.opt("common_name", f.CommonName)
	w.opt("cert_pem", f.CertPEM)
	w.opt("template_id", f.TemplateID)
	tbl := ""
	if f.AppID == "" && f.CommonName == "" && f.CertPEM == "" && f.TemplateID == "" {
		tbl = "device_cas"
	}
	total, err := s.total(ctx, f.Page, tbl, f.ProjectID, f.InstanceID, "device_cas", &w)
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
	out, err := list(ctx, s.q(ctx), `SELECT `+caCols+` FROM device_cas`+w.sql()+` ORDER BY seq`+pageSQL(&w.args, f.Page), w.args, scanCA)
	return out, total, err
}

// UpdateDeviceCA changes owner, verification, provisioning, template
// binding and revoked serials.
func (s *Store) UpdateDeviceCA(ctx context.Context, c *store.DeviceCA) (err error) {
	defer s.observe(ctx, "UpdateDeviceCA", time.Now(), &err)
	n, err := s.exec(ctx, `UPDATE device_cas SET owner = $1, verified = $2, verify_code = $3, provision_enable = $4, template_id = $5,
revoked_serials = $6 WHERE id = $7 AND project_id = $8 AND instance_id = $9`,
		c.Owner, c.Verified, c.VerifyCode, c.ProvisionEnable, c.TemplateID, serials(c.RevokedSerials), c.ID, c.ProjectID, c.InstanceID)
	if err := mustAffect(n, err, "device CA "+c.ID); err != nil {
		return err
	}
	got, err := s.getDeviceCA(ctx, c.ProjectID, c.InstanceID, c.ID)
	if err != nil {
		return err
	}
	*c = *got
	return nil
}

// DeleteDeviceCA removes one certificate.
func (s *Store) DeleteDeviceCA(ctx context.Context, projectID, instanceID, id string) (err error) {
	defer s.observe(ctx, "DeleteDeviceCA", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM device_cas WHERE id = $1 AND project_id = $2 AND instance_id = $3`, id, projectID, instanceID)
	return mustAffect(n, err, "device CA "+id)
}

// serials stores a nil list as [] (the column default), not null.
func serials(v []string) string {
	if v == nil {
		return "[]"
	}
	return js(v)
}
