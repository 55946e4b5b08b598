// Package store is how the host persists what the registration APIs create:
// IEF products, IoTDA provisioning templates, device CA certificates and
// provisioned devices, EnOS devices, CES agent invocations, CBR agents, the
// per-project CAs that sign IEF product certificates, and the credentials
// and idempotency records of the HTTP service.
//
// This package is the contract only: the records, filters and errors, and
// the Store interface, split by resource (Products, Templates, …) the way
// OPA's storage is, so that a caller or a decorator names only the part it
// uses. It imports no adapter and no database driver.
//
// Layout:
//
//	store            the contract (this package)
//	store/stores     Open: picks the adapter from a URL; the one package that links every adapter
//	store/sqlitestore  SQLite (embedded, the default; "memory:" is an in-memory SQLite database)
//	store/pgstore    PostgreSQL
//	store/internal/sqlcore  the SQL both adapters run, written once
//	store/storetest  the suite every adapter passes (storetest.Run)
//
// The adapters enforce the documented quotas and uniqueness rules
// atomically, also across processes sharing a database, and seal secrets at
// rest. They must not validate API input (the engine owns the rules) nor
// format API responses.
package store

import (
	"context"
	"time"
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
	Products
	Templates
	DeviceCAs
	EnOSDevices
	EnOSProducts
	IoTDADevices
	Invocations
	Agents
	Credentials
	Idempotency
	ProjectCAs

	// Atomic runs fn as one unit of work: every store call made with the
	// context fn receives joins one transaction, which commits when fn
	// returns nil and rolls back, with everything written in it, when fn
	// returns an error (or panics). Reads made with that context see the
	// unit's own writes. A store call that fails inside the unit undoes
	// only its own writes; fn decides whether the unit goes on. Atomic
	// inside Atomic joins the outer unit. The transaction starts at the
	// unit's first write, so work fn does before it holds no lock. The
	// context must not be used by several goroutines at once.
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error

	Ping(ctx context.Context) error
	Close(ctx context.Context) error
}

// Products are IEF products. Name is unique per (project, instance):
// ErrConflict.
type Products interface {
	CreateProduct(ctx context.Context, p *Product) error
	GetProduct(ctx context.Context, projectID, instanceID, id string) (*Product, error)
	ListProducts(ctx context.Context, f ProductFilter) ([]Product, int, error)
	UpdateProduct(ctx context.Context, p *Product) error // description, attributes, tags
	DeleteProduct(ctx context.Context, projectID, instanceID, id string) error
}

// Templates are IoTDA provisioning templates: name unique per (project,
// instance), at most the configured number per instance (*QuotaError).
type Templates interface {
	CreateTemplate(ctx context.Context, t *ProvisioningTemplate) error
	GetTemplate(ctx context.Context, projectID, instanceID, id string) (*ProvisioningTemplate, error)
	ListTemplates(ctx context.Context, f TemplateFilter) (TemplatePage, error)
	UpdateTemplate(ctx context.Context, t *ProvisioningTemplate) error // description, body
	DeleteTemplate(ctx context.Context, projectID, instanceID, id string) error
}

// DeviceCAs are IoTDA device CA certificates.
type DeviceCAs interface {
	CreateDeviceCA(ctx context.Context, c *DeviceCA) error
	GetDeviceCA(ctx context.Context, projectID, instanceID, id string) (*DeviceCA, error)
	ListDeviceCAs(ctx context.Context, f DeviceCAFilter) ([]DeviceCA, int, error)
	UpdateDeviceCA(ctx context.Context, c *DeviceCA) error // owner, verification, provisioning, template binding
	DeleteDeviceCA(ctx context.Context, projectID, instanceID, id string) error
}

// EnOSDevices are EnOS devices: deviceKey unique per org (ErrConflict,
// code 11702), at most the configured number per (org, productKey)
// (*QuotaError, 11739). BatchCreateDevices writes the whole batch in one
// transaction with a result per item; only a failure of the whole call
// returns an error.
type EnOSDevices interface {
	CreateDevice(ctx context.Context, d *EnosDevice) error
	BatchCreateDevices(ctx context.Context, orgID string, devs []EnosDevice) ([]ItemResult, error)
	GetDevice(ctx context.Context, orgID, assetID string) (*EnosDevice, error)
	GetDeviceByKey(ctx context.Context, orgID, deviceKey string) (*EnosDevice, error)
	ListDevices(ctx context.Context, f DeviceFilter) ([]EnosDevice, int, error)
	UpdateDevice(ctx context.Context, d *EnosDevice) error // name, timezone, attributes, tags, desc
	DeleteDevice(ctx context.Context, orgID, assetID string) error
}

