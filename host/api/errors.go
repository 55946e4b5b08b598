package api

import (
	"errors"
	"fmt"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host/store"
)

// Error is an API error (package edge owns it and its rendering, which
// the gateway filters share).
type Error = edge.Error

// kind is what went wrong, independent of the service's code book.
type kind = edge.Kind

const (
	kindInvalid          = edge.Invalid
	kindAuth             = edge.Auth
	kindForbidden        = edge.Forbidden
	kindNotFound         = edge.NotFound
	kindConflict         = edge.Conflict
	kindTooLarge         = edge.TooLarge
	kindQuota            = edge.Quota
	kindInternal         = edge.Internal
	kindUnavailable      = edge.Unavailable
	kindIdempotencyReuse = edge.IdempotencyReuse
	kindHookDenied       = edge.HookDenied
	kindMethodNotAllowed = edge.MethodNotAllowed
	kindIdempotencyBusy  = edge.IdempotencyBusy
	kindMediaType        = edge.MediaType
	kindOverloaded       = edge.Overloaded
)

// neutralService is the error style of a path that belongs to no service.
const neutralService = edge.NeutralService

// EnOS codes (package edge).
const (
	enosOK              = edge.EnOSOK
	enosProductNotFound = edge.EnOSProductNotFound
	enosDeviceKeyTaken  = edge.EnOSDeviceKeyTaken
	enosKeyGenFailed    = edge.EnOSKeyGenFailed
	enosProductFull     = edge.EnOSProductFull
	enosNoPublicKey     = edge.EnOSNoPublicKey
	enosInvalid         = edge.EnOSInvalid
)

// newError builds the error of kind k for service svc.
func newError(svc string, k kind, format string, args ...any) *Error {
	return edge.New(svc, k, format, args...)
}

// invalid turns engine violations into a 400 that lists every rule broken.
func invalid(svc string, res *abi.Result) *Error { return edge.FromResult(svc, res) }

var (
	violationText = edge.ViolationText
	quoteValue    = edge.QuoteValue
	shortText     = edge.ShortText
)

// storeError maps the store's sentinel errors to API errors.
func storeError(svc string, err error, what string) error {
	var q *store.QuotaError
	switch {
	case errors.As(err, &q):
		return newError(svc, kindQuota, "%s: the limit of %d is reached for %s", what, q.Limit, q.Scope)
	case errors.Is(err, store.ErrNotFound):
		return newError(svc, kindNotFound, "%s not found", what)
	case errors.Is(err, store.ErrConflict):
		return newError(svc, kindConflict, "%s already exists", what)
	}
	// Not an *Error: fail() logs the cause with the request id and answers
	// 500 without leaking it.
	return fmt.Errorf("store: %s: %w", what, err)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
