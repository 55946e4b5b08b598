package pki

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

func newCA(t *testing.T) *CA {
	t.Helper()
	ca, err := GenerateCA("ed202955e111444e8ced21a1bd75fc59", now)
	require.NoError(t, err)
	return ca
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	require.Equal(t, "CERTIFICATE", block.Type)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func parseKey(t *testing.T, data []byte) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	require.Equal(t, "PRIVATE KEY", block.Type, "PKCS#8")
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	require.IsType(t, &ecdsa.PrivateKey{}, key)
	return key.(crypto.Signer)
}

func TestGenerateCA(t *testing.T) {
	ca := newCA(t)
	c := ca.Cert

	assert.Equal(t, "onboard IEF product CA ed202955e111444e8ced21a1bd75fc59", c.Subject.CommonName)
	assert.Equal(t, []string{"onboard"}, c.Subject.Organization)
	assert.Equal(t, c.Subject.String(), c.Issuer.String(), "self-signed")
	require.NoError(t, c.CheckSignatureFrom(c))
	assert.True(t, c.IsCA)
	assert.True(t, c.BasicConstraintsValid)
	assert.True(t, c.MaxPathLenZero)
	assert.Zero(t, c.MaxPathLen)
	assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, c.KeyUsage)
	assert.Equal(t, now.Add(-time.Minute).Truncate(time.Second), c.NotBefore)
	assert.Equal(t, now.Add(-time.Minute).AddDate(10, 0, 0).Truncate(time.Second), c.NotAfter)
	assert.Equal(t, x509.ECDSA, c.PublicKeyAlgorithm)
	assert.Equal(t, "P-256", c.PublicKey.(*ecdsa.PublicKey).Curve.Params().Name)
	assert.Len(t, c.SubjectKeyId, 20)
	assert.Positive(t, c.SerialNumber.Sign())
	assert.LessOrEqual(t, c.SerialNumber.BitLen(), 128)

	assert.Equal(t, c, parseCert(t, ca.CertPEM))
	assert.True(t, parseKey(t, ca.KeyPEM).Public().(*ecdsa.PublicKey).Equal(c.PublicKey))

	_, err := GenerateCA("", now)
	assert.ErrorContains(t, err, "empty project ID")
}

// The host stores the CA's PEMs and reloads them; the reloaded CA must be
// able to issue products that chain to the original certificate.
func TestLoadCARoundTrip(t *testing.T) {
	ca := newCA(t)
	loaded, err := LoadCA(ca.CertPEM, ca.KeyPEM)
	require.NoError(t, err)
	assert.True(t, loaded.Cert.Equal(ca.Cert))
	assert.Equal(t, ca.CertPEM, loaded.CertPEM)
	assert.Equal(t, ca.KeyPEM, loaded.KeyPEM)

	p, err := loaded.IssueProduct("p1", "edge", now)
	require.NoError(t, err)
	require.NoError(t, VerifyChain(ca.CertPEM, p.CertPEM, now))
}

func TestLoadCAErrors(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	leaf, err := ca.IssueProduct("p1", "edge", now)
	require.NoError(t, err)

	tests := []struct {
		name             string
		certPEM, keyPEM  []byte
		wantErrSubstring string
	}{
		{"wrong key for cert", ca.CertPEM, other.KeyPEM, "does not match"},
		{"non-CA cert", leaf.CertPEM, leaf.KeyPEM, "is not a CA"},
		{"garbage cert PEM", []byte("not a pem"), ca.KeyPEM, "no \"CERTIFICATE\" PEM block"},
		{"garbage key PEM", ca.CertPEM, []byte("not a pem"), "no \"PRIVATE KEY\" PEM block"},
		{"key where cert belongs", ca.KeyPEM, ca.KeyPEM, "no \"CERTIFICATE\" PEM block"},
		{"two certificates", append(append([]byte{}, ca.CertPEM...), other.CertPEM...), ca.KeyPEM, "unexpected data"},
		{"corrupt DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), ca.KeyPEM, "CA certificate"},
		{"corrupt key DER", ca.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "CA key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCA(tt.certPEM, tt.keyPEM)
			assert.Nil(t, got)
			assert.ErrorContains(t, err, tt.wantErrSubstring)
		})
	}
}

