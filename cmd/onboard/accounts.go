package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/schemas"
)

// EnOS service accounts and products are set up by the operator, as the
// EnOS console does: `onboard account` registers a service account and the
// RSA public key its requireSecret secrets are sealed with; `onboard
// enos-product` the products devices are created under. Both write the
// store `onboard serve` reads, so a running server sees them at once.

// subcommand is one verb of a command with several (account create, …).
type subcommand struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// runSub dispatches args[0] to its subcommand, or prints the usage.
func runSub(ctx context.Context, cmd string, subs []subcommand, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, s := range subs {
			if s.name == args[0] {
				return s.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	// Asked for, the usage is the answer (stdout); otherwise it explains
	// a usage error (stderr).
	asked := len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")
	w, code := stderr, exitUsage
	if asked {
		w, code = stdout, exitOK
	}
	fmt.Fprintf(w, "usage:\n")
	for _, s := range subs {
		fmt.Fprintf(w, "  onboard %s %s %s\n", cmd, s.name, s.usage)
	}
	return code
}

// storeFlags parses a subcommand's flags, with the store settings every
// credential command takes, and opens the store.
type storeFlags struct {
	name string
	fs   *flag.FlagSet
	cfg  config
	file *string
}

func newStoreFlags(name string, stderr io.Writer) *storeFlags {
	f := &storeFlags{name: name, fs: newFlags(name, stderr)}
	f.file = f.cfg.flags(f.fs)
	return f
}

// parse parses args; required names flags that must not be empty.
func (f *storeFlags) parse(args []string, stderr io.Writer, usage string, required map[string]*string) bool {
	if err := f.fs.Parse(args); err != nil {
		return false
	}
	var missing []string
	for name, v := range required {
		if *v == "" {
			missing = append(missing, "--"+name)
		}
	}
	if f.fs.NArg() != 0 || len(missing) > 0 {
		if len(missing) > 0 {
			slices.Sort(missing)
			fmt.Fprintf(stderr, "onboard %s: missing %s\n", f.name, strings.Join(missing, ", "))
		} else {
			fmt.Fprintf(stderr, "onboard %s: unexpected argument %q (flags go before it?)\n", f.name, f.fs.Arg(0))
		}
		fmt.Fprintf(stderr, "usage: onboard %s %s\n", f.name, usage)
		return false
	}
	return true
}

func (f *storeFlags) open(ctx context.Context, stderr io.Writer) (store.Store, bool) {
	return openStoreFor(f.name, ctx, &f.cfg, *f.file, stderr)
}

// failed reports a store error of a subcommand: exit 1 for what the store
// refused (not found, exists), 2 for anything else.
func failed(stderr io.Writer, name string, err error, hint string) int {
	fmt.Fprintf(stderr, "onboard %s: %s\n", name, hint)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return exitInvalid
	}
	fmt.Fprintf(stderr, "onboard %s: %v\n", name, err)
	return exitUsage
}

var accountSubs = []subcommand{
	{"create", "--org ORG --account ACCOUNT [--public-key FILE.pem] [--device-access=false]", accountCreate},
	{"rotate-key", "--org ORG --account ACCOUNT --public-key FILE.pem", accountRotateKey},
	{"set-access", "--org ORG --account ACCOUNT --device-access=true|false", accountSetAccess},
	{"list", "[--org ORG] [--json]", accountList},
	{"delete", "--org ORG --account ACCOUNT", accountDelete},
}

func runAccount(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runSub(ctx, "account", accountSubs, args, stdout, stderr)
}

// readPublicKey reads an RSA public key file and checks that it can seal
// requireSecret secrets.
func readPublicKey(name, file string, stderr io.Writer) (string, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "onboard %s: --public-key: %v\n", name, err)
		return "", false
	}
	if err := api.CheckServiceAccountKey(string(b)); err != nil {
		fmt.Fprintf(stderr, "onboard %s: --public-key %s: %v; give the RSA public key in PEM "+
			"(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key && openssl pkey -in sa.key -pubout -out sa.pub.pem)\n",
			name, file, err)
		return "", false
	}
	return string(b), true
}

func accountCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "--org ORG --account ACCOUNT [--public-key FILE.pem] [--device-access=false]"
	f := newStoreFlags("account create", stderr)
	org := f.fs.String("org", "", "EnOS organization of the service account")
	account := f.fs.String("account", "", "service account id (what token create --account names)")
	keyFile := f.fs.String("public-key", "", "`FILE.pem` with the RSA public key that requireSecret secrets are sealed with; without it requireSecret gets 11858")
	access := f.fs.Bool("device-access", true, "authorized the Device Management Service policy the EnOS device APIs need (false: they answer 99403)")
	if !f.parse(args, stderr, usage, map[string]*string{"org": org, "account": account}) {
		return exitUsage
	}
	a := &store.ServiceAccount{OrgID: *org, AccountID: *account, DeviceAccessDenied: !*access}
	if *keyFile != "" {
		pem, ok := readPublicKey(f.name, *keyFile, stderr)
		if !ok {
			return exitUsage
		}
		a.PublicKeyPEM = pem
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if err := st.CreateServiceAccount(ctx, a); err != nil {
		return failed(stderr, f.name, err, fmt.Sprintf("service account %s of org %s exists (rotate its key with `onboard account rotate-key`)", *account, *org))
	}
	fmt.Fprintf(stdout, "created service account %s of org %s (%s)\n", *account, *org, keyState(a))
	return exitOK
}

