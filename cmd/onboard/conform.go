package main

import (
	"context"
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
	fs.BoolVar(&t.Extensions, "extensions", false, "the server has onboard's template extensions (onboard does): also run the cases that use them")
	only := fs.String("only", "", "comma-separated operation ids to check (see 'onboard ops'); default all")
	junit := fs.String("junit", "", "also write the report as JUnit XML to FILE")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: onboard conform --target URL [--token T | --ak AK --sk SK] --project ID [--project-b ID --project-b-token T]\n"+
			"                       [--enos-token T --enos-org ORG] [--only OP,...] [--junit FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "onboard conform: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if *only != "" {
		for _, op := range strings.Split(*only, ",") {
			if op = strings.TrimSpace(op); op != "" {
				t.Only = append(t.Only, op)
			}
		}
	}
	if err := t.Validate(); err != nil {
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
