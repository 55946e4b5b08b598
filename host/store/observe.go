package store

import (
	"context"
	"errors"
	"time"
)

// Observer receives what Observe measures. Either func may be nil.
type Observer struct {
	// Call is told each Store method's name, how long it took and its error.
	Call func(method string, d time.Duration, err error)
	// Quota is told each rejection by a documented quota (QuotaError.Quota):
	// a whole call refused, or n items of a batch.
	Quota func(quota string, n int)
}

// Observe wraps s so that every call is timed and every quota rejection
// counted, for metrics. It adds no behaviour: arguments, results and errors
// pass through unchanged. The wrapper implements Store only (not
// RawRowReader).
func Observe(s Store, o Observer) Store {
	if o.Call == nil {
		o.Call = func(string, time.Duration, error) {}
	}
	if o.Quota == nil {
		o.Quota = func(string, int) {}
	}
	return &observed{next: s, o: o}
}

// observed must implement every method of Store: the compiler checks it.
var _ Store = (*observed)(nil)

type observed struct {
	next Store
	o    Observer
}

func (s *observed) done(method string, start time.Time, err error) {
	s.o.Call(method, time.Since(start), err)
	var q *QuotaError
	if errors.As(err, &q) {
		s.o.Quota(q.Quota, 1)
	}
}

// items counts the quota rejections among a batch's item results.
func (s *observed) items(res []ItemResult) {
	for _, r := range res {
		var q *QuotaError
		if r.Status == ItemQuota && errors.As(r.Err, &q) {
			s.o.Quota(q.Quota, 1)
		}
	}
}

func (s *observed) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.next.Ping(ctx)
	s.done("Ping", start, err)
	return err
}

func (s *observed) Close(ctx context.Context) error {
	start := time.Now()
	err := s.next.Close(ctx)
	s.done("Close", start, err)
	return err
}

func (s *observed) CreateProduct(ctx context.Context, p *Product) error {
	start := time.Now()
	err := s.next.CreateProduct(ctx, p)
	s.done("CreateProduct", start, err)
	return err
}

func (s *observed) GetProduct(ctx context.Context, projectID, instanceID, id string) (*Product, error) {
	start := time.Now()
	r0, err := s.next.GetProduct(ctx, projectID, instanceID, id)
	s.done("GetProduct", start, err)
	return r0, err
}

func (s *observed) ListProducts(ctx context.Context, f ProductFilter) ([]Product, int, error) {
	start := time.Now()
	r0, r1, err := s.next.ListProducts(ctx, f)
	s.done("ListProducts", start, err)
	return r0, r1, err
}

func (s *observed) UpdateProduct(ctx context.Context, p *Product) error {
	start := time.Now()
	err := s.next.UpdateProduct(ctx, p)
	s.done("UpdateProduct", start, err)
	return err
}

func (s *observed) DeleteProduct(ctx context.Context, projectID, instanceID, id string) error {
	start := time.Now()
	err := s.next.DeleteProduct(ctx, projectID, instanceID, id)
	s.done("DeleteProduct", start, err)
	return err
}

func (s *observed) CreateTemplate(ctx context.Context, t *ProvisioningTemplate) error {
	start := time.Now()
	err := s.next.CreateTemplate(ctx, t)
	s.done("CreateTemplate", start, err)
	return err
}

func (s *observed) GetTemplate(ctx context.Context, projectID, instanceID, id string) (*ProvisioningTemplate, error) {
	start := time.Now()
	r0, err := s.next.GetTemplate(ctx, projectID, instanceID, id)
	s.done("GetTemplate", start, err)
	return r0, err
}

func (s *observed) ListTemplates(ctx context.Context, f TemplateFilter) (TemplatePage, error) {
	start := time.Now()
	r0, err := s.next.ListTemplates(ctx, f)
	s.done("ListTemplates", start, err)
	return r0, err
}

func (s *observed) UpdateTemplate(ctx context.Context, t *ProvisioningTemplate) error {
	start := time.Now()
	err := s.next.UpdateTemplate(ctx, t)
	s.done("UpdateTemplate", start, err)
	return err
}

func (s *observed) DeleteTemplate(ctx context.Context, projectID, instanceID, id string) error {
	start := time.Now()
	err := s.next.DeleteTemplate(ctx, projectID, instanceID, id)
	s.done("DeleteTemplate", start, err)
	return err
}

func (s *observed) CreateDeviceCA(ctx context.Context, c *DeviceCA) error {
	start := time.Now()
	err := s.next.CreateDeviceCA(ctx, c)
	s.done("CreateDeviceCA", start, err)
	return err
}

func (s *observed) GetDeviceCA(ctx context.Context, projectID, instanceID, id string) (*DeviceCA, error) {
	start := time.Now()
	r0, err := s.next.GetDeviceCA(ctx, projectID, instanceID, id)
	s.done("GetDeviceCA", start, err)
	return r0, err
}

func (s *observed) ListDeviceCAs(ctx context.Context, f DeviceCAFilter) ([]DeviceCA, int, error) {
	start := time.Now()
	r0, r1, err := s.next.ListDeviceCAs(ctx, f)
	s.done("ListDeviceCAs", start, err)
	return r0, r1, err
}