func keyState(a *store.ServiceAccount) string {
	key := "RSA public key set " + a.KeyUpdatedAt.UTC().Format(time.RFC3339)
	if a.PublicKeyPEM == "" {
		key = "no RSA public key: requireSecret gets 11858"
	}
	if a.DeviceAccessDenied {
		key += "; no device access: the EnOS device APIs answer 99403"
	}
	return key
}

func accountSetAccess(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "--org ORG --account ACCOUNT --device-access=true|false"
	f := newStoreFlags("account set-access", stderr)
	org := f.fs.String("org", "", "EnOS organization of the service account")
	account := f.fs.String("account", "", "service account id")
	access := f.fs.String("device-access", "", "true: authorize the Device Management Service policy; false: withdraw it (99403)")
	if !f.parse(args, stderr, usage, map[string]*string{"org": org, "account": account, "device-access": access}) {
		return exitUsage
	}
	grant, err := strconv.ParseBool(*access)
	if err != nil {
		fmt.Fprintf(stderr, "onboard %s: --device-access %q: give true or false\n", f.name, *access)
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if err := st.SetServiceAccountDeviceAccess(ctx, *org, *account, !grant); err != nil {
		return failed(stderr, f.name, err, fmt.Sprintf("no service account %s in org %s", *account, *org))
	}
	state := "authorized"
	if !grant {
		state = "no longer authorized"
	}
	fmt.Fprintf(stdout, "service account %s of org %s is %s the Device Management Service policy\n", *account, *org, state)
	return exitOK
}

func accountRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "--org ORG --account ACCOUNT --public-key FILE.pem"
	f := newStoreFlags("account rotate-key", stderr)
	org := f.fs.String("org", "", "EnOS organization of the service account")
	account := f.fs.String("account", "", "service account id")
	keyFile := f.fs.String("public-key", "", "`FILE.pem` with the new RSA public key; secrets returned from now on are sealed with it")
	if !f.parse(args, stderr, usage, map[string]*string{"org": org, "account": account, "public-key": keyFile}) {
		return exitUsage
	}
	pem, ok := readPublicKey(f.name, *keyFile, stderr)
	if !ok {
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if err := st.UpdateServiceAccountKey(ctx, *org, *account, pem); err != nil {
		return failed(stderr, f.name, err, fmt.Sprintf("no service account %s in org %s: create it with `onboard account create`", *account, *org))
	}
	fmt.Fprintf(stdout, "rotated the RSA public key of service account %s of org %s\n", *account, *org)
	return exitOK
}

func accountList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newStoreFlags("account list", stderr)
	org := f.fs.String("org", "", "only this organization's accounts")
	asJSON := f.fs.Bool("json", false, `print [{"org":…,"account":…,"public_key":bool,"created_at":…,"key_updated_at":…,"device_access":bool}]`)
	if !f.parse(args, stderr, "[--org ORG] [--json]", nil) {
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	accts, err := st.ListServiceAccounts(ctx, *org)
	if err != nil {
		return failed(stderr, f.name, err, "listing service accounts failed")
	}
	type row struct {
		Org          string `json:"org"`
		Account      string `json:"account"`
		PublicKey    bool   `json:"public_key"`
		CreatedAt    string `json:"created_at"`
		KeyUpdatedAt string `json:"key_updated_at,omitempty"`
		DeviceAccess bool   `json:"device_access"`
	}
	rows := make([]row, 0, len(accts))
	for _, a := range accts {
		r := row{Org: a.OrgID, Account: a.AccountID, PublicKey: a.PublicKeyPEM != "", CreatedAt: a.CreatedAt.UTC().Format(time.RFC3339),
			DeviceAccess: !a.DeviceAccessDenied}
		if !a.KeyUpdatedAt.IsZero() {
			r.KeyUpdatedAt = a.KeyUpdatedAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, r)
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(rows)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORG\tACCOUNT\tPUBLIC KEY\tDEVICE ACCESS\tCREATED")
	for _, r := range rows {
		key := "none (requireSecret: 11858)"
		if r.PublicKey {
			key = "set " + r.KeyUpdatedAt
		}
		access := "yes"
		if !r.DeviceAccess {
			access = "no (99403)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Org, r.Account, key, access, r.CreatedAt)
	}
	_ = tw.Flush()
	return exitOK
}

func accountDelete(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newStoreFlags("account delete", stderr)
	org := f.fs.String("org", "", "EnOS organization of the service account")
	account := f.fs.String("account", "", "service account id")
	if !f.parse(args, stderr, "--org ORG --account ACCOUNT", map[string]*string{"org": org, "account": account}) {
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if err := st.DeleteServiceAccount(ctx, *org, *account); err != nil {
		return failed(stderr, f.name, err, fmt.Sprintf("no service account %s in org %s", *account, *org))
	}
	fmt.Fprintf(stdout, "deleted service account %s of org %s and revoked its tokens\n", *account, *org)
	return exitOK
}

var productSubs = []subcommand{
	{"create", "--org ORG --product-key KEY [--name NAME]", productCreate},
	{"list", "--org ORG [--json]", productList},
	{"delete", "--org ORG --product-key KEY", productDelete},
}

func runEnOSProduct(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runSub(ctx, "enos-product", productSubs, args, stdout, stderr)
}

// productKeyRule is the rule a product key of a request meets: the one of
// enos.device.get's productKey parameter in the catalogue, so that the CLI
// cannot create a product no request can name.
var productKeyRule = sync.OnceValues(func() (*regexp.Regexp, error) {
	op, ok := schemas.Lookup("enos.device.get")
	if !ok {
		return nil, errors.New("enos.device.get is not in the catalogue")
	}
	var p struct {
		Properties struct {
			ProductKey struct {
				MinLength int    `json:"minLength"`
				MaxLength int    `json:"maxLength"`
				Pattern   string `json:"pattern"`
			} `json:"productKey"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(op.Params, &p); err != nil {
		return nil, err
	}
	k := p.Properties.ProductKey
	// The pattern is one character class (^[…]*$): its length bounds go
	// into the repetition.
	class, ok := strings.CutSuffix(strings.TrimPrefix(k.Pattern, "^"), "*$")
	if !ok || k.MaxLength == 0 {
		return nil, fmt.Errorf("enos.device.get productKey: pattern %q is not ^[…]*$ with a maxLength", k.Pattern)
	}
	return regexp.Compile(fmt.Sprintf("^%s{%d,%d}$", class, k.MinLength, k.MaxLength))
})

func productCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "--org ORG --product-key KEY [--name NAME]"
	f := newStoreFlags("enos-product create", stderr)
	org := f.fs.String("org", "", "EnOS organization of the product")
	key := f.fs.String("product-key", "", "the productKey devices name in batchCreate")
	name := f.fs.String("name", "", "a name for operators (optional)")
	if !f.parse(args, stderr, usage, map[string]*string{"org": org, "product-key": key}) {
		return exitUsage
	}
	rule, err := productKeyRule()
	if err != nil {
		fmt.Fprintf(stderr, "onboard %s: %v\n", f.name, err)
		return exitUsage
	}
	if !rule.MatchString(*key) {
		fmt.Fprintf(stderr, "onboard %s: --product-key %q: a product key is 1 to 64 letters, digits, underscores and hyphens (%s)\n", f.name, *key, rule)
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if err := st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: *org, ProductKey: *key, Name: *name}); err != nil {
		return failed(stderr, f.name, err, fmt.Sprintf("product %s exists in org %s", *key, *org))
	}
	fmt.Fprintf(stdout, "created product %s in org %s\n", *key, *org)
	return exitOK
}

func productList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newStoreFlags("enos-product list", stderr)
	org := f.fs.String("org", "", "EnOS organization")
	asJSON := f.fs.Bool("json", false, `print [{"org":…,"product_key":…,"name":…,"created_at":…}]`)
	if !f.parse(args, stderr, "--org ORG [--json]", map[string]*string{"org": org}) {
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	products, _, err := st.ListEnOSProducts(ctx, store.EnosProductFilter{OrgID: *org})
	if err != nil {
		return failed(stderr, f.name, err, "listing products failed")
	}
	type row struct {
		Org        string `json:"org"`
		ProductKey string `json:"product_key"`
		Name       string `json:"name"`
		CreatedAt  string `json:"created_at"`
	}
	rows := make([]row, 0, len(products))
	for _, p := range products {
		rows = append(rows, row{p.OrgID, p.ProductKey, p.Name, p.CreatedAt.UTC().Format(time.RFC3339)})
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(rows)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORG\tPRODUCT KEY\tNAME\tCREATED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Org, r.ProductKey, r.Name, r.CreatedAt)
	}
	_ = tw.Flush()
	return exitOK
}

func productDelete(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newStoreFlags("enos-product delete", stderr)
	org := f.fs.String("org", "", "EnOS organization of the product")
	key := f.fs.String("product-key", "", "the product to delete")
	if !f.parse(args, stderr, "--org ORG --product-key KEY", map[string]*string{"org": org, "product-key": key}) {
		return exitUsage
	}
	st, ok := f.open(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer st.Close(ctx)
	if err := st.DeleteEnOSProduct(ctx, *org, *key); err != nil {
		hint := fmt.Sprintf("no product %s in org %s", *key, *org)
		if errors.Is(err, store.ErrConflict) {
			// EnOS refuses the same with 11619 "Existing Device Restrictions".
			hint = fmt.Sprintf("product %s of org %s still has devices; EnOS deletes only a product without devices (11619)", *key, *org)
		}
		return failed(stderr, f.name, err, hint)
	}
	fmt.Fprintf(stdout, "deleted product %s of org %s\n", *key, *org)
	return exitOK
}
