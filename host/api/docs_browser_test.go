package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store/storetest"
)

// TestDocsPageInChromium loads /docs in headless Chromium and checks that
// the page fetched /openapi.json and rendered every operation: the page is
// JavaScript, so only a browser proves it works. CI installs chromium
// (.ci/run); ONBOARD_SKIP_BROWSER=1 skips the test elsewhere.
func TestDocsPageInChromium(t *testing.T) {
	if os.Getenv("ONBOARD_SKIP_BROWSER") == "1" {
		t.Skip("ONBOARD_SKIP_BROWSER=1: the /docs page is not checked in a browser")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: install it (apt-get install -y chromium, as .ci/run does) " +
			"or set ONBOARD_SKIP_BROWSER=1 to skip this test")
	}
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: storetest.Open(t, "sqlite", testKey)})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		// Virtual time lets the page's fetch finish before the DOM is dumped.
		"--virtual-time-budget=10000", "--dump-dom", ts.URL+"/docs")
	cmd.WaitDelay = 5 * time.Second
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	require.NoError(t, err, "chromium failed: %s", stderr.String())
	page := string(dom)

	loaded := regexp.MustCompile(`<body[^>]*data-loaded="(\d+)"`).FindStringSubmatch(page)
	require.NotNil(t, loaded, "the page never set data-loaded on <body>: it did not render /openapi.json\n%.2000s", page)
	assert.NotEqual(t, "0", loaded[1])

	// Every operation of the served OpenAPI document is on the page.
	resp := (&env{t: t, url: ts.URL}).do("GET", "/openapi.json", "", nil)
	type operation struct {
		OperationID string `json:"operationId"`
	}
	var doc struct {
		Paths map[string]map[string]struct {
			operation
			Variants []operation `json:"x-onboard-operations"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(resp.raw, &doc))
	n := 0
	for _, item := range doc.Paths {
		for _, op := range item {
			shown := op.Variants // operations sharing a path and method are shown one by one
			if len(shown) == 0 {
				shown = []operation{op.operation}
			}
			for _, o := range shown {
				n++
				assert.True(t, strings.Contains(page, `id="`+o.OperationID+`"`), "operation %s is missing from /docs", o.OperationID)
			}
		}
	}
	assert.GreaterOrEqual(t, n, len(srv.Operations()))
	assert.True(t, strings.Contains(page, `<p id="error"></p>`), "the page reported an error")
}

// limitedBuffer keeps the first 64 KiB of Chromium's chatty stderr.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
