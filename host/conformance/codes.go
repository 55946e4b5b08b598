package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
)

// Failure is a kind of failure a check provokes. A server answers each
// kind with one error code per service.
type Failure string

const (
	Invalid          Failure = "invalid"           // 400: the request breaks a documented rule
	Unauthenticated  Failure = "unauthenticated"   // 401: no or a bad credential
	Forbidden        Failure = "forbidden"         // 403: another project's (or org's) route
	NotFound         Failure = "not-found"         // 404
	Conflict         Failure = "conflict"          // 409: it exists already
	Quota            Failure = "quota"             // 400 or 403: a documented limit
	IdempotencyReuse Failure = "idempotency-reuse" // 422: an Idempotency-Key reused for another request
	// ItemInvalid is the per-item error_code of a CES batch item that
	// breaks a rule (the seed fixes only its form, "invocationmgr." and
	// four digits).
	ItemInvalid Failure = "item-invalid"
)

var failures = []Failure{Invalid, Unauthenticated, Forbidden, NotFound, Conflict, Quota, IdempotencyReuse, ItemInvalid}

// failureStatus is the HTTP statuses of each kind; EnOS may also answer
// Invalid, Forbidden and NotFound in its envelope with HTTP 200.
var failureStatus = map[Failure][]int{
	Invalid: {http.StatusBadRequest}, Unauthenticated: {http.StatusUnauthorized}, Forbidden: {http.StatusForbidden},
	NotFound: {http.StatusNotFound}, Conflict: {http.StatusConflict}, Quota: {http.StatusBadRequest, http.StatusForbidden},
	IdempotencyReuse: {http.StatusUnprocessableEntity},
}

// CodeBook names the error code a server answers for each kind of
// failure, by service ("ief", "iotda", "ces", "cbr", "enos"): the
// error_code of Huawei routes, the decimal code of EnOS. The seeds name no
// Huawei codes, so every Huawei-style server has a book of its own; a
// kind the book leaves out is held to the service's code family and to
// consistency only. Whatever the book says, EnOS's Invalid is 99400 (the
// seed's code) and every kind must get one code per service throughout a
// run.
type CodeBook map[string]map[Failure]string

// OnboardCodes is onboard's code book (host/api/errors.go, listed in the
// README): the default of Target.Codes.
func OnboardCodes() CodeBook {
	gateway := "APIGW.0301" // the API gateway's, in front of every service
	return CodeBook{
		"ief": {Invalid: "IEF.100001", Unauthenticated: gateway, Forbidden: "IEF.100003", NotFound: "IEF.100011",
			Conflict: "IEF.100012", Quota: "IEF.100013", IdempotencyReuse: "IEF.100422"},
		"iotda": {Invalid: "IOTDA.000006", Unauthenticated: gateway, Forbidden: "IOTDA.000004", NotFound: "IOTDA.014000",
			Conflict: "IOTDA.014006", Quota: "IOTDA.014016", IdempotencyReuse: "IOTDA.000422"},
		"ces": {Invalid: "ces.0014", Unauthenticated: gateway, Forbidden: "ces.0003", NotFound: "ces.0004",
			Conflict: "ces.0009", Quota: "ces.0015", IdempotencyReuse: "ces.0422", ItemInvalid: "invocationmgr.0400"},
		"cbr": {Invalid: "BackupService.0001", Unauthenticated: gateway, Forbidden: "BackupService.0003",
			NotFound: "BackupService.0004", Conflict: "BackupService.0009", Quota: "BackupService.0015",
			IdempotencyReuse: "BackupService.0422"},
		"enos": {Invalid: "99400", Unauthenticated: "99401", Forbidden: "99403", NotFound: "99404", IdempotencyReuse: "99400"},
	}
}

// ReadCodeBook reads a code book from JSON: {"iotda":{"invalid":
// "IOTDA.000006", …}, …}, with the services and kinds of failure named as
// in CodeBook and Failure.
func ReadCodeBook(b []byte) (CodeBook, error) {
	var book CodeBook
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&book); err != nil {
		return nil, fmt.Errorf("code book: %w", err)
	}
	if book == nil {
		book = CodeBook{}
	}
	return book, book.validate()
}

func (b CodeBook) validate() error {
	var errs []error
	for svc, kinds := range b {
		if _, ok := codeFamily[svc]; !ok {
			errs = append(errs, fmt.Errorf("code book: unknown service %q (want one of ief, iotda, ces, cbr, enos)", svc))
		}
		for f, code := range kinds {
			switch {
			case !slices.Contains(failures, f):
				errs = append(errs, fmt.Errorf("code book: %s: unknown kind of failure %q (want one of %v)", svc, f, failures))
			case code == "":
				errs = append(errs, fmt.Errorf("code book: %s: %s: empty code", svc, f))
			case svc == "enos":
				if _, err := strconv.Atoi(code); err != nil {
					errs = append(errs, fmt.Errorf("code book: enos: %s: %q is not a number", f, code))
				}
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// Huawei error codes have the form SERVICE.digits. Authentication is
// answered by the API gateway in front of every service (APIGW.*), the
// rest by the service with its own prefix. A book's code is checked
// exactly; these families hold where the book is silent.
var (
	gatewayCode = regexp.MustCompile(`^APIGW\.[0-9]+$`)
	codeFamily  = map[string]*regexp.Regexp{
		"ief":   regexp.MustCompile(`^IEF\.[0-9]+$`),
		"iotda": regexp.MustCompile(`^IOTDA\.[0-9]+$`),
		"ces":   regexp.MustCompile(`^ces\.[0-9]+$`),
		"cbr":   regexp.MustCompile(`^BackupService\.[0-9]+$`),
		"enos":  regexp.MustCompile(`^[1-9][0-9]*$`),
	}
	cesItemCode = regexp.MustCompile(`^invocationmgr\.[0-9]{4}$`)
)

// seenCode is the first code a run saw for one service and kind.
type seenCode struct{ code, check string }

// judgeCode checks the code a server answered for a failure of kind f on
// service svc: the book's code, else the family, and the same code as
// every earlier answer of that kind.
func (r *runner) judgeCode(svc string, f Failure, code string) error {
	want := r.codes[svc][f]
	if svc == "enos" && f == Invalid {
		want = strconv.Itoa(enosInvalid)
	}
	switch {
	case want != "" && code != want:
		return fmt.Errorf("error code %s, want %s for %s failures of %s (%s)", code, want, f, svc, r.codeSource(svc, f))
	case want == "":
		family := codeFamily[svc]
		if f == Unauthenticated && svc != "enos" {
			family = gatewayCode
		}
		if f == ItemInvalid {
			family = cesItemCode
		}
		if family != nil && !family.MatchString(code) {
			return fmt.Errorf("error code %q of %s is not of its family %s", code, svc, family)
		}
	}
	key := svc + "/" + string(f)
	if first, ok := r.seen[key]; ok && first.code != code {
		return fmt.Errorf("error code %s for %s failures of %s, but %s got %s: one code per kind of failure per service",
			code, f, svc, first.check, first.code)
	} else if !ok {
		r.seen[key] = seenCode{code, r.current}
	}
	return nil
}

func (r *runner) codeSource(svc string, f Failure) string {
	if svc == "enos" && f == Invalid {
		return "the EnOS documentation's 99400"
	}
	return "Target.Codes"
}
