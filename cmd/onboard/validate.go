package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/plugins/engine"
)

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("onboard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if flagSetHook != nil {
		flagSetHook(fs)
	}
	return fs
}

// flagSetHook, set by tests only, sees each FlagSet a command creates, so
// that the README test can check documented flags against the real ones.
var flagSetHook func(*flag.FlagSet)

// startEngine loads engine.wasm once for the command.
func startEngine(ctx context.Context, stderr io.Writer) (*host.Runtime, bool) {
	rt, err := host.New(ctx, host.WithMaxInstances(1))
	if err != nil {
		fmt.Fprintf(stderr, "onboard: cannot load the engine: %v\n", err)
		return nil, false
	}
	return rt, true
}

func runValidate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	op := fs.String("op", "", "operation id, e.g. enos.device.batch-create (see 'onboard ops'); append :response to check a response body")
	params := fs.String("params", "", `path and query parameters as a JSON object, e.g. '{"project_id":"p1"}'`)
	asJSON := fs.Bool("json", false, "print the engine's result document instead of a report")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onboard validate --op OPERATION [--params JSON] [--json] FILE|-")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *op == "" || fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if !knownOp(*op) {
		fmt.Fprintf(stderr, "onboard validate: unknown operation %q; known: %s\n", *op, strings.Join(engine.Operations(), ", "))
		return exitUsage
	}
	body, err := readInput(fs.Arg(0), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "onboard validate: %v\n", err)
		return exitUsage
	}
	rt, ok := startEngine(ctx, stderr)
	if !ok {
		return exitUsage
	}
	defer rt.Close(ctx)
	return validateBody(ctx, rt, *op, *params, fs.Arg(0), body, *asJSON, stdout, stderr)
}

// validateBody is validate once the engine runs: its verdict, report and
// exit status.
func validateBody(ctx context.Context, rt *host.Runtime, op, params, name string, body []byte, asJSON bool, stdout, stderr io.Writer) int {
	out, err := rt.Call(ctx, nil, op, []byte(params), body)
	if err != nil {
		fmt.Fprintf(stderr, "onboard validate: %v\n", err)
		return exitUsage
	}
	res, err := abi.DecodeResult(out)
	if err != nil {
		fmt.Fprintf(stderr, "onboard validate: %v\n", err)
		return exitUsage
	}
	if asJSON {
		var pretty map[string]any
		_ = json.Unmarshal(out, &pretty)
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(pretty)
	} else {
		report(stdout, name, res)
	}
	if !res.Valid {
		return exitInvalid
	}
	return exitOK
}

func knownOp(op string) bool {
	base := strings.TrimSuffix(op, abi.ResponseSuffix)
	for _, known := range engine.Operations() {
		if known == base {
			return true
		}
	}
	return false
}

// report prints a verdict a person can act on: each violation with where
// it is and what to fix, and per-item verdicts of batches.
func report(w io.Writer, name string, res *abi.Result) {
	op, what := res.Op, "request"
	if base, ok := strings.CutSuffix(op, abi.ResponseSuffix); ok {
		op, what = base, "response"
	}
	if res.Valid {
		fmt.Fprintf(w, "%s: valid %s %s\n", name, op, what)
		for _, b := range res.Batches {
			fmt.Fprintf(w, "  %s: %d of %d items valid\n", b.Pointer, b.Total, b.Total)
		}
		return
	}
	fmt.Fprintf(w, "%s: invalid %s %s\n", name, op, what)
	for _, v := range res.Violations {
		fmt.Fprintf(w, "  %s\n", v)
	}
	for _, b := range res.Batches {
		fmt.Fprintf(w, "  %s: %d of %d items valid; rejected items (the others are accepted):\n", b.Pointer, b.Total-len(b.Failed), b.Total)
		for _, f := range b.Failed {
			for _, v := range f.Violations {
				fmt.Fprintf(w, "    item %d: %s\n", f.Index, v)
			}
		}
	}
}

func runOps(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("ops", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onboard ops   (lists the operation ids the engine knows; no flags)")
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	for _, op := range engine.Operations() {
		fmt.Fprintln(stdout, op)
	}
	return exitOK
}
