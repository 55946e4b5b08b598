// Package pki mints the certificate material that IEF "create product"
// (POST /v2/{project_id}/productmgr/products) returns: the product root
// certificate (ca), the product certificate and its private key, the
// base64 .tar.gz package holding those three files, and the identifier used
// for token registration.
//
// Every project gets its own CA (GenerateCA); each product gets a fresh key
// and a leaf signed by that CA (IssueProduct). Edge nodes present the leaf
// as a TLS client certificate, so the leaf is ClientAuth only.
//
// The package is pure: it does no I/O and keeps no state. Callers persist
// the PEMs it returns (the CA key encrypted at rest) and hand them back to
// LoadCA; they also own validation of the request (name grammar, quotas).
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

const (
	organization = "onboard"
	caValidYears = 10
	// Leaves live half as long as the CA so a product issued in the CA's
	// first half never outlives it; later ones are clamped (see IssueProduct).
	productValidYears = 5
	// Backdating absorbs clock skew between this host and edge nodes: a
	// certificate used seconds after issue must not be "not yet valid".
	backdate = time.Minute

	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"

	// ProductURIPrefix starts the URI SAN that names a product in its
	// certificate; the product ID follows it.
	ProductURIPrefix = "urn:onboard:ief:product:"
	// IdentifierPrefix starts every token-registration identifier.
	IdentifierPrefix = "ief-"
)

// CA is a project's product root: the certificate, its signing key, and
// their PEM encodings, which are what callers store.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // "CERTIFICATE"
	KeyPEM  []byte // PKCS#8 "PRIVATE KEY"; secret, store encrypted
}

// ProductMaterial is what the create-product response carries.
type ProductMaterial struct {
	CAPEM      []byte // response field "ca"
	CertPEM    []byte // "certificate"
	KeyPEM     []byte // "private_key", PKCS#8
	Package    string // "package": base64 of ca.crt, <name>.crt, <name>.key as .tar.gz
	Identifier string // "identifier": secret for token registration
}

// GenerateCA creates a self-signed ECDSA P-256 CA for projectID, valid for
// ten years from a minute before now.
func GenerateCA(projectID string, now time.Time) (*CA, error) {
	if projectID == "" {
		return nil, errors.New("pki: empty project ID")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-backdate)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   "onboard IEF product CA " + projectID,
			Organization: []string{organization},
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(caValidYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs leaves only, never intermediates.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		SubjectKeyId:   skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// LoadCA rebuilds a CA from the PEMs GenerateCA produced. It refuses a key
// that does not belong to the certificate and a certificate that cannot
// sign, so a mix-up in storage fails here rather than at issue time.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("pki: certificate %q is not a CA", cert.Subject.CommonName)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != pemPrivateKey {
		return nil, fmt.Errorf("pki: CA key: no %q PEM block", pemPrivateKey)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: CA key: %T cannot sign", parsed)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("pki: CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// IssueProduct mints a fresh key and ClientAuth leaf for one product, plus
// the package and identifier. productName becomes the file names inside the
// package, so it must be a plain file name (the IEF grammar, lowercase
// letters, digits and hyphens, satisfies this).
func (ca *CA) IssueProduct(productID, productName string, now time.Time) (*ProductMaterial, error) {
	if !safeID(productID) {
		return nil, fmt.Errorf("pki: product ID %q must be non-empty letters, digits, '.', '_' or '-'", productID)
	}
	if err := checkProductName(productName); err != nil {
		return nil, err
	}
	if now.Before(ca.Cert.NotBefore) || now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("pki: CA is not valid at %s (valid %s to %s)",
			now.UTC().Format(time.RFC3339), ca.Cert.NotBefore.Format(time.RFC3339), ca.Cert.NotAfter.Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate product key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	uri, err := url.Parse(ProductURIPrefix + productID)
	if err != nil {
		return nil, fmt.Errorf("pki: product URI: %w", err)
	}
	notBefore := now.Add(-backdate)
	notAfter := notBefore.AddDate(productValidYears, 0, 0)
	// A leaf cannot be trusted past its issuer, so do not promise more.
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         productName,
			OrganizationalUnit: []string{"product"},
			Organization:       []string{organization},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
		// x509 copies the parent's SubjectKeyId here anyway; set it so
		// the intent is visible.
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign product certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	identifier, err := newIdentifier()
	if err != nil {
		return nil, err
	}
	m := &ProductMaterial{
		CAPEM:      ca.CertPEM,
		CertPEM:    encodeCert(der),
		KeyPEM:     keyPEM,
		Identifier: identifier,
	}
	if m.Package, err = buildPackage(productName, m, now); err != nil {
		return nil, err
	}
	return m, nil
}

// VerifyChain checks that certPEM is a ClientAuth leaf issued by caPEM and
// valid at now: what an edge-facing TLS endpoint would accept.
func VerifyChain(caPEM, certPEM []byte, now time.Time) error {
	root, err := parseCertPEM(caPEM)
	if err != nil {
		return fmt.Errorf("pki: CA certificate: %w", err)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("pki: product certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("pki: verify product certificate: %w", err)
	}
	return nil
}

// serialLimit is 2^128: serials carry 128 random bits, enough that two
// certificates from one CA never share one (RFC 5280 allows up to 20 octets).
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

func randomSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("pki: serial: %w", err)
		}
		if n.Sign() > 0 { // RFC 5280: serials are positive
			return n, nil
		}
	}
}

// subjectKeyID follows RFC 7093 method 1 (leftmost 160 bits of the SHA-256
// of the public key), computed here so it does not depend on x509 defaults.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	raw, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("pki: subject key ID: %w", err)
	}
	sum := sha256.Sum256(raw)
	return sum[:20], nil
}

func newIdentifier() (string, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("pki: identifier: %w", err)
	}
	return IdentifierPrefix + base64.RawURLEncoding.EncodeToString(secret), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// parseCertPEM wants exactly one CERTIFICATE block: trailing data would mean
// the caller handed over something other than what it thinks.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemCertificate {
		return nil, fmt.Errorf("no %q PEM block", pemCertificate)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// safeID reports whether s is non-empty and made only of characters that
// need no escaping in a URN or a file name.
func safeID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// maxNameLen bounds product names so package entries fit a plain ustar
// header; IEF itself allows 26 characters.
const maxNameLen = 64

func checkProductName(name string) error {
	switch {
	case !safeID(name) || name[0] == '.' || len(name) > maxNameLen:
		return fmt.Errorf("pki: product name %q must be 1-%d letters, digits, '.', '_' or '-', not starting with '.', since it names files in the package", name, maxNameLen)
	case name+certExt == caFile:
		return fmt.Errorf("pki: product name %q would collide with %s in the package", name, caFile)
	}
	return nil
}
