package provision

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of the certificate checks, for errors.Is. The wrapped message says
// what is wrong and what to do.
var (
	ErrNotPEM      = errors.New("not a PEM certificate")
	ErrNotCA       = errors.New("not a CA certificate")
	ErrExpired     = errors.New("certificate expired or not yet valid")
	ErrPossession  = errors.New("proof of possession failed")
	ErrNoClientCrt = errors.New("no client certificate")
)

// oidDNQualifier is dnQualifier (RFC 4519, 2.5.4.46); crypto/x509/pkix has
// no field for it, so it is read from Subject.Names.
var oidDNQualifier = asn1.ObjectIdentifier{2, 5, 4, 46}

// ParseCertificatePEM parses exactly one PEM CERTIFICATE block; anything
// else around it (other blocks, a private key by mistake) is refused.
func ParseCertificatePEM(text string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, fmt.Errorf("%w: no -----BEGIN CERTIFICATE----- block found", ErrNotPEM)
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: the PEM block is %q; send the certificate, never a private key", ErrNotPEM, block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: more than one PEM block; send exactly one certificate", ErrNotPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPEM, err)
	}
	return cert, nil
}

// checkValidity refuses a certificate outside its validity period at now.
func checkValidity(what string, c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("%w: the %s expired at %s", ErrExpired, what, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("%w: the %s is not valid before %s", ErrExpired, what, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// ParseDeviceCA parses a device CA certificate as uploaded: one PEM
// certificate with basicConstraints CA:TRUE (and keyCertSign when it has a
// key usage extension), valid at now.
func ParseDeviceCA(text string, now time.Time) (*x509.Certificate, error) {
	c, err := ParseCertificatePEM(text)
	if err != nil {
		return nil, err
	}
	if !c.BasicConstraintsValid || !c.IsCA {
		return nil, fmt.Errorf("%w: %q has no basicConstraints CA:TRUE; upload the CA that issues the device certificates, not a device certificate", ErrNotCA, c.Subject.CommonName)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %q has a key usage without keyCertSign, so it cannot issue certificates", ErrNotCA, c.Subject.CommonName)
	}
	if err := checkValidity("CA certificate", c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// VerifyPossession checks a proof-of-possession certificate for ca: its
// subject CN is the verify code and ca's key signed it, and it is valid at
// now. Only the holder of the CA's private key can produce one.
func VerifyPossession(ca *x509.Certificate, verifyPEM, verifyCode string, now time.Time) error {
	v, err := ParseCertificatePEM(verifyPEM)
	if err != nil {
		return fmt.Errorf("verify_content: %w", err)
	}
	if v.Subject.CommonName != verifyCode {
		return fmt.Errorf("%w: the verification certificate's CN is %q; it must be the CA's verify_code %q", ErrPossession, v.Subject.CommonName, verifyCode)
	}
	if err := v.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("%w: the verification certificate is not signed by this CA's private key (%v); sign it with the CA key", ErrPossession, err)
	}
	return checkValidity("verification certificate", v, now)
}

// Subject returns the seven IoTDA template parameters' source attributes
// of a device certificate, by X.509 short name (C, O, OU, dnQualifier, ST,
// CN, serialNumber); absent ones are left out. A multi-valued attribute
// (two OUs) gives its first value, as the certificate lists them.
func Subject(c *x509.Certificate) map[string]string {
	s := c.Subject
	out := make(map[string]string, 7)
	first := func(key string, vs []string) {
		if len(vs) > 0 && vs[0] != "" {
			out[key] = vs[0]
		}
	}
	first("C", s.Country)
	first("O", s.Organization)
	first("OU", s.OrganizationalUnit)
	first("ST", s.Province)
	if s.CommonName != "" {
		out["CN"] = s.CommonName
	}
	if s.SerialNumber != "" {
		out["serialNumber"] = s.SerialNumber
	}
	for _, n := range s.Names {
		if n.Type.Equal(oidDNQualifier) {
			if v, ok := n.Value.(string); ok && v != "" {
				out["dnQualifier"] = v
				break
			}
		}
	}
	return out
}

// SerialHex is a certificate's serial number as revocation lists hold it:
// lowercase hexadecimal without leading zeros.
func SerialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// NormalizeSerial turns a hexadecimal serial as an operator types it
// (upper case, leading zeros) into SerialHex's form.
func NormalizeSerial(s string) string {
	s = strings.TrimLeft(strings.ToLower(s), "0")
	if s == "" {
		return "0"
	}
	return s
}