func TestIssueProduct(t *testing.T) {
	ca := newCA(t)
	const id, name = "52b7e862-7b86-4b4d-b805-f580c4a25b0b", "test"
	p, err := ca.IssueProduct(id, name, now)
	require.NoError(t, err)

	assert.Equal(t, ca.CertPEM, p.CAPEM)
	leaf := parseCert(t, p.CertPEM)
	assert.Equal(t, name, leaf.Subject.CommonName)
	assert.Equal(t, []string{"product"}, leaf.Subject.OrganizationalUnit)
	assert.Equal(t, []string{"onboard"}, leaf.Subject.Organization)
	require.Len(t, leaf.URIs, 1)
	assert.Equal(t, "urn:onboard:ief:product:"+id, leaf.URIs[0].String())
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
	assert.Equal(t, x509.KeyUsageDigitalSignature, leaf.KeyUsage)
	assert.False(t, leaf.IsCA)
	assert.Equal(t, ca.Cert.SubjectKeyId, leaf.AuthorityKeyId)
	assert.Equal(t, now.Add(-time.Minute).Truncate(time.Second), leaf.NotBefore)
	assert.Equal(t, now.Add(-time.Minute).AddDate(5, 0, 0).Truncate(time.Second), leaf.NotAfter)
	require.NoError(t, leaf.CheckSignatureFrom(ca.Cert))

	assert.True(t, strings.HasPrefix(p.Identifier, "ief-"), p.Identifier)
	secret, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(p.Identifier, "ief-"))
	require.NoError(t, err)
	assert.Len(t, secret, 32)

	// What an operator does with the response: decode, untar, verify.
	contents, err := VerifyPackage(p.Package)
	require.NoError(t, err)
	assert.Equal(t, name, contents.ProductName)
	assert.Equal(t, p.CAPEM, contents.CAPEM)
	assert.Equal(t, p.CertPEM, contents.CertPEM)
	assert.Equal(t, p.KeyPEM, contents.KeyPEM)
	require.NoError(t, VerifyChain(contents.CAPEM, contents.CertPEM, now))
	require.NoError(t, VerifyChain(contents.CAPEM, contents.CertPEM, now.AddDate(4, 11, 0)))
	assert.Error(t, VerifyChain(contents.CAPEM, contents.CertPEM, now.AddDate(5, 0, 1)), "expired")

	// The packaged key is the certificate's key: sign with one, verify with the other.
	digest := sha256.Sum256([]byte("register edge node"))
	sig, err := parseKey(t, contents.KeyPEM).Sign(rand.Reader, digest[:], crypto.SHA256)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), digest[:], sig))
	digest[0] ^= 1
	assert.False(t, ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), digest[:], sig))
}

// The tar layout is part of the contract with edge-register: names, order,
// modes, owner and mtime.
func TestPackageLayout(t *testing.T) {
	p, err := newCA(t).IssueProduct("p1", "line-7", now)
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(p.Package)
	require.NoError(t, err)
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	tr := tar.NewReader(gz)

	want := []struct {
		name string
		mode int64
		data []byte
	}{
		{"ca.crt", 0o644, p.CAPEM},
		{"line-7.crt", 0o644, p.CertPEM},
		{"line-7.key", 0o600, p.KeyPEM},
	}
	for _, w := range want {
		hdr, err := tr.Next()
		require.NoError(t, err)
		assert.Equal(t, w.name, hdr.Name)
		assert.Equal(t, byte(tar.TypeReg), hdr.Typeflag)
		assert.Equal(t, w.mode, hdr.Mode, w.name)
		assert.Zero(t, hdr.Uid)
		assert.Zero(t, hdr.Gid)
		assert.True(t, hdr.ModTime.Equal(now.Truncate(time.Second)), hdr.ModTime)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		assert.Equal(t, w.data, data)
	}
	_, err = tr.Next()
	assert.ErrorIs(t, err, io.EOF)
}

func TestProductsAreDistinct(t *testing.T) {
	ca := newCA(t)
	a, err := ca.IssueProduct("p1", "edge", now)
	require.NoError(t, err)
	b, err := ca.IssueProduct("p2", "edge", now)
	require.NoError(t, err)

	assert.NotEqual(t, parseCert(t, a.CertPEM).SerialNumber, parseCert(t, b.CertPEM).SerialNumber)
	assert.NotEqual(t, a.Identifier, b.Identifier)
	assert.NotEqual(t, a.KeyPEM, b.KeyPEM)
}

