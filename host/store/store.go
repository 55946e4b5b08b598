// Package store is how the host persists what the registration APIs create:
// IEF products, IoTDA provisioning templates, device CA certificates and
// provisioned devices, EnOS devices, CES agent invocations, CBR agents, the
// per-project CAs that sign IEF product certificates, and the credentials
// and idempotency records of the HTTP service.
//
// One Store interface has three adapters: memstore (memory), sqlitestore
// (embedded, the default) and pgstore (PostgreSQL); Open picks one from
// Config.URL. Every adapter passes storetest.Run. The store enforces the
// documented quotas and uniqueness rules atomically, also across processes
// sharing a database, and encrypts secrets at rest. It must not validate API
// input (the engine owns the rules) nor format API responses.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/store/memstore"
	"github.com/onboardhq/onboard/host/store/pgstore"
	"github.com/onboardhq/onboard/host/store/sqlitestore"
)

// Store is the persistence interface of the host. Scoped reads and writes
// take the scope explicitly (project + instance, org, or project): a row of
// another scope is reported as ErrNotFound, never returned.
//
// List methods page with offset/limit (Limit <= 0 means all) and return the
// total number of matches; IoTDA lists also take a marker (the id of the last
// item of the previous page, creation order). Create methods fill generated
// ids and times into the record they are given.
type Store interface {
	Ping(ctx context.Context) error
	Close(ctx context.Context) error

	// IEF products. Name is unique per (project, instance): ErrConflict.
	CreateProduct(ctx context.Context, p *Product) error
	GetProduct(ctx context.Context, projectID, instanceID, id string) (*Product, error)
	ListProducts(ctx context.Context, f ProductFilter) ([]Product, int, error)
	UpdateProduct(ctx context.Context, p *Product) error // description, attributes, tags
	DeleteProduct(ctx context.Context, projectID, instanceID, id string) error

	// IoTDA provisioning templates: name unique per (project, instance),
	// at most TemplateLimitPerInstance of them (*QuotaError).
	CreateTemplate(ctx context.Context, t *ProvisioningTemplate) error
	GetTemplate(ctx context.Context, projectID, instanceID, id string) (*ProvisioningTemplate, error)
	ListTemplates(ctx context.Context, f TemplateFilter) (TemplatePage, error)
	UpdateTemplate(ctx context.Context, t *ProvisioningTemplate) error // description, body
	DeleteTemplate(ctx context.Context, projectID, instanceID, id string) error

	// IoTDA device CA certificates.
	CreateDeviceCA(ctx context.Context, c *DeviceCA) error
	GetDeviceCA(ctx context.Context, projectID, instanceID, id string) (*DeviceCA, error)
	ListDeviceCAs(ctx context.Context, f DeviceCAFilter) ([]DeviceCA, int, error)
	UpdateDeviceCA(ctx context.Context, c *DeviceCA) error // owner, verification, provisioning, template binding
	DeleteDeviceCA(ctx context.Context, projectID, instanceID, id string) error

	// EnOS devices: deviceKey unique per org (ErrConflict, code 11702), at
	// most DeviceLimitPerProduct per (org, productKey) (*QuotaError, 11739).
	// BatchCreateDevices writes the whole batch in one transaction with a
	// result per item; only a failure of the whole call returns an error.
	CreateDevice(ctx context.Context, d *EnosDevice) error
	BatchCreateDevices(ctx context.Context, orgID string, devs []EnosDevice) ([]ItemResult, error)
	GetDevice(ctx context.Context, orgID, assetID string) (*EnosDevice, error)
	GetDeviceByKey(ctx context.Context, orgID, deviceKey string) (*EnosDevice, error)
	ListDevices(ctx context.Context, f DeviceFilter) ([]EnosDevice, int, error)
	UpdateDevice(ctx context.Context, d *EnosDevice) error // name, timezone, attributes, tags, desc
	DeleteDevice(ctx context.Context, orgID, assetID string) error

	// IoTDA devices registered by pre-provisioning: node id unique per (project, instance).
	CreateIoTDADevice(ctx context.Context, d *IoTDADevice) error
	GetIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) (*IoTDADevice, error)
	ListIoTDADevices(ctx context.Context, f IoTDADeviceFilter) ([]IoTDADevice, int, error)
	DeleteIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) error

	// CES agent invocations. The batch is one statement in one transaction.
	// Lists are newest first. At most one INSTALL per (project, instance)
	// is PENDING or RUNNING, also across processes: another is reported as
	// ItemConflict (UpdateInvocation: an error) matching ErrInstallInProgress.
	BatchCreateInvocations(ctx context.Context, projectID string, invs []AgentInvocation) ([]ItemResult, error)
	GetInvocation(ctx context.Context, projectID, invocationID string) (*AgentInvocation, error)
	ListInvocations(ctx context.Context, f InvocationFilter) ([]AgentInvocation, int, error)
	UpdateInvocation(ctx context.Context, v *AgentInvocation) error // status, versions
	DeleteInvocation(ctx context.Context, projectID, invocationID string) error

	// CBR agents. RegisterAgent is an upsert keyed by (project, agent id).
	RegisterAgent(ctx context.Context, a *Agent) (created bool, err error)
	GetAgent(ctx context.Context, projectID, agentID string) (*Agent, error)
	UpdateAgent(ctx context.Context, a *Agent) error
	DeleteAgent(ctx context.Context, projectID, agentID string) error
	ListAgents(ctx context.Context, f AgentFilter) ([]Agent, int, error)
	AddAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*Agent, error)
	RemoveAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*Agent, error)

	// Credentials. Tokens are stored as SHA-256 hashes; SKs are encrypted.
	// CreateToken refuses a token scoped to both a project and an org, or to
	// neither. GetToken reports an expired token as ErrNotFound.
	CreateToken(ctx context.Context, token string, t *Token) error
	GetToken(ctx context.Context, token string) (*Token, error)
	DeleteToken(ctx context.Context, token string) error
	CreateAccessKey(ctx context.Context, k *AccessKey) error
	GetAccessKey(ctx context.Context, id string) (*AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error
	CreateServiceAccount(ctx context.Context, a *ServiceAccount) error
	GetServiceAccount(ctx context.Context, orgID, accountID string) (*ServiceAccount, error)
	UpdateServiceAccountKey(ctx context.Context, orgID, accountID, publicKeyPEM string) error // key rotation
	DeleteServiceAccount(ctx context.Context, orgID, accountID string) error

	// Idempotency records: Put fails with ErrConflict when (scope, key) exists.
	PutIdempotency(ctx context.Context, r *IdempotencyRecord) error
	GetIdempotency(ctx context.Context, scope, key string) (*IdempotencyRecord, error)
	PurgeIdempotency(ctx context.Context, before time.Time) (int, error)

	// IEF per-project CA (the key is encrypted at rest). GetOrCreateProjectCA
	// returns the project's CA, calling create and storing its result only
	// when there is none. Racing callers, across processes too, all get the
	// one CA that was stored first; create may still run in several of them
	// (it runs outside any transaction), so it must have no side effect
	// beyond returning the PEMs. An error from create is returned and
	// nothing is stored.
	GetOrCreateProjectCA(ctx context.Context, projectID string, create func() (certPEM, keyPEM string, err error)) (certPEM, keyPEM string, err error)
}

