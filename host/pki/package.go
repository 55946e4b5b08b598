package pki

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

const (
	caFile  = "ca.crt"
	certExt = ".crt"
	keyExt  = ".key"

	// MaxPackageFile bounds each file VerifyPackage will read; real PEMs
	// are well under 2 KiB.
	MaxPackageFile = 64 << 10
	// maxPackageEntries and maxPackageStream stop a hostile archive from
	// making VerifyPackage read without end (many entries, a gzip bomb).
	maxPackageEntries = 3
	maxPackageStream  = 1 << 20
)

// PackageContents is what a product package holds.
type PackageContents struct {
	ProductName string // from the <name>.crt / <name>.key file names
	CAPEM       []byte // ca.crt
	CertPEM     []byte // <name>.crt
	KeyPEM      []byte // <name>.key
}

// buildPackage writes ca.crt, <name>.crt, <name>.key (in that order, with
// fixed owner and mtime) as a gzip'd tar and base64-encodes it. The key is
// 0600 so extracting the package does not leave it world-readable.
func buildPackage(name string, m *ProductMaterial, now time.Time) (string, error) {
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{caFile, 0o644, m.CAPEM},
		{name + certExt, 0o644, m.CertPEM},
		{name + keyExt, 0o600, m.KeyPEM},
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	mtime := now.Truncate(time.Second)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.name,
			Mode:     f.mode,
			Size:     int64(len(f.data)),
			ModTime:  mtime,
			Uid:      0,
			Gid:      0,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", fmt.Errorf("pki: package %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", fmt.Errorf("pki: package %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("pki: package: %w", err)
	}
	if err := gz.Close(); err != nil {
		return "", fmt.Errorf("pki: package: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// VerifyPackage decodes a package as an operator would (base64, gunzip,
// untar) and returns its three PEMs. It treats the archive as hostile:
// absolute paths, "..", directories, links and oversized files are refused,
// and it must hold exactly ca.crt, <name>.crt and <name>.key.
func VerifyPackage(pkg string) (*PackageContents, error) {
	raw, err := base64.StdEncoding.DecodeString(pkg)
	if err != nil {
		return nil, fmt.Errorf("pki: package is not base64: %w", err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("pki: package is not gzip: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(io.LimitReader(gz, maxPackageStream))

	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("pki: package is not a tar: %w", err)
		}
		if err := checkEntry(hdr); err != nil {
			return nil, fmt.Errorf("pki: package entry %q: %w", hdr.Name, err)
		}
		if _, dup := files[hdr.Name]; dup {
			return nil, fmt.Errorf("pki: package entry %q appears twice", hdr.Name)
		}
		if len(files) == maxPackageEntries {
			return nil, fmt.Errorf("pki: package has more than %d entries", maxPackageEntries)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("pki: package entry %q: %w", hdr.Name, err)
		}
		files[hdr.Name] = data
	}
	return sortPackage(files)
}

// checkEntry accepts only a small regular file with a plain, local name:
// everything else could write outside the extraction directory or is not
// something this package ever produces.
func checkEntry(hdr *tar.Header) error {
	name := hdr.Name
	switch {
	case hdr.Typeflag != tar.TypeReg:
		return fmt.Errorf("type %q is not a regular file (links and directories are refused)", hdr.Typeflag)
	case path.IsAbs(name) || strings.HasPrefix(name, `\`) || strings.Contains(name, ":"):
		return errors.New("absolute path")
	case hasDotDot(name):
		return errors.New(`".." in path`)
	case name == "" || strings.ContainsAny(name, `/\`):
		return errors.New("not a plain file name")
	case hdr.Size < 0 || hdr.Size > MaxPackageFile:
		return fmt.Errorf("size %d exceeds %d bytes", hdr.Size, MaxPackageFile)
	}
	return nil
}

func hasDotDot(name string) bool {
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return true
		}
	}
	return false
}

// sortPackage maps the file names back to their roles.
func sortPackage(files map[string][]byte) (*PackageContents, error) {
	c := &PackageContents{}
	var ok bool
	if c.CAPEM, ok = files[caFile]; !ok {
		return nil, fmt.Errorf("pki: package has no %s", caFile)
	}
	for name := range files {
		if name != caFile && strings.HasSuffix(name, certExt) {
			if c.ProductName != "" {
				return nil, errors.New("pki: package has more than one product certificate")
			}
			c.ProductName = strings.TrimSuffix(name, certExt)
		}
	}
	if c.ProductName == "" {
		return nil, fmt.Errorf("pki: package has no <name>%s", certExt)
	}
	c.CertPEM = files[c.ProductName+certExt]
	if c.KeyPEM, ok = files[c.ProductName+keyExt]; !ok {
		return nil, fmt.Errorf("pki: package has no %s%s", c.ProductName, keyExt)
	}
	if len(files) != 3 {
		return nil, errors.New("pki: package holds files other than ca.crt, <name>.crt and <name>.key")
	}
	return c, nil
}
