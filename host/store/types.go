package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Adapters wrap them so callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	ErrQuota    = errors.New("store: quota exceeded")
	// ErrInstallInProgress comes wrapped together with ErrConflict.
	ErrInstallInProgress = errors.New("an INSTALL task is already pending or running")
	// ErrStatusChanged comes wrapped together with ErrConflict: a task's
	// status is no longer the one a ReportInvocation expected.
	ErrStatusChanged = errors.New("the task's status has changed")
	// ErrNotHolder: an idempotency key the caller no longer holds (it was
	// completed, released, or taken over after the caller's lease ran out).
	ErrNotHolder = errors.New("store: idempotency key not held by this owner")
)

// Quota names used in QuotaError.Quota.
const (
	QuotaTemplatesPerInstance = "templates_per_instance" // IoTDA: 10 per instance
	QuotaDevicesPerProduct    = "devices_per_product"    // EnOS 11739: 10,000 per product
)

// QuotaError says which quota refused a write. errors.Is(err, ErrQuota) holds.
type QuotaError struct {
	Quota string // one of the Quota* constants
	Limit int
	Scope string // the scope the quota applies to, e.g. "org/productKey"
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("store: quota %s exceeded (limit %d) for %s", e.Quota, e.Limit, e.Scope)
}

// Is makes errors.Is(err, ErrQuota) true for every QuotaError.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// Page is offset/limit paging. Limit <= 0 means no limit.
type Page struct {
	Offset int
	Limit  int
	// NoTotal: the caller needs no total (an existence check), so none is
	// counted and the total returned is 0.
	NoTotal bool
}

// ---- IEF products ----

// Product is an IEF product (batch node registration job).
type Product struct {
	ID            string
	ProjectID     string
	InstanceID    string // ief-instance-id header; "" for professional edition
	Name          string // unique per (project, instance)
	Description   string
	Attributes    map[string]ProductAttribute
	Tags          []Tag
	CreatedAt     int64 // unix seconds, as the API returns it
	CACertPEM     string
	CertPEM       string
	PrivateKeyPEM string // secret: encrypted at rest
	Identifier    string
}

// ProductAttribute is one IEF product attribute.
type ProductAttribute struct {
	Value    string          `json:"value,omitempty"`
	Metadata ProductMetadata `json:"metadata"`
}

// ProductMetadata describes a product attribute.
type ProductMetadata struct {
	Type string `json:"type,omitempty"`
}

// Tag is a key/value tag (IEF product, IoTDA device).
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ProductFilter selects products of one (project, instance).
type ProductFilter struct {
	ProjectID  string
	InstanceID string
	SortBy     string // "created_at" (default) or "name"
	SortDesc   bool
	Page
}

// ---- IoTDA provisioning templates ----

// ProvisioningTemplate is an IoTDA pre-provisioning template.
type ProvisioningTemplate struct {
	ID          string // 24 hex digits
	ProjectID   string
	InstanceID  string
	Name        string // unique per (project, instance)
	Description string
	Body        json.RawMessage // template_body, stored verbatim
	CreateTime  time.Time
	UpdateTime  time.Time
}

// TemplateFilter selects templates. Marker is the ID of the last item of the
// previous page: the page starts after it in creation order.
type TemplateFilter struct {
	ProjectID  string
	InstanceID string
	Name       string // exact template_name filter
	Marker     string
	Page
}

// TemplatePage is one page of templates. Total counts all matches of the
// filter ignoring marker/offset/limit; Marker is the last ID of this page.
type TemplatePage struct {
	Items  []ProvisioningTemplate
	Total  int
	Marker string
}

// ---- IoTDA device CA certificates ----

// DeviceCA is an IoTDA device CA certificate.
type DeviceCA struct {
	ID              string
	ProjectID       string
	InstanceID      string
	CertPEM         string
	CommonName      string
	Owner           string
	Verified        bool
	VerifyCode      string
	ProvisionEnable bool
	TemplateID      string // bound provisioning template, "" if none
	AppID           string // IoTDA resource space (app_id), "" for the default one
	// RevokedSerials are the serial numbers (lowercase hex, as
	// x509.Certificate.SerialNumber.Text(16)) of device certificates issued
	// by this CA that must no longer connect: onboard's stand-in for CRLs.
	RevokedSerials []string
	CreateTime     time.Time
}

// DeviceCAFilter selects device CA certificates of one (project, instance).
type DeviceCAFilter struct {
	ProjectID  string
	InstanceID string
	AppID      string // optional
	CommonName string // optional, exact
	CertPEM    string // optional, exact (the stored canonical PEM)
	TemplateID string // optional, exact: the CAs bound to this template
	Marker     string
	Page
}