// RawRowReader is implemented by adapters that store rows at rest. RawRow
// returns the stored text of one row (tables: products, devices,
// agent_invocations, access_keys, tokens, project_cas; id is the row's
// primary id, the project id for project_cas) so tests can prove secrets are
// not stored in plain text.
type RawRowReader interface {
	RawRow(ctx context.Context, table, id string) (string, error)
}

// Config selects and configures an adapter.
type Config struct {
	// URL: "memory:" → memstore; "postgres://…" or "postgresql://…" → pgstore;
	// anything else is a SQLite file path. The caller resolves "" to its
	// default SQLite path (Open refuses "").
	URL string
	// EncryptionKey (32 bytes) seals secrets at rest; RetiredKeys still open
	// values sealed before a rotation. Required by the SQL adapters.
	EncryptionKey []byte
	RetiredKeys   [][]byte
	// Quota limits; 0 means the documented default (10,000 and 10).
	DeviceLimitPerProduct    int
	TemplateLimitPerInstance int
}

// Open returns the adapter Config.URL names, migrated and ready.
func Open(ctx context.Context, c Config) (Store, error) {
	switch u := c.URL; {
	case u == "":
		return nil, errors.New("store: empty URL: pass the default SQLite path, \"memory:\" or a postgres:// URL")
	case u == "memory:":
		return memstore.New(memstore.Options{DeviceLimitPerProduct: c.DeviceLimitPerProduct, TemplateLimitPerInstance: c.TemplateLimitPerInstance}), nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return pgstore.Open(ctx, u, pgstore.Options{EncryptionKey: c.EncryptionKey, RetiredKeys: c.RetiredKeys,
			DeviceLimitPerProduct: c.DeviceLimitPerProduct, TemplateLimitPerInstance: c.TemplateLimitPerInstance})
	default:
		return sqlitestore.Open(ctx, strings.TrimPrefix(u, "sqlite:"), sqlitestore.Options{EncryptionKey: c.EncryptionKey, RetiredKeys: c.RetiredKeys,
			DeviceLimitPerProduct: c.DeviceLimitPerProduct, TemplateLimitPerInstance: c.TemplateLimitPerInstance})
	}
}

// Every adapter implements Store; the SQL ones also RawRowReader.
var (
	_ Store        = (*memstore.Store)(nil)
	_ Store        = (*sqlitestore.Store)(nil)
	_ Store        = (*pgstore.Store)(nil)
	_ RawRowReader = (*sqlitestore.Store)(nil)
	_ RawRowReader = (*pgstore.Store)(nil)
)
