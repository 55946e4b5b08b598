package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/conformance"
)

// runConform runs the conformance kit against a server: exit 0 when every
// check passes (or skips), 1 when one fails, 2 on a usage error.
func runConform(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("conform", stderr)
	var t conformance.Target
	fs.StringVar(&t.BaseURL, "target", "", "base URL of the server under test, e.g. http://127.0.0.1:8080")
	fs.StringVar(&t.Token, "token", "", "X-Auth-Token for --project (Huawei routes)")
	fs.StringVar(&t.AK, "ak", "", "access key for AK/SK signing (with --sk), instead of --token")
	fs.StringVar(&t.SK, "sk", "", "secret key for AK/SK signing")
	fs.StringVar(&t.Project, "project", "", "project id the Huawei credential belongs to")
	fs.StringVar(&t.ProjectB, "project-b", "", "a second project, for isolation checks")
	fs.StringVar(&t.ProjectBToken, "project-b-token", "", "X-Auth-Token of --project-b")
	fs.StringVar(&t.ProjectBAK, "project-b-ak", "", "access key of --project-b (with --project-b-sk)")
	fs.StringVar(&t.ProjectBSK, "project-b-sk", "", "secret key of --project-b")
	fs.StringVar(&t.EnOSToken, "enos-token", "", "EnOS service-account bearer token (with --enos-org)")
	fs.StringVar(&t.EnOSOrg, "enos-org", "", "EnOS org id of --enos-token")
	privateKey := fs.String("enos-private-key", "", "PEM `FILE` with the RSA private key of --enos-token's service account: requireSecret secrets must decrypt with it")
	fs.StringVar(&t.EnOSTokenNoKey, "enos-token-no-key", "", "token of another service account of --enos-org, one without an RSA public key (requireSecret must get 11858)")
	fs.StringVar(&t.EnOSTokenNoAccess, "enos-token-no-access", "", "token of a service account of --enos-org without device access (onboard account create --device-access=false): batchCreate must get 99403")
	fs.StringVar(&t.EnOSProduct, "enos-product", "", "an existing EnOS product for the checks' devices, for a server that needs products to exist (with --enos-quota-product)")
	fs.StringVar(&t.EnOSQuotaProduct, "enos-quota-product", "", "an existing EnOS product of its own, which the 11739 check fills to 10,000 devices")
	fs.IntVar(&t.EnOSBatchLimit, "enos-batch-limit", 0, "the org's devices per batch, if not the documented 1,000")
	codes := fs.String("codes", "onboard", "the server's error code book: onboard, none (check each code's family and consistency only), or a JSON `FILE`")
	fs.BoolVar(&t.Extensions, "extensions", false, "the server has onboard's template extensions (onboard does): also run the cases that use them")
	only := fs.String("only", "", "comma-separated operation ids (see 'onboard ops') or check names to run; default all")
	skip := fs.String("skip", "", "comma-separated check names to report as SKIP: the server's known, documented deviations")
	junit := fs.String("junit", "", "also write the report as JUnit XML to FILE")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onboard conform --target URL [--token T | --ak AK --sk SK] --project ID [--project-b ID --project-b-token T]\n"+
			"                       [--enos-token T --enos-org ORG [--enos-private-key FILE] [--enos-token-no-key T] [--enos-token-no-access T]\n"+
			"                        [--enos-product KEY --enos-quota-product KEY]]\n"+
			"                       [--codes onboard|none|FILE] [--only OP|CHECK,...] [--skip CHECK,...] [--junit FILE]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "onboard conform: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	t.Only = commaList(*only)
	for _, name := range commaList(*skip) {
		if t.Skip == nil {
			t.Skip = map[string]string{}
		}
		t.Skip[name] = "--skip"
	}
	var errs []error
	if *privateKey != "" {
		key, err := readRSAPrivateKey(*privateKey)
		errs = append(errs, err)
		t.EnOSPrivateKey = key
	}
	book, err := codeBook(*codes)
	errs = append(errs, err)
	t.Codes = book
	errs = append(errs, t.Validate())
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "onboard conform: %s\n", strings.ReplaceAll(err.Error(), "\n", "\nonboard conform: "))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep := conformance.Check(ctx, t)
	rep.Print(stdout)
	if *junit != "" {
		f, err := os.Create(*junit)
		if err == nil {
			err = rep.WriteJUnit(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "onboard conform: --junit: %v\n", err)
			return exitUsage
		}
	}
	if len(rep.Failed()) > 0 {
		return exitInvalid
	}
	return exitOK
}

// commaList splits a comma-separated flag value, dropping empty items.
func commaList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// codeBook is --codes: onboard's book, none, or one read from a file.
func codeBook(arg string) (conformance.CodeBook, error) {
	switch arg {
	case "onboard":
		return conformance.OnboardCodes(), nil
	case "none":
		return conformance.CodeBook{}, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("--codes: %w", err)
	}
	book, err := conformance.ReadCodeBook(b)
	if err != nil {
		return nil, fmt.Errorf("--codes %s: %w", arg, err)
	}
	return book, nil
}

// readRSAPrivateKey reads a PEM RSA private key: PKCS #1 ("RSA PRIVATE
// KEY", openssl genrsa -traditional) or PKCS #8 ("PRIVATE KEY", openssl
// genpkey).
func readRSAPrivateKey(file string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--enos-private-key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("--enos-private-key %s: not a PEM file", file)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("--enos-private-key %s: a PEM %q block is not a private key (want RSA PRIVATE KEY or PRIVATE KEY)", file, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--enos-private-key %s: %w", file, err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("--enos-private-key %s: a %T is not an RSA key", file, key)
	}
	return rsaKey, nil
}