// ---- EnOS devices ----

// I18nString is an EnOS internationalised name.
type I18nString struct {
	DefaultValue string            `json:"defaultValue"`
	I18n         map[string]string `json:"i18nValue,omitempty"`
}

// EnosDevice is an EnOS device. DeviceKey is unique per org; AssetID is
// globally unique. Empty AssetID/DeviceKey are generated on create.
type EnosDevice struct {
	OrgID        string
	AssetID      string
	ProductKey   string
	DeviceKey    string
	DeviceName   I18nString
	Timezone     string
	Attributes   map[string]any // JSON values; numbers come back as json.Number, digit for digit
	Tags         map[string]string
	Desc         string
	DeviceSecret string // secret: encrypted at rest
	CreatedAt    time.Time
	UpdatedAt    time.Time // zero until the first update
}

// EnosProduct is an EnOS product: devices are created only under a
// product of their org. ProductKey is unique per org.
type EnosProduct struct {
	OrgID      string
	ProductKey string
	Name       string // free text for operators; "" when not given
	CreatedAt  time.Time
}

// EnosProductFilter selects EnOS products of one org, in product key
// order.
type EnosProductFilter struct {
	OrgID       string
	ProductKeys []string // optional: only these keys
	Page
}

// DeviceFilter selects EnOS devices of one org.
type DeviceFilter struct {
	OrgID      string
	ProductKey string // optional
	Desc       bool   // newest first
	Page
}

// ItemStatus is the outcome of one item of a batch write.
type ItemStatus string

// Batch item outcomes.
const (
	ItemCreated  ItemStatus = "created"
	ItemConflict ItemStatus = "conflict" // EnOS 11702: deviceKey exists
	ItemQuota    ItemStatus = "quota"    // EnOS 11739: product device limit
)

// ItemResult is the result of one item of a batch, in request order.
type ItemResult struct {
	Index  int
	Status ItemStatus
	ID     string // assetId / invocation id of the stored (or attempted) item
	Key    string // deviceKey / instance id
	Err    error  // ErrConflict or *QuotaError when Status is not ItemCreated
}

// ---- IoTDA provisioned devices ----

// IoTDADevice is a device registered by IoTDA pre-provisioning.
type IoTDADevice struct {
	ProjectID  string
	InstanceID string
	DeviceID   string
	NodeID     string // unique per (project, instance)
	DeviceName string
	ProductID  string
	Tags       []Tag
	PolicyIDs  []string
	CreatedAt  time.Time
}

// IoTDADeviceFilter selects provisioned devices.
type IoTDADeviceFilter struct {
	ProjectID  string
	InstanceID string
	ProductID  string
	NodeID     string
	Page
}

// ---- CES agent invocations ----

// RemoteInstallMeta is a CES RemoteInstallHostInfo.
type RemoteInstallMeta struct {
	InstanceName string `json:"instance_name,omitempty"`
	RemoteIP     string `json:"remote_ip,omitempty"`
	UserName     string `json:"user_name,omitempty"`
	Port         string `json:"port,omitempty"`
	Password     string `json:"password,omitempty"` // secret: encrypted at rest
	RemoteUsePEM bool   `json:"remote_use_pem,omitempty"`
}

// AgentInvocation is a CES agent maintenance task.
type AgentInvocation struct {
	InvocationID     string
	ProjectID        string
	InstanceID       string
	InstanceName     string
	InstanceType     string
	IntranetIP       string
	ElasticIPs       []string
	CurrentVersion   string
	TargetVersion    string
	InvocationType   string
	InvocationStatus string
	InvocationTarget string
	RemoteInstall    *RemoteInstallMeta
	CreateTime       time.Time
	UpdateTime       time.Time
}

// The CES values behind the store's one invocation rule: at most one
// INSTALL task per (project, instance) is PENDING or RUNNING at a time.
const (
	InvocationInstall = "INSTALL"
	InvocationPending = "PENDING"
	InvocationRunning = "RUNNING"
	InvocationTimeout = "TIMEOUT"
)

// InstallInProgress reports whether v is an INSTALL task that holds its
// instance: PENDING or RUNNING.
func (v *AgentInvocation) InstallInProgress() bool {
	return v.InvocationType == InvocationInstall && (v.InvocationStatus == InvocationPending || v.InvocationStatus == InvocationRunning)
}

// InvocationFilter holds the CES list filters.
type InvocationFilter struct {
	ProjectID        string
	InstanceID       string
	InstanceType     string
	InvocationID     string
	InvocationType   string
	InvocationTarget string
	Statuses         []string // optional: any of these invocation statuses
	Page
}

