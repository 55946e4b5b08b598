package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/onboardhq/onboard/abi"
)

func runResolve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("resolve", stderr)
	tmpl := fs.String("template", "", "file (or - for stdin) holding a template: a create request, a template as returned by the API, or a bare template_body")
	subject := fs.String("subject", "", `device certificate subject, e.g. 'C=CN,O=acme,OU=meters,CN=dev-1,serialNumber=42' (escape a comma in a value as \,)`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onboard resolve --template FILE|- --subject 'C=..,O=..,CN=..'")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *tmpl == "" || *subject == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	raw, err := readInput(*tmpl, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "onboard resolve: %v\n", err)
		return exitUsage
	}
	body, err := templateBody(raw)
	if err != nil {
		fmt.Fprintf(stderr, "onboard resolve: %s: %v\n", *tmpl, err)
		return exitUsage
	}
	subj, err := parseSubject(*subject)
	if err != nil {
		fmt.Fprintf(stderr, "onboard resolve: --subject: %v\n", err)
		return exitUsage
	}
	input, err := abi.ResolveInput(body, subj)
	if err != nil {
		fmt.Fprintf(stderr, "onboard resolve: %s: %v\n", *tmpl, err)
		return exitUsage
	}
	rt, ok := startEngine(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer rt.Close(ctx)
	res, err := rt.Validate(ctx, abi.OpResolve, nil, input)
	if err != nil {
		fmt.Fprintf(stderr, "onboard resolve: %v\n", err)
		return exitUsage
	}
	if !res.Valid {
		fmt.Fprintln(stdout, "the template does not resolve for this subject:")
		for _, v := range res.Violations {
			fmt.Fprintf(stdout, "  %s\n", v)
		}
		return exitInvalid
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res.Device)
	return exitOK
}

// templateBody finds template_body in what people have at hand: a create
// request, an API response, or the body itself.
func templateBody(raw []byte) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if b, ok := doc["template_body"]; ok {
		return b, nil
	}
	if _, ok := doc["resources"]; ok {
		return raw, nil
	}
	return nil, fmt.Errorf(`no "template_body" member and not a template body (no "resources")`)
}

// parseSubject reads an RFC 4514-style subject ("C=CN,O=acme,CN=dev-1")
// into attribute short names. Only the seven attributes IoTDA templates can
// reference are accepted, so a typo is an error rather than a silent miss.
func parseSubject(s string) (map[string]string, error) {
	known := map[string]string{}
	for _, p := range abi.Parameters {
		known[strings.ToLower(p.Attribute)] = p.Attribute
	}
	out := map[string]string{}
	var cur strings.Builder
	var parts []string
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
		case s[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	for _, part := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not ATTRIBUTE=value", part)
		}
		attr, ok := known[strings.ToLower(strings.TrimSpace(k))]
		if !ok {
			return nil, fmt.Errorf("unknown attribute %q: use C, O, OU, dnQualifier, ST, CN or serialNumber", k)
		}
		if _, dup := out[attr]; dup {
			return nil, fmt.Errorf("attribute %s given twice", attr)
		}
		out[attr] = v
	}
	return out, nil
}
