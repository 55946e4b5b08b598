// Package conformance is onboard's conformance kit: it runs the
// schema-driven case corpus (testdata/cases, embedded) and a set of
// behavioural checks against any server that claims the five registration
// APIs, and reports every check by a stable name, such as
// "cbr.agent.register/ok-doc-example" or
// "iotda.provisioning-template.create/quota-10-per-instance".
//
// Use Run from a Go test, or Check (what `onboard conform` calls) anywhere
// else. The kit is a black-box client: it talks HTTP only (with an AK/SK
// signer of its own), judges response bodies with the native engine's
// ":response" validation, and must not reach into a server's store. It
// imports only the standard library, the schemas and the engine: never
// the server (host/api), a store or an SQL driver. It creates what it
// needs under names unique to the run, so a server that already holds
// data can be checked, and deletes what it can afterwards.
package conformance

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onboardhq/onboard/schemas"
)

// Target is the server under test and the credentials to use.
//
// Huawei routes need Project and one credential for it: Token
// (X-Auth-Token) or AK and SK (SDK-HMAC-SHA256 signing). EnOS routes need
// EnOSOrg and EnOSToken (Authorization: Bearer, a service-account token).
// A service whose credentials are missing is skipped, and so are the
// checks whose setup is missing (a second project, an EnOS account
// without a key, …), each saying what to give.
type Target struct {
	BaseURL string // e.g. http://127.0.0.1:8080

	Project string // project id of Token or AK/SK
	Token   string
	AK, SK  string

	// A second project, for isolation checks: ProjectB alone enables the
	// "A's credential on B's route" checks; with ProjectBToken (or
	// ProjectBAK/SK) the kit also checks that B cannot see A's resources.
	ProjectB               string
	ProjectBToken          string
	ProjectBAK, ProjectBSK string

	EnOSOrg, EnOSToken string
	// EnOSPrivateKey is the private key of EnOSToken's service account,
	// whose public key the server holds. With it, requireSecret items must
	// succeed and their deviceSecret and sessionKey must decrypt
	// (RSA-OAEP-SHA256); without it, a requireSecret batch answered 11858
	// ("no public key") skips, as the kit cannot tell whether the
	// account has a key.
	EnOSPrivateKey *rsa.PrivateKey
	// EnOSTokenNoKey is a token of another service account of EnOSOrg,
	// one with no RSA public key: requireSecret must then get 11858.
	EnOSTokenNoKey string
	// EnOSTokenNoAccess is a token of a service account of EnOSOrg that is
	// not authorized the Device Management Service policy the document's
	// Operation Permissions require: batchCreate must get 99403 and write
	// nothing.
	EnOSTokenNoAccess string
	// EnOSProduct and EnOSQuotaProduct are product keys that exist in
	// EnOSOrg, for a server that creates devices only under existing
	// products, as onboard does. The checks' devices go under EnOSProduct
	// (a run adds about 1,100); the 10,000-devices-per-product check
	// (11739) fills EnOSQuotaProduct up to 10,000, so give a product of
	// its own; a device under a product that does not exist must get
	// 11404. Empty: the kit makes up fresh product keys each run (a server
	// that needs products refuses them).
	EnOSProduct, EnOSQuotaProduct string
	// EnOSBatchLimit is the org's limit of devices per batch; 0: the
	// documented default, 1,000.
	EnOSBatchLimit int

	// Codes is the server's code book: the error code it answers for
	// each kind of failure. nil: onboard's (OnboardCodes). An empty book
	// checks only each code's family and that each kind of failure gets
	// one code per service.
	Codes CodeBook

	// Extensions says the server has onboard's template extensions
	// (docs/templates.md): the corpus cases that use them (ok-ext-*) then
	// run; otherwise they SKIP, as a strict IoTDA server refuses them.
	Extensions bool

	HTTPClient *http.Client // nil: a client with a 30 s timeout
	// Only restricts the run to these operations (ids of the catalogue:
	// their checks are named after them) and single checks (full check
	// names, e.g. to run a failed one again). Empty: every check.
	Only []string
	// Skip reports the named checks as SKIP with the given reason instead
	// of running their verdict: for a server's known, documented
	// deviations. Unknown names are ignored.
	Skip map[string]string
}

