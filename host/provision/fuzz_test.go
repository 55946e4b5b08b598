package provision_test

import (
	"crypto/x509"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/internal/corpus"
)

// FuzzSubject parses mutated device certificates (DER) and extracts the
// template parameters' subject attributes. Seeds are certificates issued
// with the subjects of the testdata/resolve cases. Subject must not panic
// on anything x509.ParseCertificate accepts, must return only the seven
// attribute names with non-empty values, and its map must be valid input
// for the engine's resolve operation (JSON-encodable strings).
func FuzzSubject(f *testing.F) {
	ca := provisiontest.NewCA(f, "fuzz-ca")
	cases, err := corpus.Resolutions()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		var doc struct {
			Subject map[string]string `json:"subject"`
		}
		if json.Unmarshal(c.Body, &doc) != nil {
			continue
		}
		f.Add(ca.Issue(f, doc.Subject, provisiontest.Options{}).Cert.Raw)
	}
	allowed := map[string]bool{"C": true, "O": true, "OU": true, "ST": true, "CN": true, "serialNumber": true, "dnQualifier": true}
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		for k, v := range provision.Subject(c) {
			if !allowed[k] || v == "" {
				t.Fatalf("Subject returned %q=%q", k, v)
			}
			if !utf8.ValidString(v) {
				t.Logf("attribute %s is not UTF-8 (%q): the engine refuses it with rule utf8", k, v)
			}
		}
		_ = provision.SerialHex(c)
	})
}
