package store

import "github.com/onboardhq/onboard/host/store/internal/model"

// The records, filters and errors live in an internal package so that the
// adapters can use them while this package imports the adapters; these
// aliases are the public names.

// Sentinel errors: test with errors.Is.
var (
	ErrNotFound = model.ErrNotFound
	ErrConflict = model.ErrConflict
	ErrQuota    = model.ErrQuota
	// ErrInstallInProgress: a CES INSTALL task for an instance that has one
	// PENDING or RUNNING; the error matches ErrConflict too.
	ErrInstallInProgress = model.ErrInstallInProgress
)

// Quota names carried by QuotaError.Quota.
const (
	QuotaTemplatesPerInstance = model.QuotaTemplatesPerInstance
	QuotaDevicesPerProduct    = model.QuotaDevicesPerProduct
)

// Batch item outcomes.
const (
	ItemCreated  = model.ItemCreated
	ItemConflict = model.ItemConflict
	ItemQuota    = model.ItemQuota
)

// CBR path statuses.
const (
	PathAvailable = model.PathAvailable
	PathRemove    = model.PathRemove
)

type (
	QuotaError           = model.QuotaError
	Page                 = model.Page
	Product              = model.Product
	ProductAttribute     = model.ProductAttribute
	ProductMetadata      = model.ProductMetadata
	Tag                  = model.Tag
	ProductFilter        = model.ProductFilter
	ProvisioningTemplate = model.ProvisioningTemplate
	TemplateFilter       = model.TemplateFilter
	TemplatePage         = model.TemplatePage
	DeviceCA             = model.DeviceCA
	DeviceCAFilter       = model.DeviceCAFilter
	I18nString           = model.I18nString
	EnosDevice           = model.EnosDevice
	DeviceFilter         = model.DeviceFilter
	ItemStatus           = model.ItemStatus
	ItemResult           = model.ItemResult
	IoTDADevice          = model.IoTDADevice
	IoTDADeviceFilter    = model.IoTDADeviceFilter
	RemoteInstallMeta    = model.RemoteInstallMeta
	AgentInvocation      = model.AgentInvocation
	InvocationFilter     = model.InvocationFilter
	AgentPath            = model.AgentPath
	Agent                = model.Agent
	AgentFilter          = model.AgentFilter
	Token                = model.Token
	AccessKey            = model.AccessKey
	ServiceAccount       = model.ServiceAccount
	IdempotencyRecord    = model.IdempotencyRecord
)

// HashToken is the stored form of an API token (hex SHA-256).
func HashToken(token string) string { return model.HashToken(token) }