// Validate reports a target the kit cannot run against.
func (t Target) Validate() error {
	var errs []error
	if t.BaseURL == "" || !(strings.HasPrefix(t.BaseURL, "http://") || strings.HasPrefix(t.BaseURL, "https://")) {
		errs = append(errs, fmt.Errorf("BaseURL must be an http:// or https:// URL, got %q", t.BaseURL))
	}
	if t.Token != "" && (t.AK != "" || t.SK != "") {
		errs = append(errs, errors.New("give Token or AK/SK, not both"))
	}
	if (t.AK == "") != (t.SK == "") {
		errs = append(errs, errors.New("AK and SK go together"))
	}
	if (t.Token != "" || t.AK != "") && t.Project == "" {
		errs = append(errs, errors.New("a project (Target.Project) is required with Token or AK/SK: it is the {project_id} of the routes"))
	}
	if (t.ProjectBToken != "" || t.ProjectBAK != "") && t.ProjectB == "" {
		errs = append(errs, errors.New("ProjectB is required with ProjectBToken or ProjectBAK/SK"))
	}
	if (t.ProjectBAK == "") != (t.ProjectBSK == "") {
		errs = append(errs, errors.New("ProjectBAK and ProjectBSK go together"))
	}
	if t.ProjectB != "" && t.ProjectB == t.Project {
		errs = append(errs, errors.New("ProjectB must differ from Project"))
	}
	if (t.EnOSOrg == "") != (t.EnOSToken == "") {
		errs = append(errs, errors.New("EnOSOrg and EnOSToken go together"))
	}
	if t.EnOSToken == "" && (t.EnOSPrivateKey != nil || t.EnOSTokenNoKey != "" || t.EnOSTokenNoAccess != "" || t.EnOSProduct != "" || t.EnOSQuotaProduct != "") {
		errs = append(errs, errors.New("the EnOS settings need EnOSToken and EnOSOrg"))
	}
	if t.EnOSTokenNoKey != "" && t.EnOSTokenNoKey == t.EnOSToken {
		errs = append(errs, errors.New("EnOSTokenNoKey must be another service account's token than EnOSToken"))
	}
	if t.EnOSTokenNoAccess != "" && (t.EnOSTokenNoAccess == t.EnOSToken || t.EnOSTokenNoAccess == t.EnOSTokenNoKey) {
		errs = append(errs, errors.New("EnOSTokenNoAccess must be the token of an account of its own"))
	}
	if t.EnOSQuotaProduct != "" && t.EnOSQuotaProduct == t.EnOSProduct {
		errs = append(errs, errors.New("EnOSQuotaProduct must differ from EnOSProduct: the 11739 check fills it to 10,000 devices"))
	}
	if (t.EnOSProduct == "") != (t.EnOSQuotaProduct == "") {
		errs = append(errs, errors.New("EnOSProduct and EnOSQuotaProduct go together"))
	}
	if err := t.Codes.validate(); err != nil {
		errs = append(errs, err)
	}
	if t.Token == "" && t.AK == "" && t.EnOSToken == "" {
		errs = append(errs, errors.New("no credentials: give Token or AK/SK (with Project) for Huawei routes, or EnOSToken and EnOSOrg"))
	}
	ops, _ := schemas.Catalogue()
	for _, name := range t.Only {
		id, _, _ := strings.Cut(name, "/")
		if !slices.ContainsFunc(ops, func(o schemas.Operation) bool { return o.ID == id }) {
			errs = append(errs, fmt.Errorf("unknown operation %q in Target.Only", id))
		}
	}
	return errors.Join(errs...)
}

// Status is a check's outcome.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is the outcome of one check.
type Result struct {
	Name     string // "<operation id>/<check>"
	Status   Status
	Detail   string // why it failed or was skipped; empty on PASS
	Duration time.Duration
}

// Op is the operation id the check exercises (the name up to "/").
func (r Result) Op() string { op, _, _ := strings.Cut(r.Name, "/"); return op }

// Report is the outcome of a run, in the order the checks ran.
type Report struct {
	Target   string
	Results  []Result
	Duration time.Duration
}

// Failed returns the failed checks.
func (r Report) Failed() []Result { return r.with(Fail) }

// Skipped returns the skipped checks.
func (r Report) Skipped() []Result { return r.with(Skip) }

// Passed returns the passed checks.
func (r Report) Passed() []Result { return r.with(Pass) }

func (r Report) with(s Status) []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Status == s {
			out = append(out, x)
		}
	}
	return out
}

// Result returns the named check's result.
func (r Report) Result(name string) (Result, bool) {
	for _, x := range r.Results {
		if x.Name == name {
			return x, true
		}
	}
	return Result{}, false
}

// Print writes one line per check ("PASS name", "FAIL name: detail",
// "SKIP name: reason") and a summary line.
func (r Report) Print(w io.Writer) {
	for _, x := range r.Results {
		if x.Detail == "" {
			fmt.Fprintf(w, "%s %s\n", x.Status, x.Name)
		} else {
			fmt.Fprintf(w, "%s %s: %s\n", x.Status, x.Name, x.Detail)
		}
	}
	fmt.Fprintln(w, r.Summary())
}

// Summary is "N passed, M failed, K skipped in D".
func (r Report) Summary() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped in %s", len(r.Passed()), len(r.Failed()), len(r.Skipped()),
		r.Duration.Round(time.Millisecond))
}

// Check runs the kit against target and returns the report; it never
// panics on a misbehaving server. An invalid target gives a report with a
// single failed check, "conformance/target".
func Check(ctx context.Context, target Target) Report {
	start := time.Now()
	rep := Report{Target: target.BaseURL}
	if err := target.Validate(); err != nil {
		rep.Results = []Result{{Name: "conformance/target", Status: Fail, Detail: err.Error()}}
		return rep
	}
	r, err := newRunner(ctx, target)
	if err != nil {
		rep.Results = []Result{{Name: "conformance/target", Status: Fail, Detail: err.Error()}}
		return rep
	}
	r.all()
	r.cleanup()
	rep.Results = r.results
	rep.Duration = time.Since(start)
	return rep
}

// Run runs the kit against target as subtests of t, one per check (the
// check's name, split at "/"): a failed check fails its subtest with the
// detail, a skipped one skips.
func Run(t *testing.T, target Target) Report {
	t.Helper()
	ctx := t.Context()
	rep := Check(ctx, target)
	for _, res := range rep.Results {
		t.Run(res.Name, func(t *testing.T) {
			switch res.Status {
			case Fail:
				t.Error(res.Detail)
			case Skip:
				t.Skip(res.Detail)
			}
		})
	}
	t.Logf("conformance %s: %s", target.BaseURL, rep.Summary())
	return rep
}
