// Command serial-allowlist is an onboard hook plug-in: a device registers
// only if its serial number lies in one of the configured ranges.
//
// Config (the "config" map of its hooks file entry):
//
//	ranges  required: "1000-1999,5000-5999" — inclusive decimal ranges (a
//	        single number is a range of one)
//	prefix  optional: stripped from the serial before it is read as a number
//	        (e.g. "SN-" for serials like SN-001234)
//	field   optional: a JSON pointer into the create request giving the
//	        serial for "before-create" (e.g. "/agent/host_name"); without it
//	        create requests pass unchecked
//
// On "before-provision" the serial is the certificate subject's
// serialNumber. A missing serial, a malformed one or one outside every
// range is denied with a reason that says which.
package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/onboardhq/onboard/sdk"
)

// main is empty: the plug-in is a reactor whose export is hook (main.go).
func main() {}

type span struct{ lo, hi uint64 }

func decide(req sdk.HookRequest, config func(string) (string, bool)) sdk.HookResponse {
	spec, _ := config("ranges")
	ranges, err := rangesOf(spec)
	if err != nil {
		return sdk.Denyf("serial-allowlist is misconfigured: %v", err)
	}
	var serial string
	switch req.Hook {
	case sdk.BeforeProvision:
		serial = req.Certificate["serialNumber"]
		if serial == "" {
			return sdk.Deny("the device certificate has no serialNumber in its subject")
		}
	case sdk.BeforeCreate:
		ptr, ok := config("field")
		if !ok || ptr == "" {
			return sdk.Allow()
		}
		v, ok := sdk.Lookup(req.Request, ptr)
		if !ok {
			return sdk.Denyf("the request has no serial at %s", ptr)
		}
		serial = v
	default:
		return sdk.Allow()
	}
	prefix, _ := config("prefix")
	digits, ok := strings.CutPrefix(serial, prefix)
	n, err := strconv.ParseUint(digits, 10, 64)
	if !ok || err != nil {
		return sdk.Denyf("serial %q is not %sfollowed by a decimal number", serial, quotePrefix(prefix))
	}
	for _, r := range ranges {
		if n >= r.lo && n <= r.hi {
			return sdk.Allow()
		}
	}
	return sdk.Denyf("serial %q is outside the allowed ranges %s", serial, spec)
}

func quotePrefix(p string) string {
	if p == "" {
		return ""
	}
	return strconv.Quote(p) + " "
}

// parsed caches the last parse: an instance's config never changes, and
// parsing it on every call is most of the hook's own work. (A plug-in
// instance runs one call at a time.)
var parsed struct {
	spec   string
	ranges []span
	err    error
	ok     bool
}

func rangesOf(spec string) ([]span, error) {
	if !parsed.ok || parsed.spec != spec {
		r, err := parseRanges(spec)
		parsed.spec, parsed.ranges, parsed.err, parsed.ok = spec, r, err, true
	}
	return parsed.ranges, parsed.err
}

func parseRanges(spec string) ([]span, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf(`config "ranges" is required, e.g. "1000-1999,5000-5999"`)
	}
	var out []span
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil || a > b {
			return nil, fmt.Errorf("range %q: want LOW-HIGH with LOW <= HIGH, decimal", part)
		}
		out = append(out, span{a, b})
	}
	return out, nil
}
