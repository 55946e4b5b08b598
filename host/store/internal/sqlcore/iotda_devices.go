package sqlcore

import (
	"context"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const iotdaCols = `device_id, project_id, instance_id, node_id, device_name, product_id, tags, policy_ids, created_at`

func scanIoTDA(r Row) (store.IoTDADevice, error) {
	var d store.IoTDADevice
	var tags, pol string
	var ct int64
	if err := r.Scan(&d.DeviceID, &d.ProjectID, &d.InstanceID, &d.NodeID, &d.DeviceName, &d.ProductID, &tags, &pol, &ct); err != nil {
		return d, err
	}
	d.CreatedAt = fromMicro(ct)
	if err := unjs(tags, &d.Tags); err != nil {
		return d, err
	}
	return d, unjs(pol, &d.PolicyIDs)
}

// CreateIoTDADevice stores a provisioned device; ErrConflict when the node
// id exists in (project, instance).
func (s *Store) CreateIoTDADevice(ctx context.Context, d *store.IoTDADevice) (err error) {
	defer s.observe(ctx, "CreateIoTDADevice", time.Now(), &err)
	if d.DeviceID == "" {
		d.DeviceID = d.ProductID + "_" + d.NodeID // IoTDA's default device id form
	}
	d.CreatedAt = now()
	_, err = s.exec(ctx, `INSERT INTO iotda_devices (`+iotdaCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		d.DeviceID, d.ProjectID, d.InstanceID, d.NodeID, d.DeviceName, d.ProductID, js(d.Tags), js(d.PolicyIDs), toMicro(d.CreatedAt))
	return s.writeErr(err)
}

// GetIoTDADevice returns one provisioned device.
func (s *Store) GetIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) (_ *store.IoTDADevice, err error) {
	defer s.observe(ctx, "GetIoTDADevice", time.Now(), &err)
	d, err := scanIoTDA(s.q(ctx).QueryRow(ctx, `SELECT `+iotdaCols+` FROM iotda_devices WHERE device_id = $1 AND project_id = $2 AND instance_id = $3`,
		deviceID, projectID, instanceID))
	if err != nil {
		return nil, notFound(err, "device "+deviceID)
	}
	return &d, nil
}

// ListIoTDADevices lists provisioned devices in creation order.
func (s *Store) ListIoTDADevices(ctx context.Context, f store.IoTDADeviceFilter) (_ []store.IoTDADevice, _ int, err error) {
	defer s.observe(ctx, "ListIoTDADevices", time.Now(), &err)
	var w where
	w.eq("project_id", f.ProjectID)
	w.eq("instance_id", f.InstanceID)
	w.opt("product_id", f.ProductID)
	w.opt("node_id", f.NodeID)
	total, err := s.total(ctx, f.Page, "", "", "", "iotda_devices", &w)
	if err != nil {
		return nil, 0, err
	}
	out, err := list(ctx, s.q(ctx), `SELECT `+iotdaCols+` FROM iotda_devices`+w.sql()+` ORDER BY seq`+pageSQL(&w.args, f.Page), w.args, scanIoTDA)
	return out, total, err
}

// DeleteIoTDADevice removes one provisioned device.
func (s *Store) DeleteIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) (err error) {
	defer s.observe(ctx, "DeleteIoTDADevice", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM iotda_devices WHERE device_id = $1 AND project_id = $2 AND instance_id = $3`, deviceID, projectID, instanceID)
	return mustAffect(n, err, "device "+deviceID)
}
