package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/onboardhq/onboard/host/store/internal/model"
)

// ---- EnOS devices ----

func cloneDevice(d *model.EnosDevice) model.EnosDevice {
	c := *d
	c.DeviceName = jcopy(d.DeviceName)
	c.Attributes = jcopy(d.Attributes)
	c.Tags = jcopy(d.Tags)
	return c
}

// CreateDevice creates one device (ErrConflict / *QuotaError).
func (s *Store) CreateDevice(ctx context.Context, d *model.EnosDevice) error {
	return model.CreateDeviceVia(ctx, d, s.BatchCreateDevices)
}

// BatchCreateDevices creates devices with per-item results, atomically
// with respect to other writers (one lock for the whole batch).
func (s *Store) BatchCreateDevices(ctx context.Context, orgID string, devs []model.EnosDevice) ([]model.ItemResult, error) {
	for i := range devs { // reject unencodable attributes before writing anything, as the SQL adapters do
		if _, err := json.Marshal(devs[i].Attributes); err != nil {
			return nil, fmt.Errorf("store: device %d: attributes: %w", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := model.Now()
	limit := s.limits.DevicesPerProduct
	res := make([]model.ItemResult, len(devs))
	for i := range devs {
		d := &devs[i]
		d.OrgID = orgID
		if d.AssetID == "" {
			d.AssetID = model.NewKey(10)
		}
		if d.DeviceKey == "" {
			d.DeviceKey = model.NewKey(10)
		}
		d.CreatedAt, d.UpdatedAt = now, time.Time{}
		res[i] = model.ItemResult{Index: i, ID: d.AssetID, Key: d.DeviceKey}
		ck := k(orgID, d.ProductKey)
		switch {
		case s.devKeys[k(orgID, d.DeviceKey)] || slices.ContainsFunc(s.devices, func(x *model.EnosDevice) bool { return x.AssetID == d.AssetID }):
			res[i].Status = model.ItemConflict
			res[i].Err = fmt.Errorf("%w: deviceKey %q exists in org %s", model.ErrConflict, d.DeviceKey, orgID)
		case s.devCount[ck] >= limit:
			res[i].Status = model.ItemQuota
			res[i].Err = &model.QuotaError{Quota: model.QuotaDevicesPerProduct, Limit: limit, Scope: orgID + "/" + d.ProductKey}
		default:
			res[i].Status = model.ItemCreated
			s.devKeys[k(orgID, d.DeviceKey)] = true
			s.devCount[ck]++
			c := cloneDevice(d)
			s.devices = append(s.devices, &c)
		}
	}
	return res, nil
}

func (s *Store) findDevice(match func(*model.EnosDevice) bool) *model.EnosDevice {
	i := slices.IndexFunc(s.devices, match)
	if i < 0 {
		return nil
	}
	return s.devices[i]
}

// GetDevice returns a device of the org by assetId.
func (s *Store) GetDevice(ctx context.Context, orgID, assetID string) (*model.EnosDevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findDevice(func(x *model.EnosDevice) bool { return x.AssetID == assetID && x.OrgID == orgID })
	if x == nil {
		return nil, nf("device " + assetID)
	}
	c := cloneDevice(x)
	return &c, nil
}

// GetDeviceByKey returns a device of the org by deviceKey.
func (s *Store) GetDeviceByKey(ctx context.Context, orgID, deviceKey string) (*model.EnosDevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findDevice(func(x *model.EnosDevice) bool { return x.DeviceKey == deviceKey && x.OrgID == orgID })
	if x == nil {
		return nil, nf("deviceKey " + deviceKey)
	}
	c := cloneDevice(x)
	return &c, nil
}

// ListDevices lists devices of an org in creation order.
func (s *Store) ListDevices(ctx context.Context, f model.DeviceFilter) ([]model.EnosDevice, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := filter(s.devices, func(x *model.EnosDevice) bool {
		return x.OrgID == f.OrgID && (f.ProductKey == "" || x.ProductKey == f.ProductKey)
	})
	return values(page(m, f.Page), cloneDevice), len(m), nil
}

// UpdateDevice changes name, timezone, attributes, tags and description.
func (s *Store) UpdateDevice(ctx context.Context, d *model.EnosDevice) error {
	if _, err := json.Marshal(d.Attributes); err != nil {
		return fmt.Errorf("store: device attributes: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findDevice(func(x *model.EnosDevice) bool { return x.AssetID == d.AssetID && x.OrgID == d.OrgID })
	if x == nil {
		return nf("device " + d.AssetID)
	}
	x.DeviceName, x.Timezone, x.Attributes, x.Tags, x.Desc = jcopy(d.DeviceName), d.Timezone, jcopy(d.Attributes), jcopy(d.Tags), d.Desc
	x.UpdatedAt = model.Now()
	*d = cloneDevice(x)
	return nil
}

// DeleteDevice removes a device by assetId.
func (s *Store) DeleteDevice(ctx context.Context, orgID, assetID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findDevice(func(x *model.EnosDevice) bool { return x.AssetID == assetID && x.OrgID == orgID })
	if x == nil {
		return nf("device " + assetID)
	}
	delete(s.devKeys, k(orgID, x.DeviceKey))
	s.devCount[k(orgID, x.ProductKey)]--
	remove(&s.devices, func(y *model.EnosDevice) bool { return y == x })
	return nil
}

// ---- IoTDA devices ----

func cloneIoTDA(d *model.IoTDADevice) model.IoTDADevice {
	c := *d
	c.Tags = jcopy(d.Tags)
	c.PolicyIDs = jcopy(d.PolicyIDs)
	return c
}

// CreateIoTDADevice stores a provisioned device.
func (s *Store) CreateIoTDADevice(ctx context.Context, d *model.IoTDADevice) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.DeviceID == "" {
		d.DeviceID = d.ProductID + "_" + d.NodeID
	}
	d.CreatedAt = model.Now()
	for _, x := range s.iotda {
		if x.DeviceID == d.DeviceID || (x.ProjectID == d.ProjectID && x.InstanceID == d.InstanceID && x.NodeID == d.NodeID) {
			return conflict("device " + d.DeviceID)
		}
	}
	c := cloneIoTDA(d)
	s.iotda = append(s.iotda, &c)
	return nil
}

// GetIoTDADevice returns one provisioned device.
func (s *Store) GetIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) (*model.IoTDADevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.iotda {
		if x.DeviceID == deviceID && x.ProjectID == projectID && x.InstanceID == instanceID {
			c := cloneIoTDA(x)
			return &c, nil
		}
	}
	return nil, nf("device " + deviceID)
}

// ListIoTDADevices lists provisioned devices in creation order.
func (s *Store) ListIoTDADevices(ctx context.Context, f model.IoTDADeviceFilter) ([]model.IoTDADevice, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := filter(s.iotda, func(x *model.IoTDADevice) bool {
		return x.ProjectID == f.ProjectID && x.InstanceID == f.InstanceID &&
			(f.ProductID == "" || x.ProductID == f.ProductID) && (f.NodeID == "" || x.NodeID == f.NodeID)
	})
	return values(page(m, f.Page), cloneIoTDA), len(m), nil
}

// DeleteIoTDADevice removes one provisioned device.
func (s *Store) DeleteIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !remove(&s.iotda, func(x *model.IoTDADevice) bool {
		return x.DeviceID == deviceID && x.ProjectID == projectID && x.InstanceID == instanceID
	}) {
		return nf("device " + deviceID)
	}
	return nil
}

// ---- CES invocations ----

func cloneInv(v *model.AgentInvocation) model.AgentInvocation {
	c := *v
	c.ElasticIPs = jcopy(v.ElasticIPs)
	if v.RemoteInstall != nil {
		m := *v.RemoteInstall
		c.RemoteInstall = &m
	}
	return c
}

// BatchCreateInvocations stores invocations with per-item results.
func (s *Store) BatchCreateInvocations(ctx context.Context, projectID string, invs []model.AgentInvocation) ([]model.ItemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := model.Now()
	res := make([]model.ItemResult, len(invs))
	for i := range invs {
		v := &invs[i]
		model.InitInvocation(v, projectID, now)
		res[i] = model.ItemResult{Index: i, ID: v.InvocationID, Key: v.InstanceID, Status: model.ItemCreated}
		if slices.ContainsFunc(s.invs, func(x *model.AgentInvocation) bool { return x.InvocationID == v.InvocationID }) {
			res[i].Status = model.ItemConflict
			res[i].Err = fmt.Errorf("%w: invocation %s exists", model.ErrConflict, v.InvocationID)
			continue
		}
		if v.InstallInProgress() && s.installInProgress(projectID, v.InstanceID, "") {
			res[i].Status = model.ItemConflict
			res[i].Err = model.InstallInProgressError(projectID, v.InstanceID)
			continue
		}
		c := cloneInv(v)
		s.invs = append(s.invs, &c)
	}
	return res, nil
}

// installInProgress reports whether the instance has an INSTALL PENDING or
// RUNNING other than invocation except: the SQL adapters' unique index.
func (s *Store) installInProgress(projectID, instanceID, except string) bool {
	return slices.ContainsFunc(s.invs, func(x *model.AgentInvocation) bool {
		return x.ProjectID == projectID && x.InstanceID == instanceID && x.InvocationID != except && x.InstallInProgress()
	})
}

func (s *Store) findInv(projectID, id string) *model.AgentInvocation {
	for _, x := range s.invs {
		if x.InvocationID == id && x.ProjectID == projectID {
			return x
		}
	}
	return nil
}

// GetInvocation returns one invocation of the project.
func (s *Store) GetInvocation(ctx context.Context, projectID, invocationID string) (*model.AgentInvocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findInv(projectID, invocationID)
	if x == nil {
		return nil, nf("invocation " + invocationID)
	}
	c := cloneInv(x)
	return &c, nil
}

// ListInvocations applies the CES list filters, newest first.
func (s *Store) ListInvocations(ctx context.Context, f model.InvocationFilter) ([]model.AgentInvocation, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	eq := func(v, want string) bool { return want == "" || v == want }
	m := filter(s.invs, func(x *model.AgentInvocation) bool {
		return x.ProjectID == f.ProjectID && eq(x.InstanceID, f.InstanceID) && eq(x.InstanceType, f.InstanceType) &&
			eq(x.InvocationID, f.InvocationID) && eq(x.InvocationType, f.InvocationType) && eq(x.InvocationTarget, f.InvocationTarget)
	})
	slices.Reverse(m)
	return values(page(m, f.Page), cloneInv), len(m), nil
}

// UpdateInvocation changes status and versions.
func (s *Store) UpdateInvocation(ctx context.Context, v *model.AgentInvocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findInv(v.ProjectID, v.InvocationID)
	if x == nil {
		return nf("invocation " + v.InvocationID)
	}
	next := *x
	next.InvocationStatus = v.InvocationStatus
	if next.InstallInProgress() && s.installInProgress(x.ProjectID, x.InstanceID, x.InvocationID) {
		return fmt.Errorf("%w: %w: invocation %s cannot become %s", model.ErrConflict, model.ErrInstallInProgress, v.InvocationID, v.InvocationStatus)
	}
	x.InvocationStatus, x.CurrentVersion, x.TargetVersion, x.UpdateTime = v.InvocationStatus, v.CurrentVersion, v.TargetVersion, model.Now()
	*v = cloneInv(x)
	return nil
}

// DeleteInvocation removes one invocation.
func (s *Store) DeleteInvocation(ctx context.Context, projectID, invocationID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !remove(&s.invs, func(x *model.AgentInvocation) bool { return x.InvocationID == invocationID && x.ProjectID == projectID }) {
		return nf("invocation " + invocationID)
	}
	return nil
}
