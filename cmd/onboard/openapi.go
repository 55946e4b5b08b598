package main

import (
	"context"
	"fmt"
	"io"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/openapi"
)

// runOpenAPI prints the OpenAPI 3.1 description that serve publishes at
// /openapi.json.
func runOpenAPI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("openapi", stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "usage: onboard openapi   (prints the OpenAPI 3.1 JSON; no flags)") }
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	spec, err := openapi.Generate(api.Version)
	if err != nil {
		fmt.Fprintf(stderr, "onboard openapi: %v\n", err)
		return exitUsage
	}
	_, _ = stdout.Write(append(spec, '\n'))
	return exitOK
}
