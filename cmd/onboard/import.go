package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/onboardhq/onboard/host/importer"
)

func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("import", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onboard import --org ORG --product KEY [flags] devices.csv|devices.ndjson\n\n"+
			"Creates EnOS devices in batches through a running server's batchCreate API. Interrupted\n"+
			"imports resume where they stopped when run again with the same file and --result.\n\nflags:")
		fs.PrintDefaults()
	}
	o := importer.Options{}
	fs.StringVar(&o.Org, "org", "", "EnOS organization (orgId) to create the devices in (required)")
	fs.StringVar(&o.Product, "product", "", "productKey of rows that name none (required)")
	fs.StringVar(&o.Target, "target", envOr("ONBOARD_TARGET", "http://127.0.0.1:8080"), "base URL of the server (env ONBOARD_TARGET)")
	fs.StringVar(&o.Token, "token", "", "EnOS bearer token of a service account of --org (env ONBOARD_TOKEN; onboard token create --org ORG --account ACCOUNT)")
	fs.IntVar(&o.Batch, "batch", importer.DefaultBatch, "devices per request: the org's batch limit")
	fs.StringVar(&o.Timezone, "timezone", "+00:00", "timezone of rows that name none")
	fs.StringVar(&o.Result, "result", "", "per-row result file (NDJSON; default FILE.result.ndjson); its resume state is RESULT.state")
	format := fs.String("format", "", "csv or ndjson (default: from the file extension)")
	plain := fs.Bool("plain", false, "print one progress line per batch even on a terminal")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 1 || o.Org == "" || o.Product == "" {
		fs.Usage()
		return exitUsage
	}
	if o.Token == "" {
		o.Token = os.Getenv("ONBOARD_TOKEN")
	}
	if o.Token == "" {
		fmt.Fprintln(stderr, "onboard import: no token: pass --token or set ONBOARD_TOKEN")
		return exitUsage
	}
	switch *format {
	case "":
	case "csv", "ndjson":
		o.Format = importer.Format(*format)
	default:
		fmt.Fprintf(stderr, "onboard import: --format %q: use csv or ndjson\n", *format)
		return exitUsage
	}
	input := fs.Arg(0)

	bar := newProgressBar(stderr, !*plain && isTerminal(stderr))
	o.Progress = bar.update
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := importer.Run(ctx, input, o)
	bar.finish()
	switch {
	case sum.AlreadyDone:
		fmt.Fprintf(stdout, "already imported: %d rows, %d created, %d failed; results in %s\n", sum.Rows, sum.Created, sum.Failed, sum.Result)
	case err != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "onboard import: interrupted after %d rows; run the same command again to resume\n", sum.Rows)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "onboard import: %v\n", err)
		if sum.Rows > 0 || sum.Result != "" {
			fmt.Fprintf(stderr, "onboard import: %d rows acknowledged; after fixing the cause, run the same command again to resume\n", sum.Rows)
		}
		return exitUsage
	default:
		resumed := ""
		if sum.Resumed {
			resumed = " (resumed)"
		}
		fmt.Fprintf(stdout, "imported %d rows%s: %d created, %d failed; results in %s\n", sum.Rows, resumed, sum.Created, sum.Failed, sum.Result)
	}
	if sum.Failed > 0 {
		return exitInvalid
	}
	return exitOK
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws one self-overwriting line on a terminal, or prints a
// plain line per batch otherwise (logs, CI).
type progressBar struct {
	w     io.Writer
	tty   bool
	drawn bool
}

func newProgressBar(w io.Writer, tty bool) *progressBar { return &progressBar{w: w, tty: tty} }

func (b *progressBar) update(p importer.Progress) {
	pct := 0.0
	if p.Size > 0 {
		pct = 100 * float64(p.Offset) / float64(p.Size)
	}
	eta := "ETA --"
	if d, ok := p.ETA(); ok {
		eta = "ETA " + d.Round(time.Second).String()
	}
	stats := fmt.Sprintf("%d rows, %d created, %d failed, %.0f rows/s, %s", p.Rows, p.Created, p.Failed, p.Rate(), eta)
	if !b.tty {
		fmt.Fprintf(b.w, "import: %5.1f%% %s\n", pct, stats)
		return
	}
	const width = 30
	fill := int(pct / 100 * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	fmt.Fprintf(b.w, "\r\033[K[%s] %5.1f%% %s", bar, pct, stats)
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
