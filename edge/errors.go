// Package edge is what onboard's HTTP service (host/api) and its gateway
// filters (plugins/httpwasm, plugins/proxywasm) share about a request
// before and around the engine: the catalogue's routes, the checks of a
// request's framing (headers given once, body size, media type), the
// parameter object the engine validates, and the service errors with
// their one rendering. So `onboard serve` and a filter at the edge answer
// a bad request with the same status, the same error shape and the same
// code.
//
// It imports the standard library, abi and schemas only (no net/http), so
// that a Wasm guest can link it. It must hold no rule of the engine (those
// are in the schemas and plugins/engine) and no policy of the host
// (authentication, storage).
package edge

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/onboardhq/onboard/abi"
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

// Kind is what went wrong, independent of the service's code book.
type Kind int

const (
	Invalid          Kind = iota // 400: the request breaks a documented rule
	Auth                         // 401: missing or bad credentials
	Forbidden                    // 403: credentials valid, scope wrong
	NotFound                     // 404
	Conflict                     // 409
	TooLarge                     // 413
	Quota                        // 400/403 per service: a documented limit
	Internal                     // 500
	Unavailable                  // 503: the engine or the store is down
	IdempotencyReuse             // 422: Idempotency-Key reused with another body
	HookDenied                   // 403: an operator's registration hook denied the request
	MethodNotAllowed             // 405: the path is served, but not with this method
	IdempotencyBusy              // 409: another request holds the Idempotency-Key (with Retry-After)
	MediaType                    // 415: the body is not JSON in UTF-8
	Overloaded                   // 429: the request's admission lane is full (with Retry-After)
)

var kindStatus = map[Kind]int{
	Invalid: 400, Auth: 401, Forbidden: 403, NotFound: 404, Conflict: 409, TooLarge: 413,
	Quota: 400, Internal: 500, Unavailable: 503, IdempotencyReuse: 422,
	HookDenied: 403, MethodNotAllowed: 405, IdempotencyBusy: 409, MediaType: 415, Overloaded: 429,
}

// hookDeniedCodes are onboard's own codes for a registration hook's deny
// (HookDenied), apart from the scope 403s so clients can tell them apart.
var hookDeniedCodes = map[string]string{
	"ief": "IEF.100403", "iotda": "IOTDA.000403", "ces": "ces.0403", "cbr": "BackupService.0403",
}

// codes is each service's code book. Authentication failures use the API
// gateway's codes (APIGW.*) as Huawei Cloud's gateway does in front of every
// service; the rest are service-style codes of onboard's own, listed in the
// README, since the seeds name no codes.
var codes = map[string]map[Kind]string{
	"ief": {Invalid: "IEF.100001", Forbidden: "IEF.100003", NotFound: "IEF.100011",
		Conflict: "IEF.100012", Quota: "IEF.100013", TooLarge: "IEF.100014", Internal: "IEF.100500",
		Unavailable: "IEF.100503", IdempotencyReuse: "IEF.100422", MethodNotAllowed: "IEF.100405",
		IdempotencyBusy: "IEF.100409", MediaType: "IEF.100415", Overloaded: "IEF.100429"},
	"iotda": {Invalid: "IOTDA.000006", Forbidden: "IOTDA.000004", NotFound: "IOTDA.014000",
		Conflict: "IOTDA.014006", Quota: "IOTDA.014016", TooLarge: "IOTDA.000007", Internal: "IOTDA.000500",
		Unavailable: "IOTDA.000503", IdempotencyReuse: "IOTDA.000422", MethodNotAllowed: "IOTDA.000405",
		IdempotencyBusy: "IOTDA.000409", MediaType: "IOTDA.000415", Overloaded: "IOTDA.000429"},
	"ces": {Invalid: "ces.0014", Forbidden: "ces.0003", NotFound: "ces.0004",
		Conflict: "ces.0009", Quota: "ces.0015", TooLarge: "ces.0016", Internal: "ces.0500",
		Unavailable: "ces.0503", IdempotencyReuse: "ces.0422", MethodNotAllowed: "ces.0405",
		IdempotencyBusy: "ces.0409", MediaType: "ces.0415", Overloaded: "ces.0429"},
	// onboard's own paths (/healthz, /metrics, /openapi.json, /docs) and
	// paths of no service: neutral codes in the Huawei shape.
	NeutralService: {NotFound: "onboard.0404", MethodNotAllowed: "onboard.0405", Internal: "onboard.0500",
		Unavailable: "onboard.0503", Overloaded: "onboard.0429"},
	"cbr": {Invalid: "BackupService.0001", Forbidden: "BackupService.0003", NotFound: "BackupService.0004",
		Conflict: "BackupService.0009", Quota: "BackupService.0015", TooLarge: "BackupService.0016",
		Internal: "BackupService.0500", Unavailable: "BackupService.0503", IdempotencyReuse: "BackupService.0422",
		MethodNotAllowed: "BackupService.0405", IdempotencyBusy: "BackupService.0409",
		MediaType: "BackupService.0415", Overloaded: "BackupService.0429"},
}

