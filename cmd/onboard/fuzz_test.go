package main

import (
	"os"
	"strings"
	"testing"

	"github.com/onboardhq/onboard/internal/corpus"
)

// FuzzParseSubject feeds RFC 4514-style subjects to parseSubject (the
// --subject of `onboard resolve`). It must not panic; what it accepts must
// name only the seven template attributes; and escaping the values it
// returned and parsing again must give the same map.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"C=CN,O=acme,CN=dev-1", `CN=a\,b,OU=x`, "serialNumber=0001, dnQualifier=q, ST=s", "cn=x,CN=y", "", "=", `\`, "O=a=b"} {
		f.Add(s)
	}
	// The resolve cases' subjects, as a user would type them.
	cases, _ := corpus.Resolutions()
	for _, c := range cases {
		if b, err := os.ReadFile(c.Path); err == nil && len(b) < 4096 {
			f.Add(strings.NewReplacer(`{`, "", `}`, "", `"`, "", ":", "=").Replace(string(b)))
		}
	}
	allowed := map[string]bool{"C": true, "O": true, "OU": true, "ST": true, "CN": true, "serialNumber": true, "dnQualifier": true}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseSubject(s)
		if err != nil {
			return
		}
		var parts []string
		for k, v := range m {
			if !allowed[k] {
				t.Fatalf("parseSubject(%q) returned attribute %q", s, k)
			}
			v = strings.ReplaceAll(v, `\`, `\\`)
			v = strings.ReplaceAll(v, ",", `\,`)
			parts = append(parts, k+"="+v)
		}
		again, err := parseSubject(strings.Join(parts, ","))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", strings.Join(parts, ","), err)
		}
		for k, v := range m {
			if again[k] != strings.TrimSpace(v) && again[k] != v {
				t.Fatalf("round trip of %q: %s=%q became %q", s, k, v, again[k])
			}
		}
	})
}