func (s *observed) UpdateDeviceCA(ctx context.Context, c *DeviceCA) error {
	start := time.Now()
	err := s.next.UpdateDeviceCA(ctx, c)
	s.done("UpdateDeviceCA", start, err)
	return err
}

func (s *observed) DeleteDeviceCA(ctx context.Context, projectID, instanceID, id string) error {
	start := time.Now()
	err := s.next.DeleteDeviceCA(ctx, projectID, instanceID, id)
	s.done("DeleteDeviceCA", start, err)
	return err
}

func (s *observed) CreateDevice(ctx context.Context, d *EnosDevice) error {
	start := time.Now()
	err := s.next.CreateDevice(ctx, d)
	s.done("CreateDevice", start, err)
	return err
}

func (s *observed) BatchCreateDevices(ctx context.Context, orgID string, devs []EnosDevice) ([]ItemResult, error) {
	start := time.Now()
	r0, err := s.next.BatchCreateDevices(ctx, orgID, devs)
	s.done("BatchCreateDevices", start, err)
	s.items(r0)
	return r0, err
}

func (s *observed) GetDevice(ctx context.Context, orgID, assetID string) (*EnosDevice, error) {
	start := time.Now()
	r0, err := s.next.GetDevice(ctx, orgID, assetID)
	s.done("GetDevice", start, err)
	return r0, err
}

func (s *observed) GetDeviceByKey(ctx context.Context, orgID, deviceKey string) (*EnosDevice, error) {
	start := time.Now()
	r0, err := s.next.GetDeviceByKey(ctx, orgID, deviceKey)
	s.done("GetDeviceByKey", start, err)
	return r0, err
}

func (s *observed) ListDevices(ctx context.Context, f DeviceFilter) ([]EnosDevice, int, error) {
	start := time.Now()
	r0, r1, err := s.next.ListDevices(ctx, f)
	s.done("ListDevices", start, err)
	return r0, r1, err
}

func (s *observed) UpdateDevice(ctx context.Context, d *EnosDevice) error {
	start := time.Now()
	err := s.next.UpdateDevice(ctx, d)
	s.done("UpdateDevice", start, err)
	return err
}

func (s *observed) DeleteDevice(ctx context.Context, orgID, assetID string) error {
	start := time.Now()
	err := s.next.DeleteDevice(ctx, orgID, assetID)
	s.done("DeleteDevice", start, err)
	return err
}

func (s *observed) CreateIoTDADevice(ctx context.Context, d *IoTDADevice) error {
	start := time.Now()
	err := s.next.CreateIoTDADevice(ctx, d)
	s.done("CreateIoTDADevice", start, err)
	return err
}

func (s *observed) GetIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) (*IoTDADevice, error) {
	start := time.Now()
	r0, err := s.next.GetIoTDADevice(ctx, projectID, instanceID, deviceID)
	s.done("GetIoTDADevice", start, err)
	return r0, err
}

func (s *observed) ListIoTDADevices(ctx context.Context, f IoTDADeviceFilter) ([]IoTDADevice, int, error) {
	start := time.Now()
	r0, r1, err := s.next.ListIoTDADevices(ctx, f)
	s.done("ListIoTDADevices", start, err)
	return r0, r1, err
}

func (s *observed) DeleteIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) error {
	start := time.Now()
	err := s.next.DeleteIoTDADevice(ctx, projectID, instanceID, deviceID)
	s.done("DeleteIoTDADevice", start, err)
	return err
}

func (s *observed) BatchCreateInvocations(ctx context.Context, projectID string, invs []AgentInvocation) ([]ItemResult, error) {
	start := time.Now()
	r0, err := s.next.BatchCreateInvocations(ctx, projectID, invs)
	s.done("BatchCreateInvocations", start, err)
	s.items(r0)
	return r0, err
}

func (s *observed) GetInvocation(ctx context.Context, projectID, invocationID string) (*AgentInvocation, error) {
	start := time.Now()
	r0, err := s.next.GetInvocation(ctx, projectID, invocationID)
	s.done("GetInvocation", start, err)
	return r0, err
}

func (s *observed) ListInvocations(ctx context.Context, f InvocationFilter) ([]AgentInvocation, int, error) {
	start := time.Now()
	r0, r1, err := s.next.ListInvocations(ctx, f)
	s.done("ListInvocations", start, err)
	return r0, r1, err
}

func (s *observed) UpdateInvocation(ctx context.Context, v *AgentInvocation) error {
	start := time.Now()
	err := s.next.UpdateInvocation(ctx, v)
	s.done("UpdateInvocation", start, err)
	return err
}

func (s *observed) DeleteInvocation(ctx context.Context, projectID, invocationID string) error {
	start := time.Now()
	err := s.next.DeleteInvocation(ctx, projectID, invocationID)
	s.done("DeleteInvocation", start, err)
	return err
}

func (s *observed) RegisterAgent(ctx context.Context, a *Agent) (bool, error) {
	start := time.Now()
	r0, err := s.next.RegisterAgent(ctx, a)
	s.done("RegisterAgent", start, err)
	return r0, err
}