// EnOSProducts are EnOS products, the prerequisite of creating devices:
// ProductKey unique per org (ErrConflict). DeleteEnOSProduct refuses a
// product that still has devices (ErrConflict; EnOS 11619 "Existing Device
// Restrictions"). The store does not check BatchCreateDevices against them:
// the service refuses devices of unknown products before it writes.
type EnOSProducts interface {
	CreateEnOSProduct(ctx context.Context, p *EnosProduct) error
	GetEnOSProduct(ctx context.Context, orgID, productKey string) (*EnosProduct, error)
	ListEnOSProducts(ctx context.Context, f EnosProductFilter) ([]EnosProduct, int, error)
	DeleteEnOSProduct(ctx context.Context, orgID, productKey string) error
}

// IoTDADevices are devices registered by IoTDA pre-provisioning: node id
// unique per (project, instance).
type IoTDADevices interface {
	CreateIoTDADevice(ctx context.Context, d *IoTDADevice) error
	GetIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) (*IoTDADevice, error)
	ListIoTDADevices(ctx context.Context, f IoTDADeviceFilter) ([]IoTDADevice, int, error)
	DeleteIoTDADevice(ctx context.Context, projectID, instanceID, deviceID string) error
}

// Invocations are CES agent invocations. The batch is one statement in one
// transaction. Lists are newest first. At most one INSTALL per (project,
// instance) is PENDING or RUNNING, also across processes: another is
// reported as ItemConflict (ReportInvocation: an error) matching
// ErrInstallInProgress.
type Invocations interface {
	BatchCreateInvocations(ctx context.Context, projectID string, invs []AgentInvocation) ([]ItemResult, error)
	GetInvocation(ctx context.Context, projectID, invocationID string) (*AgentInvocation, error)
	ListInvocations(ctx context.Context, f InvocationFilter) ([]AgentInvocation, int, error)
	// ReportInvocation is a compare-and-set of a task's progress: it sets
	// v.InvocationStatus and v.CurrentVersion only if the stored status is
	// still from, and fills v with the stored task. Another status is
	// ErrConflict (wrapping ErrStatusChanged), so two reports, or a report
	// and the timeout sweep, never both win.
	ReportInvocation(ctx context.Context, v *AgentInvocation, from string) error
	// TimeoutInvocations turns every PENDING or RUNNING task last updated
	// before the given time into TIMEOUT, in every project, and says how
	// many it changed.
	TimeoutInvocations(ctx context.Context, before time.Time) (int64, error)
	DeleteInvocation(ctx context.Context, projectID, invocationID string) error
}

// Agents are CBR agents. RegisterAgent is an upsert keyed by (project,
// agent id). AddAgentPaths and RemoveAgentPaths say per path what they
// did (PathEdit); an unknown agent is ErrNotFound.
type Agents interface {
	RegisterAgent(ctx context.Context, a *Agent) (created bool, err error)
	GetAgent(ctx context.Context, projectID, agentID string) (*Agent, error)
	UpdateAgent(ctx context.Context, a *Agent) error
	DeleteAgent(ctx context.Context, projectID, agentID string) error
	ListAgents(ctx context.Context, f AgentFilter) ([]Agent, int, error)
	AddAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*PathEdit, error)
	RemoveAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*PathEdit, error)
}