// NeutralService is the error style of a path that belongs to no service.
const NeutralService = "onboard"

// EnOS codes from the seed (11702, 11714, 11739, 11858, 99400) and the
// gateway's usual ones for auth. 11404 is not in the seed: it is the code
// EnOS documents for "Product cannot be found" in its Connection Service
// API (V2.1 Delete Product, https://support.enos-iot.com/docs/connection-api/zh_CN/2.4.4/oldversion/delete_product.html),
// the same service as batchCreate; onboard answers it per item for a
// device whose productKey is not a product of the org.
const (
	EnOSOK              = 0
	EnOSProductNotFound = 11404
	EnOSDeviceKeyTaken  = 11702
	EnOSKeyGenFailed    = 11714
	EnOSProductFull     = 11739
	EnOSNoPublicKey     = 11858
	EnOSInvalid         = 99400
	EnOSAuth            = 99401
	EnOSForbidden       = 99403
	EnOSNotFound        = 99404
	EnOSMethod          = 99405
	EnOSBusy            = 99409
	EnOSMediaType       = 99415
	EnOSOverloaded      = 99429
	EnOSInternal        = 99500
)

var enosKind = map[Kind]int{
	Invalid: EnOSInvalid, Auth: EnOSAuth, Forbidden: EnOSForbidden, NotFound: EnOSNotFound,
	Conflict: EnOSDeviceKeyTaken, TooLarge: EnOSInvalid, Quota: EnOSProductFull,
	Internal: EnOSInternal, Unavailable: EnOSInternal, IdempotencyReuse: EnOSInvalid,
	HookDenied: EnOSForbidden, MethodNotAllowed: EnOSMethod, IdempotencyBusy: EnOSBusy,
	MediaType: EnOSMediaType, Overloaded: EnOSOverloaded,
}

// New builds the error of kind k for service svc.
func New(svc string, k Kind, format string, args ...any) *Error {
	e := &Error{Status: kindStatus[k], Message: fmt.Sprintf(format, args...)}
	switch {
	case k == Auth:
		e.Code = "APIGW.0301"
	case svc == "enos":
		e.EnOS = enosKind[k]
	case k == HookDenied:
		e.Code = hookDeniedCodes[svc]
	default:
		e.Code = codes[svc][k]
	}
	if svc == "enos" && e.EnOS == 0 {
		e.EnOS = enosKind[k]
	}
	return e
}

// Body renders e in service svc's error shape: EnOS
// {"code","msg","requestId"}, Huawei {"error_code","error_msg"}.
func Body(svc string, e *Error, requestID string) []byte {
	var body []byte
	if svc == "enos" {
		body, _ = json.Marshal(map[string]any{"code": e.EnOS, "msg": e.Message, "requestId": requestID})
	} else {
		body, _ = json.Marshal(map[string]string{"error_code": e.Code, "error_msg": e.Message})
	}
	return body
}

// ContentType is the media type of every answer, errors included.
const ContentType = "application/json;charset=UTF-8"

// Challenge is the WWW-Authenticate value of service svc's 401s.
func Challenge(svc string) string {
	if svc == "enos" {
		return "Bearer"
	}
	return "X-Auth-Token, SDK-HMAC-SHA256"
}

// FromResult turns engine violations into a 400 that lists every rule
// broken, so a client fixes them all in one round trip.
func FromResult(svc string, res *abi.Result) *Error {
	vs := res.Violations
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, ViolationText(v))
	}
	return New(svc, Invalid, "%s", strings.Join(parts, "; "))
}

// ViolationText renders an engine violation for a client. The engine
// bounds the values its messages quote; the pointer holds the client's
// member names, so each segment is bounded here and control characters
// (a name with \u0000 that rule nul refused) are written as escapes: an
// error message must not carry what onboard refuses to store.
func ViolationText(v abi.Violation) string {
	segs := strings.Split(v.Pointer, "/")
	for i, seg := range segs {
		segs[i] = ShortText(escapeControls(seg))
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

// QuoteValue quotes a client's value for a message, cut after maxQuoted
// bytes (at a rune boundary) with its full length noted.
func QuoteValue(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cutAt(s)]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// ShortText is QuoteValue for text shown unquoted (a pointer segment, a
// path).
func ShortText(s string) string {
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