func TestVerifyChainOtherCA(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	p, err := other.IssueProduct("p1", "edge", now)
	require.NoError(t, err)

	require.NoError(t, VerifyChain(other.CertPEM, p.CertPEM, now))
	assert.ErrorContains(t, VerifyChain(ca.CertPEM, p.CertPEM, now), "verify product certificate")
	assert.ErrorContains(t, VerifyChain([]byte("junk"), p.CertPEM, now), "CA certificate")
	assert.ErrorContains(t, VerifyChain(ca.CertPEM, []byte("junk"), now), "product certificate")
}

func TestIssueProductRejects(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name, id, product string
		at                time.Time
		wantErrSubstring  string
	}{
		{"empty ID", "", "edge", now, "product ID"},
		{"ID with space", "a b", "edge", now, "product ID"},
		{"empty name", "p1", "", now, "product name"},
		{"name with slash", "p1", "a/b", now, "product name"},
		{"name is dot-dot", "p1", "..", now, "product name"},
		{"name collides with ca.crt", "p1", "ca", now, "collide"},
		{"CA expired", "p1", "edge", now.AddDate(11, 0, 0), "CA is not valid"},
		{"CA not yet valid", "p1", "edge", now.Add(-time.Hour), "CA is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ca.IssueProduct(tt.id, tt.product, tt.at)
			assert.Nil(t, p)
			assert.ErrorContains(t, err, tt.wantErrSubstring)
		})
	}
}

// A product issued late in the CA's life must not outlive the CA.
func TestIssueProductClampsToCA(t *testing.T) {
	ca := newCA(t)
	p, err := ca.IssueProduct("p1", "edge", now.AddDate(8, 0, 0))
	require.NoError(t, err)
	assert.Equal(t, ca.Cert.NotAfter, parseCert(t, p.CertPEM).NotAfter)
}

type entry struct {
	hdr  tar.Header
	data string
}

func pack(t *testing.T, entries ...entry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size == 0 {
			hdr.Size = int64(len(e.data))
		}
		hdr.Mode = 0o644
		require.NoError(t, tw.WriteHeader(&hdr))
		if hdr.Typeflag == tar.TypeReg {
			_, err := io.WriteString(tw, e.data)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func file(name, data string) entry { return entry{hdr: tar.Header{Name: name}, data: data} }

func TestVerifyPackageRejects(t *testing.T) {
	ca, crt, key := file("ca.crt", "c"), file("x.crt", "l"), file("x.key", "k")
	_, err := VerifyPackage(pack(t, ca, crt, key))
	require.NoError(t, err, "the well-formed baseline must pass, so each case below fails for its own reason")

	tests := []struct {
		name             string
		pkg              string
		wantErrSubstring string
	}{
		{"dot-dot entry", pack(t, ca, crt, key, file("../evil", "x")), `".." in path`},
		{"dot-dot inside path", pack(t, file("a/../../evil", "x")), `".." in path`},
		{"absolute path", pack(t, file("/etc/passwd", "x")), "absolute path"},
		{"subdirectory", pack(t, file("certs/ca.crt", "c"), crt, key), "not a plain file name"},
		{"symlink", pack(t, entry{hdr: tar.Header{Name: "ca.crt", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}), "not a regular file"},
		{"hard link", pack(t, entry{hdr: tar.Header{Name: "ca.crt", Typeflag: tar.TypeLink, Linkname: "x.crt"}}), "not a regular file"},
		{"directory", pack(t, entry{hdr: tar.Header{Name: "d", Typeflag: tar.TypeDir}}), "not a regular file"},
		{"oversized file", pack(t, file("ca.crt", strings.Repeat("a", MaxPackageFile+1))), "exceeds"},
		{"duplicate entry", pack(t, ca, ca), "twice"},
		{"extra entry", pack(t, ca, crt, key, file("y.crt", "l")), "more than 3"},
		{"missing ca", pack(t, crt, key), "no ca.crt"},
		{"missing key", pack(t, ca, crt), "no x.key"},
		{"missing cert", pack(t, ca, key), "no <name>.crt"},
		{"unrelated file", pack(t, ca, crt, file("notes.txt", "k")), "no x.key"},
		{"not base64", "!!!", "not base64"},
		{"not gzip", base64.StdEncoding.EncodeToString([]byte("plain")), "not gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPackage(tt.pkg)
			assert.Nil(t, got)
			assert.ErrorContains(t, err, tt.wantErrSubstring)
		})
	}
}
