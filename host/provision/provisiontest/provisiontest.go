// Package provisiontest makes the certificates zero-touch provisioning
// tests need, in process with crypto/x509: device CAs, device certificates
// with any subject, proof-of-possession certificates, and TLS client
// configurations that present them. It is for tests only.
package provisiontest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// OIDDNQualifier is dnQualifier (2.5.4.46).
var OIDDNQualifier = asn1.ObjectIdentifier{2, 5, 4, 46}

// CA is a device CA with its key. An intermediate CA (Intermediate) also
// holds the certificates between it and its root, which the devices it
// issues present with their own.
type CA struct {
	Cert  *x509.Certificate
	Key   *ecdsa.PrivateKey
	PEM   string
	chain []*x509.Certificate // this CA and its issuers below the root
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func encode(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// NewCA makes a self-signed device CA valid from an hour ago for a year.
func NewCA(t testing.TB, cn string) *CA {
	return NewCAValid(t, cn, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
}

// NewCAValid makes a self-signed device CA valid in [from, to].
func NewCAValid(t testing.TB, cn string, from, to time.Time) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn, Organization: []string{"onboard tests"}},
		NotBefore: from, NotAfter: to, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: encode(der)}
}

// Device is a device certificate with its key, and the intermediate CA
// certificates it presents (none when a root issued it).
type Device struct {
	Cert          *x509.Certificate
	Key           *ecdsa.PrivateKey
	PEM           string
	Intermediates []*x509.Certificate
}

// Options tune a device certificate.
type Options struct {
	NotBefore, NotAfter time.Time          // default: an hour ago, a year from now
	ExtKeyUsage         []x509.ExtKeyUsage // default: ClientAuth
	IsCA                bool
}

// Subject builds a subject from the seven attributes by short name (C, O,
// OU, dnQualifier, ST, CN, serialNumber); empty ones are left out.
func Subject(attrs map[string]string) pkix.Name {
	var n pkix.Name
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	n.Country, n.Organization, n.OrganizationalUnit, n.Province = one(attrs["C"]), one(attrs["O"]), one(attrs["OU"]), one(attrs["ST"])
	n.CommonName, n.SerialNumber = attrs["CN"], attrs["serialNumber"]
	if v := attrs["dnQualifier"]; v != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: OIDDNQualifier, Value: v})
	}
	return n
}

// Issue signs a device certificate with subject attrs (see Subject).
func (ca *CA) Issue(t testing.TB, attrs map[string]string, o Options) *Device {
	t.Helper()
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	if o.ExtKeyUsage == nil {
		o.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: serial(t), Subject: Subject(attrs), NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: o.ExtKeyUsage}
	if o.IsCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Device{Cert: cert, Key: key, PEM: encode(der), Intermediates: ca.chain}
}

// Intermediate makes a CA certificate with common name cn issued by ca: a
// sub-CA whose devices chain to ca through it.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	d := ca.Issue(t, map[string]string{"CN": cn}, Options{IsCA: true, ExtKeyUsage: []x509.ExtKeyUsage{}})
	return &CA{Cert: d.Cert, Key: d.Key, PEM: d.PEM, chain: append([]*x509.Certificate{d.Cert}, ca.chain...)}
}

// VerificationPEM is the proof-of-possession certificate for verify code
// code: CN=code, signed by the CA's key.
func (ca *CA) VerificationPEM(t testing.TB, code string) string {
	t.Helper()
	return ca.Issue(t, map[string]string{"CN": code}, Options{}).PEM
}

// TLSCertificate is the device's certificate, followed by its
// intermediates, for a tls.Config.
func (d *Device) TLSCertificate() tls.Certificate {
	chain := [][]byte{d.Cert.Raw}
	for _, c := range d.Intermediates {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: d.Key, Leaf: d.Cert}
}

// ClientTLS is a client configuration presenting the device certificate
// (nil: none) and trusting roots (nil: the server is not verified, as
// tests on loopback with a throwaway server certificate need).
func ClientTLS(d *Device, roots *x509.CertPool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if roots == nil {
		c.InsecureSkipVerify = true //nolint:gosec // loopback tests with a throwaway server certificate
	}
	if d != nil {
		c.Certificates = []tls.Certificate{d.TLSCertificate()}
	}
	return c
}