func (s *observed) GetAgent(ctx context.Context, projectID, agentID string) (*Agent, error) {
	start := time.Now()
	r0, err := s.next.GetAgent(ctx, projectID, agentID)
	s.done("GetAgent", start, err)
	return r0, err
}

func (s *observed) UpdateAgent(ctx context.Context, a *Agent) error {
	start := time.Now()
	err := s.next.UpdateAgent(ctx, a)
	s.done("UpdateAgent", start, err)
	return err
}

func (s *observed) DeleteAgent(ctx context.Context, projectID, agentID string) error {
	start := time.Now()
	err := s.next.DeleteAgent(ctx, projectID, agentID)
	s.done("DeleteAgent", start, err)
	return err
}

func (s *observed) ListAgents(ctx context.Context, f AgentFilter) ([]Agent, int, error) {
	start := time.Now()
	r0, r1, err := s.next.ListAgents(ctx, f)
	s.done("ListAgents", start, err)
	return r0, r1, err
}

func (s *observed) AddAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*Agent, error) {
	start := time.Now()
	r0, err := s.next.AddAgentPaths(ctx, projectID, agentID, dirs)
	s.done("AddAgentPaths", start, err)
	return r0, err
}

func (s *observed) RemoveAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*Agent, error) {
	start := time.Now()
	r0, err := s.next.RemoveAgentPaths(ctx, projectID, agentID, dirs)
	s.done("RemoveAgentPaths", start, err)
	return r0, err
}

func (s *observed) CreateToken(ctx context.Context, token string, t *Token) error {
	start := time.Now()
	err := s.next.CreateToken(ctx, token, t)
	s.done("CreateToken", start, err)
	return err
}

func (s *observed) GetToken(ctx context.Context, token string) (*Token, error) {
	start := time.Now()
	r0, err := s.next.GetToken(ctx, token)
	s.done("GetToken", start, err)
	return r0, err
}

func (s *observed) DeleteToken(ctx context.Context, token string) error {
	start := time.Now()
	err := s.next.DeleteToken(ctx, token)
	s.done("DeleteToken", start, err)
	return err
}

func (s *observed) CreateAccessKey(ctx context.Context, k *AccessKey) error {
	start := time.Now()
	err := s.next.CreateAccessKey(ctx, k)
	s.done("CreateAccessKey", start, err)
	return err
}

func (s *observed) GetAccessKey(ctx context.Context, id string) (*AccessKey, error) {
	start := time.Now()
	r0, err := s.next.GetAccessKey(ctx, id)
	s.done("GetAccessKey", start, err)
	return r0, err
}

func (s *observed) DeleteAccessKey(ctx context.Context, id string) error {
	start := time.Now()
	err := s.next.DeleteAccessKey(ctx, id)
	s.done("DeleteAccessKey", start, err)
	return err
}

func (s *observed) CreateServiceAccount(ctx context.Context, a *ServiceAccount) error {
	start := time.Now()
	err := s.next.CreateServiceAccount(ctx, a)
	s.done("CreateServiceAccount", start, err)
	return err
}

func (s *observed) GetServiceAccount(ctx context.Context, orgID, accountID string) (*ServiceAccount, error) {
	start := time.Now()
	r0, err := s.next.GetServiceAccount(ctx, orgID, accountID)
	s.done("GetServiceAccount", start, err)
	return r0, err
}

func (s *observed) UpdateServiceAccountKey(ctx context.Context, orgID, accountID, publicKeyPEM string) error {
	start := time.Now()
	err := s.next.UpdateServiceAccountKey(ctx, orgID, accountID, publicKeyPEM)
	s.done("UpdateServiceAccountKey", start, err)
	return err
}

func (s *observed) DeleteServiceAccount(ctx context.Context, orgID, accountID string) error {
	start := time.Now()
	err := s.next.DeleteServiceAccount(ctx, orgID, accountID)
	s.done("DeleteServiceAccount", start, err)
	return err
}

func (s *observed) PutIdempotency(ctx context.Context, r *IdempotencyRecord) error {
	start := time.Now()
	err := s.next.PutIdempotency(ctx, r)
	s.done("PutIdempotency", start, err)
	return err
}

func (s *observed) GetIdempotency(ctx context.Context, scope, key string) (*IdempotencyRecord, error) {
	start := time.Now()
	r0, err := s.next.GetIdempotency(ctx, scope, key)
	s.done("GetIdempotency", start, err)
	return r0, err
}

func (s *observed) PurgeIdempotency(ctx context.Context, before time.Time) (int, error) {
	start := time.Now()
	r0, err := s.next.PurgeIdempotency(ctx, before)
	s.done("PurgeIdempotency", start, err)
	return r0, err
}

func (s *observed) GetOrCreateProjectCA(ctx context.Context, projectID string, create func() (certPEM, keyPEM string, err error)) (string, string, error) {
	start := time.Now()
	r0, r1, err := s.next.GetOrCreateProjectCA(ctx, projectID, create)
	s.done("GetOrCreateProjectCA", start, err)
	return r0, r1, err
}
