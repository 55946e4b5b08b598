package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/onboardhq/onboard/schemas"
)

// Config is the filter's configuration, the same JSON object in every
// gateway (Traefik's plugin settings, Envoy's plugin configuration).
type Config struct {
	// Services enabled: any of ief, iotda, enos, ces, cbr. Empty: all
	// five. Requests of the other services pass through untouched.
	Services []string `json:"services,omitempty"`
	// BodyLimit caps request bodies in bytes (413 beyond), as `onboard
	// serve`'s body_limit does; 0: 1 MiB, serve's default. An operation
	// whose catalogue entry allows more (EnOS batchCreate, 4 MiB) keeps
	// its own limit, as in serve (edge.BodyLimit). Keep the two equal, or
	// the edge and the service disagree on what is too large.
	BodyLimit int64 `json:"body_limit,omitempty"`
	// ReportOnly forwards every request, adding the verdict as a header
	// (VerdictHeader) and a log line: for rollouts.
	ReportOnly bool `json:"report_only,omitempty"`
	// ForwardNormalized lists the operation ids (cbr.agent.register, …)
	// whose valid requests go upstream with the engine's normalised body
	// instead of the client's bytes.
	ForwardNormalized []string `json:"forward_normalized,omitempty"`
	// OperationHeader names the request header that tells the upstream
	// the operation id of a matched request; default X-Onboard-Operation.
	OperationHeader string `json:"operation_header,omitempty"`
	// VerdictHeader names the header of the report-only verdict; default
	// X-Onboard-Verdict.
	VerdictHeader string `json:"verdict_header,omitempty"`
}

// Defaults.
const (
	DefaultBodyLimit       = 1 << 20
	DefaultOperationHeader = "X-Onboard-Operation"
	DefaultVerdictHeader   = "X-Onboard-Verdict"
)

// ParseConfig reads a configuration, refusing what it does not know: an
// unknown member, service or operation id is a typo that would otherwise
// silently turn validation off. Empty input is the default configuration.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("onboard filter: configuration: %v (members: services, body_limit, report_only, forward_normalized, operation_header, verdict_header)", err)
		}
		if dec.More() {
			return Config{}, fmt.Errorf("onboard filter: configuration: one JSON object expected, more follows")
		}
	}
	return c, c.check()
}

func (c *Config) check() error {
	ops, err := schemas.Catalogue()
	if err != nil {
		return fmt.Errorf("onboard filter: catalogue: %w", err)
	}
	var services []string
	for _, op := range ops {
		if !slices.Contains(services, op.Service) {
			services = append(services, op.Service)
		}
	}
	for _, s := range c.Services {
		if !slices.Contains(services, s) {
			return fmt.Errorf("onboard filter: configuration: services: unknown service %q (known: %s)", s, strings.Join(services, ", "))
		}
	}
	for _, id := range c.ForwardNormalized {
		op, ok := schemas.Lookup(id)
		if !ok {
			return fmt.Errorf("onboard filter: configuration: forward_normalized: unknown operation %q (see schemas/catalogue)", id)
		}
		if op.RequestSchema == "" {
			return fmt.Errorf("onboard filter: configuration: forward_normalized: operation %q takes no request body", id)
		}
		if !c.enabled(op.Service) {
			return fmt.Errorf("onboard filter: configuration: forward_normalized: operation %q is of service %s, which services does not enable", id, op.Service)
		}
	}
	if c.BodyLimit < 0 {
		return fmt.Errorf("onboard filter: configuration: body_limit must be positive bytes (0 for the default 1 MiB), got %d", c.BodyLimit)
	}
	for name, h := range map[string]string{"operation_header": c.OperationHeader, "verdict_header": c.VerdictHeader} {
		if h != "" && !token(h) {
			return fmt.Errorf("onboard filter: configuration: %s: %q is not a header name", name, h)
		}
	}
	return nil
}

func (c *Config) enabled(svc string) bool {
	return len(c.Services) == 0 || slices.Contains(c.Services, svc)
}

// token reports whether s is an HTTP field name (RFC 9110 token).
func token(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
