package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServe runs `onboard serve` in-process on loopback with SQLite in
// dataDir (plus extra flags) and returns a reader of its output lines;
// when t ends the server is stopped and must exit 0. Call drain once the
// lines the test needs are read, so the server never blocks on output.
func startServe(t *testing.T, dataDir string, extra ...string) *bufio.Scanner {
	t.Helper()
	t.Setenv("ONBOARD_DATABASE_URL", "")
	t.Setenv("ONBOARD_ENCRYPTION_KEY", "")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	go func() {
		done <- run(ctx, args, nil, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, exitOK, code, "serve's exit code")
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop on cancel")
		}
	})
	return bufio.NewScanner(pr)
}

// listening reads serve's first line and returns the API's base URL.
func listening(t *testing.T, lines *bufio.Scanner) string {
	t.Helper()
	require.True(t, lines.Scan())
	base, ok := strings.CutPrefix(lines.Text(), "onboard listening on ")
	require.True(t, ok, lines.Text())
	return base
}

// drain discards the rest of serve's output.
func drain(lines *bufio.Scanner) {
	go func() {
		for lines.Scan() {
		}
	}()
}
