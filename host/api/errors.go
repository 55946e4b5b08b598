package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/store"
)

// Error is an API error: the HTTP status, the service-style code and a
// message that says what to fix. Huawei routes render it as
// {"error_code","error_msg"}, EnOS routes as {"code","msg","requestId"}.
type Error struct {
	Status  int
	Code    string // Huawei-style code, e.g. "IOTDA.000006"
	EnOS    int    // EnOS code, e.g. 99400 (EnOS routes only)
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// kind is what went wrong, independent of the service's code book.
type kind int

const (
	kindInvalid          kind = iota // 400: the request breaks a documented rule
	kindAuth                         // 401: missing or bad credentials
	kindForbidden                    // 403: credentials valid, scope wrong
	kindNotFound                     // 404
	kindConflict                     // 409
	kindTooLarge                     // 413
	kindQuota                        // 400/403 per service: a documented limit
	kindInternal                     // 500
	kindUnavailable                  // 503: the engine or the store is down
	kindIdempotencyReuse             // 422: Idempotency-Key reused with another body
	kindHookDenied                   // 403: an operator's registration hook denied the request
	kindMethodNotAllowed             // 405: the path is served, but not with this method
	kindIdempotencyBusy              // 409: another request holds the Idempotency-Key (with Retry-After)
	kindMediaType                    // 415: the body is not JSON in UTF-8
	kindOverloaded                   // 429: the request's admission lane is full (with Retry-After)
)

var kindStatus = map[kind]int{
	kindInvalid: http.StatusBadRequest, kindAuth: http.StatusUnauthorized, kindForbidden: http.StatusForbidden,
	kindNotFound: http.StatusNotFound, kindConflict: http.StatusConflict, kindTooLarge: http.StatusRequestEntityTooLarge,
	kindQuota: http.StatusBadRequest, kindInternal: http.StatusInternalServerError,
	kindUnavailable: http.StatusServiceUnavailable, kindIdempotencyReuse: http.StatusUnprocessableEntity,
	kindHookDenied: http.StatusForbidden, kindMethodNotAllowed: http.StatusMethodNotAllowed,
	kindIdempotencyBusy: http.StatusConflict,
	kindMediaType:       http.StatusUnsupportedMediaType,
	kindOverloaded:      http.StatusTooManyRequests,
}

// hookDeniedCodes are onboard's own codes for a registration hook's deny
// (kindHookDenied), apart from the scope 403s so clients can tell them
// apart.
var hookDeniedCodes = map[string]string{
	"ief": "IEF.100403", "iotda": "IOTDA.000403", "ces": "ces.0403", "cbr": "BackupService.0403",
}

// codes is each service's code book. Authentication failures use the API
// gateway's codes (APIGW.*) as Huawei Cloud's gateway does in front of every
// service; the rest are service-style codes of onboard's own, listed in the
// README, since the seeds name no codes.
var codes = map[string]map[kind]string{
	"ief": {kindInvalid: "IEF.100001", kindForbidden: "IEF.100003", kindNotFound: "IEF.100011",
		kindConflict: "IEF.100012", kindQuota: "IEF.100013", kindTooLarge: "IEF.100014", kindInternal: "IEF.100500",
		kindUnavailable: "IEF.100503", kindIdempotencyReuse: "IEF.100422", kindMethodNotAllowed: "IEF.100405",
		kindIdempotencyBusy: "IEF.100409", kindMediaType: "IEF.100415", kindOverloaded: "IEF.100429"},
	"iotda": {kindInvalid: "IOTDA.000006", kindForbidden: "IOTDA.000004", kindNotFound: "IOTDA.014000",
		kindConflict: "IOTDA.014006", kindQuota: "IOTDA.014016", kindTooLarge: "IOTDA.000007", kindInternal: "IOTDA.000500",
		kindUnavailable: "IOTDA.000503", kindIdempotencyReuse: "IOTDA.000422", kindMethodNotAllowed: "IOTDA.000405",
		kindIdempotencyBusy: "IOTDA.000409", kindMediaType: "IOTDA.000415", kindOverloaded: "IOTDA.000429"},
	"ces": {kindInvalid: "ces.0014", kindForbidden: "ces.0003", kindNotFound: "ces.0004",
		kindConflict: "ces.0009", kindQuota: "ces.0015", kindTooLarge: "ces.0016", kindInternal: "ces.0500",
		kindUnavailable: "ces.0503", kindIdempotencyReuse: "ces.0422", kindMethodNotAllowed: "ces.0405",
		kindIdempotencyBusy: "ces.0409", kindMediaType: "ces.0415", kindOverloaded: "ces.0429"},
	// onboard's own paths (/healthz, /metrics, /openapi.json, /docs) and
	// paths of no service: neutral codes in the Huawei shape.
	neutralService: {kindNotFound: "onboard.0404", kindMethodNotAllowed: "onboard.0405", kindInternal: "onboard.0500",
		kindUnavailable: "onboard.0503", kindOverloaded: "onboard.0429"},
	"cbr": {kindInvalid: "BackupService.0001", kindForbidden: "BackupService.0003", kindNotFound: "BackupService.0004",
		kindConflict: "BackupService.0009", kindQuota: "BackupService.0015", kindTooLarge: "BackupService.0016",
		kindInternal: "BackupService.0500", kindUnavailable: "BackupService.0503", kindIdempotencyReuse: "BackupService.0422",
		kindMethodNotAllowed: "BackupService.0405", kindIdempotencyBusy: "BackupService.0409",
		kindMediaType: "BackupService.0415", kindOverloaded: "BackupService.0429"},
}

// neutralService is the error style of a path that belongs to no service.
const neutralService = "onboard"

// EnOS codes from the seed (11702, 11714, 11739, 11858, 99400) and the
// gateway's usual ones for auth. 11404 is not in the seed: it is the code
// EnOS documents for "Product cannot be found" in its Connection Service
// API (V2.1 Delete Product, https://support.enos-iot.com/docs/connection-api/zh_CN/2.4.4/oldversion/delete_product.html),
// the same service as batchCreate; onboard answers it per item for a
// device whose productKey is not a product of the org.
const (
	enosOK              = 0
	enosProductNotFound = 11404
	enosDeviceKeyTaken  = 11702
	enosKeyGenFailed    = 11714
	enosProductFull     = 11739
	enosNoPublicKey     = 11858
	enosInvalid         = 99400
	enosAuth            = 99401
	enosForbidden       = 99403
	enosNotFound        = 99404
	enosMethod          = 99405
	enosBusy            = 99409
	enosMediaType       = 99415
	enosOverloaded      = 99429
	enosInternal        = 99500
)

var enosKind = map[kind]int{
	kindInvalid: enosInvalid, kindAuth: enosAuth, kindForbidden: enosForbidden, kindNotFound: enosNotFound,
	kindConflict: enosDeviceKeyTaken, kindTooLarge: enosInvalid, kindQuota: enosProductFull,
	kindInternal: enosInternal, kindUnavailable: enosInternal, kindIdempotencyReuse: enosInvalid,
	kindHookDenied: enosForbidden, kindMethodNotAllowed: enosMethod, kindIdempotencyBusy: enosBusy,
	kindMediaType: enosMediaType, kindOverloaded: enosOverloaded,
}

// newError builds the error of kind k for service svc.
func newError(svc string, k kind, format string, args ...any) *Error {
	e := &Error{Status: kindStatus[k], Message: fmt.Sprintf(format, args...)}
	switch {
	case k == kindAuth:
		e.Code = "APIGW.0301"
	case svc == "enos":
		e.EnOS = enosKind[k]
	case k == kindHookDenied:
		e.Code = hookDeniedCodes[svc]
	default:
		e.Code = codes[svc][k]
	}
	if svc == "enos" && e.EnOS == 0 {
		e.EnOS = enosKind[k]
	}
	return e
}

// invalid turns engine violations into a 400 that lists every rule broken,
// so a client fixes them all in one round trip.
func invalid(svc string, res *abi.Result) *Error {
	vs := res.Violations
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, violationText(v))
	}
	return newError(svc, kindInvalid, "%s", strings.Join(parts, "; "))
}

// violationText renders an engine violation for a client. The engine
// bounds the values its messages quote; the pointer holds the client's
// member names, so each segment is bounded here and control characters
// (a name with \u0000 that rule nul refused) are written as escapes: an
// error message must not carry what onboard refuses to store.
func violationText(v abi.Violation) string {
	segs := strings.Split(v.Pointer, "/")
	for i, seg := range segs {
		segs[i] = shortText(escapeControls(seg))
	}
	v.Pointer = strings.Join(segs, "/")
	return v.String()
}

func escapeControls(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxQuoted is how many bytes of a client's value a message echoes, as in
// the engine's messages.
const maxQuoted = 64

// quoteValue quotes a client's value for a message, cut after maxQuoted
// bytes (at a rune boundary) with its full length noted.
func quoteValue(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cutAt(s)]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// shortText is quoteValue for text shown unquoted (a pointer segment, a
// path).
func shortText(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:cutAt(s)] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func cutAt(s string) int {
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

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
