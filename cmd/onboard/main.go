// Command onboard is the standalone onboard host: it validates requests and
// resolves provisioning templates with the Wasm engine, and (later issues)
// serves the registration APIs.
//
//	onboard validate --op OPERATION FILE|-      exit 0 valid, 1 invalid, 2 usage
//	onboard resolve --template FILE --subject 'C=CN,O=acme,CN=dev-1'
//	onboard ops                                  list operation ids
//	onboard serve [--addr HOST:PORT]             serve the APIs (SQLite by default)
//	onboard token create --project ID [--json]   issue credentials against the same store
//	onboard key create --project ID [--json]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitInvalid = 1 // the input broke a rule
	exitUsage   = 2 // the command line or a file was wrong
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = []command{
	{"validate", "validate a request body with the Wasm engine", runValidate},
	{"resolve", "resolve an IoTDA provisioning template against a certificate subject (dry run)", runResolve},
	{"ops", "list the operation ids the engine knows", runOps},
	{"serve", "serve the registration APIs over HTTP", runServe},
	{"openapi", "print the OpenAPI 3.1 description (also served at /openapi.json)", runOpenAPI},
	{"token", "issue an API token (token create --project ID | --org ORG --account ACCOUNT)", runToken},
	{"account", "register EnOS service accounts and their RSA public keys (account create|rotate-key|set-access|list|delete)", runAccount},
	{"enos-product", "register the EnOS products devices are created under (enos-product create|list|delete)", runEnOSProduct},
	{"key", "issue an access key and secret key for AK/SK signing (key create --project ID)", runKey},
	{"conform", "run the conformance kit against a server (conform --target URL …)", runConform},
	{"import", "create EnOS devices in bulk from a CSV or NDJSON file, resumable (import --org ORG --product KEY FILE)", runImport},
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr) // a usage error: say how, where errors go
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stdout) // asked for: the answer, not an error
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "onboard: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: onboard COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'onboard COMMAND -h' for a command's flags.")
}

// readInput reads FILE, or standard input for "-".
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file", name)
	}
	return b, err
}

// parseFlags parses a command's flags. -h or --help prints the command's
// usage to stdout and exits 0: it was asked for. A bad flag prints the
// error and the usage to stderr (exit 2). Go's flag package stops at the
// first argument that is not a flag, so a flag written after the file
// would be taken for a second file: that is named, with the fix.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	stderr := fs.Output()
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(out.Bytes())
		return exitOK, false
	case err != nil:
		_, _ = stderr.Write(out.Bytes())
		return exitUsage, false
	}
	if slices.Contains(args, "--") {
		return exitOK, true // the caller ended the flags on purpose
	}
	for i, a := range fs.Args() {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if i > 0 && strings.HasPrefix(a, "-") && fs.Lookup(name) != nil {
			fmt.Fprintf(stderr, "%s: flag %s comes after the argument %q: put the flags before it (%s [flags] %s)\n",
				fs.Name(), a, fs.Arg(0), fs.Name(), fs.Arg(0))
			return exitUsage, false
		}
	}
	return exitOK, true
}