// Credentials are API tokens (stored as SHA-256 hashes), AK/SKs (SK
// sealed) and EnOS service accounts. CreateToken refuses a token scoped to
// both a project and an org, or to neither. GetToken reports an expired
// token as ErrNotFound.
type Credentials interface {
	CreateToken(ctx context.Context, token string, t *Token) error
	GetToken(ctx context.Context, token string) (*Token, error)
	DeleteToken(ctx context.Context, token string) error
	CreateAccessKey(ctx context.Context, k *AccessKey) error
	GetAccessKey(ctx context.Context, id string) (*AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error
	CreateServiceAccount(ctx context.Context, a *ServiceAccount) error
	GetServiceAccount(ctx context.Context, orgID, accountID string) (*ServiceAccount, error)
	ListServiceAccounts(ctx context.Context, orgID string) ([]ServiceAccount, error)          // orgID "": every org; ordered by org, account
	UpdateServiceAccountKey(ctx context.Context, orgID, accountID, publicKeyPEM string) error // key rotation
	SetServiceAccountDeviceAccess(ctx context.Context, orgID, accountID string, denied bool) error
	DeleteServiceAccount(ctx context.Context, orgID, accountID string) error // revokes the account's tokens too
}

// Idempotency holds retry keys, so that a request retried with its key
// does its work once. The protocol:
//
//  1. ReserveIdempotency before the work: it inserts a pending record held
//     by the claim's Owner, or returns the record that exists. A pending
//     record whose lease has run out (its holder died) is taken over, if
//     the request hash matches.
//  2. RenewIdempotency while working, so the lease outlives the work but
//     not the worker.
//  3. CompleteIdempotency inside the unit of work (Atomic) that does the
//     writes: the response commits with them, or not at all.
//  4. ReleaseIdempotency when the work failed, so a retry can run it.
//
// Reserve, Renew and Release commit at once, outside any unit of work.
// Every call but Reserve and Get fails with ErrNotHolder when the owner no
// longer holds the key. Times are the host's clock.
type Idempotency interface {
	// ReserveIdempotency returns the record now stored for the claim's
	// key and whether the claim's owner holds it (a new reservation or a
	// takeover).
	ReserveIdempotency(ctx context.Context, c IdempotencyClaim) (rec *IdempotencyRecord, held bool, err error)
	RenewIdempotency(ctx context.Context, c IdempotencyClaim) error
	CompleteIdempotency(ctx context.Context, c IdempotencyClaim, status int, contentType string, body []byte) error
	ReleaseIdempotency(ctx context.Context, c IdempotencyClaim) error
	GetIdempotency(ctx context.Context, scope, key string) (*IdempotencyRecord, error)
	// PurgeIdempotency deletes completed records created before t, and
	// pending ones whose lease ran out before t, and returns how many.
	PurgeIdempotency(ctx context.Context, before time.Time) (int, error)
}

// ProjectCAs are the IEF per-project CAs (the key sealed at rest).
type ProjectCAs interface {
	// GetOrCreateProjectCA returns the project's CA, calling create and
	// storing its result only when there is none. Racing callers, across
	// processes too, all get the one CA that was stored first; create may
	// still run in several of them (it runs outside any transaction), so
	// it must have no side effect beyond returning the PEMs. An error from
	// create is returned and nothing is stored.
	GetOrCreateProjectCA(ctx context.Context, projectID string, create func() (certPEM, keyPEM string, err error)) (certPEM, keyPEM string, err error)
}

// RawRowReader is implemented by adapters that store rows at rest. RawRow
// returns the stored text of one row (tables: products, devices,
// agent_invocations, access_keys, tokens, project_cas, idempotency; id is
// the row's primary id: the project id for project_cas, the key for
// idempotency) so tests can prove secrets are not stored in plain text.
type RawRowReader interface {
	RawRow(ctx context.Context, table, id string) (string, error)
}

// Config selects and configures an adapter; stores.Open reads it.
type Config struct {
	// URL: "memory:" → an in-memory SQLite database; "postgres://…" or
	// "postgresql://…" → PostgreSQL; anything else is a SQLite file path
	// (an optional "sqlite:" prefix is dropped). The caller resolves "" to
	// its default SQLite path (Open refuses "").
	URL string
	// EncryptionKey (32 bytes) seals secrets at rest; RetiredKeys still open
	// values sealed before a rotation. Required, except for "memory:",
	// which uses a random key when none is given (its data dies with it).
	EncryptionKey []byte
	RetiredKeys   [][]byte
	// Quota limits; 0 means the documented default (10,000 and 10).
	DeviceLimitPerProduct    int
	TemplateLimitPerInstance int
	// Trace, when set, is told every SQL statement the adapter runs, with
	// its arguments: how a test checks the query plan of each one.
	Trace func(sql string, args []any)
}