// ---- CBR agents ----

// Path status values.
const (
	PathAvailable = "available"
	PathRemove    = "remove"
)

// AgentPath is a backup path of a CBR agent.
type AgentPath struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	AgentID string `json:"agent_id"`
	DirPath string `json:"dir_path"`
}

// Agent is a CBR client. AgentID is unique per project.
type Agent struct {
	AgentID        string
	ProjectID      string
	HostName       string
	HostIP         string
	HostOS         string
	HostNickname   string
	AgentVersion   string
	AgentType      string
	Status         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastActiveTime time.Time
	Paths          []AgentPath
}

// AgentFilter holds the CBR list filters.
type AgentFilter struct {
	ProjectID string
	AgentID   string
	Status    string
	Page
}

// PathEdit is what AddAgentPaths or RemoveAgentPaths did, path by path.
// The store decides it inside the transaction that writes the paths, so
// two concurrent requests can never both report the same path as changed.
type PathEdit struct {
	Agent     *Agent   // the agent after the edit
	Changed   []string // added (or removed), in request order
	Unchanged []string // already active (or not active): nothing to do
}

// ---- credentials and idempotency ----

// Token is an API token. Only its SHA-256 hash is stored. A token has
// exactly one scope: a Huawei project (ProjectID) or an EnOS org (OrgID, with
// the service account it acts as in AccountID); CheckScope enforces it.
type Token struct {
	Hash      string // hex SHA-256 of the token, set by the store
	ProjectID string // Huawei project tokens; "" for EnOS tokens
	OrgID     string // EnOS tokens; "" for Huawei project tokens
	AccountID string // EnOS service account of an org token; "" for project tokens
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires; else GetToken refuses it from then on
}

// CheckScope rejects a token that names both a project and an org, or
// neither: GetToken's caller authorises by the one scope that is set, so an
// ambiguous token must never be stored.
func (t *Token) CheckScope() error {
	if (t.ProjectID == "") == (t.OrgID == "") {
		return fmt.Errorf("store: a token must be scoped to exactly one of a project or an org (ProjectID %q, OrgID %q)", t.ProjectID, t.OrgID)
	}
	return nil
}

// Expired reports whether the token is no longer valid at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(now)
}

// AccessKey is an AK/SK pair; SecretKey is encrypted at rest.
type AccessKey struct {
	AccessKeyID string
	SecretKey   string
	ProjectID   string
	CreatedAt   time.Time
}

// ServiceAccount is an EnOS service account with its RSA public key.
type ServiceAccount struct {
	OrgID        string
	AccountID    string
	PublicKeyPEM string // "" when the account has no key (requireSecret gets 11858)
	CreatedAt    time.Time
	KeyUpdatedAt time.Time // when PublicKeyPEM was last set, by create or rotation; zero without a key
	// DeviceAccessDenied: the account is not authorized the "Device
	// Management Service Full Access" policy the EnOS device APIs require
	// (they answer 99403). The zero value is authorized.
	DeviceAccessDenied bool
}

// IdempotencyState is where a retry key stands.
type IdempotencyState string

// Idempotency states.
const (
	// IdempotencyPending: a request holds the key and is doing the work; its
	// Owner keeps the lease alive until it completes or releases the key.
	IdempotencyPending IdempotencyState = "pending"
	// IdempotencyCompleted: the response is stored; retries replay it.
	IdempotencyCompleted IdempotencyState = "completed"
)

// IdempotencyClaim names a retry key and the request that wants it.
type IdempotencyClaim struct {
	Scope       string // who may see the key: a project or an org's service account, and the operation
	Key         string // the client's Idempotency-Key
	RequestHash string // hex SHA-256 of the request; a retry must match it
	Owner       string // unique per request attempt: the holder of a pending key
	// Lease is how long the key stays held without a renewal. A holder
	// that dies frees the key when its lease runs out.
	Lease time.Duration
}

// IdempotencyRecord is the stored state of a (scope, key) retry key: a
// reservation while Pending, the response once Completed. Body is sealed
// at rest like every other secret (it may hold private keys and device
// secrets); the store opens it on read.
type IdempotencyRecord struct {
	Scope        string
	Key          string
	RequestHash  string
	State        IdempotencyState
	Owner        string    // the holder while Pending
	LeaseExpires time.Time // while Pending: the holder is presumed dead from then on
	Status       int       // Completed: the response's HTTP status
	ContentType  string    // of Body, so the replay carries the same header
	Body         []byte
	CreatedAt    time.Time
}

// HashToken is the stored form of an API token (hex SHA-256).
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
