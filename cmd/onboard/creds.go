package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// Credentials are issued by onboard itself against the store serve uses.

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func printCredential(w io.Writer, asJSON bool, v map[string]string, order ...string) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(v)
		return
	}
	for _, k := range order {
		fmt.Fprintf(w, "%s: %s\n", k, v[k])
	}
}

func runToken(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: onboard token create (--project ID | --org ORG --account ACCOUNT) [--ttl 24h] [--json]")
		return exitUsage
	}
	fs := newFlags("token create", stderr)
	var cfg config
	cfgFile := cfg.flags(fs)
	project := fs.String("project", "", "Huawei-style project the token may act on (X-Auth-Token)")
	org := fs.String("org", "", "EnOS organization the token may act on (Authorization: Bearer)")
	account := fs.String("account", "", "EnOS service account the token belongs to (with --org)")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime of the token")
	asJSON := fs.Bool("json", false, `print {"token":…}`)
	if code, ok := parseFlags(fs, args[1:], stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "onboard %s: unexpected argument %q: it takes flags only\n", fs.Name()[len("onboard "):], fs.Arg(0))
		return exitUsage
	}
	if (*project == "") == (*org == "") || (*org != "" && *account == "") {
		fmt.Fprintln(stderr, "onboard token create: give either --project, or --org with --account")
		return exitUsage
	}
	if *ttl <= 0 {
		// A token that is expired when issued fails every request with a
		// 401 that blames the token, not the command that made it.
		fmt.Fprintf(stderr, "onboard token create: --ttl must be positive (e.g. 24h, 30m), got %v\n", *ttl)
		return exitUsage
	}
	st, ok := openStoreFor("token create", ctx, &cfg, *cfgFile, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if *org != "" {
		// A token of an account that does not exist would authenticate
		// nobody the operator registered: create the account first.
		if _, err := st.GetServiceAccount(ctx, *org, *account); err != nil {
			return failed(stderr, "token create", err, fmt.Sprintf("no service account %s in org %s: create it first with `onboard account create --org %s --account %s [--public-key FILE.pem]`",
				*account, *org, *org, *account))
		}
	}
	token := "onb_" + randomString(32)
	now := time.Now()
	t := &store.Token{ProjectID: *project, OrgID: *org, AccountID: *account, CreatedAt: now, ExpiresAt: now.Add(*ttl)}
	if err := st.CreateToken(ctx, token, t); err != nil {
		fmt.Fprintf(stderr, "onboard token create: %v\n", err)
		return exitUsage
	}
	printCredential(stdout, *asJSON, map[string]string{"token": token, "expires_at": t.ExpiresAt.UTC().Format(time.RFC3339)}, "token", "expires_at")
	return exitOK
}

func runKey(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: onboard key create --project ID [--json]")
		return exitUsage
	}
	fs := newFlags("key create", stderr)
	var cfg config
	cfgFile := cfg.flags(fs)
	project := fs.String("project", "", "project the access key may act on")
	asJSON := fs.Bool("json", false, `print {"access_key":…,"secret_key":…,"project_id":…}`)
	if code, ok := parseFlags(fs, args[1:], stdout); !ok {
		return code
	}
	if fs.NArg() != 0 || *project == "" {
		fmt.Fprintln(stderr, "usage: onboard key create --project ID [--json]")
		return exitUsage
	}
	st, ok := openStoreFor("key create", ctx, &cfg, *cfgFile, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	ak := make([]byte, 10)
	_, _ = rand.Read(ak)
	k := &store.AccessKey{AccessKeyID: strings.ToUpper(hex.EncodeToString(ak)), SecretKey: randomString(30),
		ProjectID: *project, CreatedAt: time.Now()}
	if err := st.CreateAccessKey(ctx, k); err != nil {
		fmt.Fprintf(stderr, "onboard key create: %v\n", err)
		return exitUsage
	}
	printCredential(stdout, *asJSON, map[string]string{"access_key": k.AccessKeyID, "secret_key": k.SecretKey, "project_id": k.ProjectID},
		"access_key", "secret_key", "project_id")
	return exitOK
}

func openStoreFor(cmd string, ctx context.Context, cfg *config, file string, stderr io.Writer) (store.Store, bool) {
	if err := cfg.resolve(file); err != nil {
		fmt.Fprintf(stderr, "onboard %s: %v\n", cmd, err)
		return nil, false
	}
	st, err := cfg.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "onboard %s: store %s: %v\n", cmd, cfg.describeStore(), err)
		return nil, false
	}
	return st, true
}
