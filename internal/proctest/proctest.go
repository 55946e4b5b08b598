// Package proctest builds the onboard binary and runs `onboard serve` as a
// real process for the crash and load tests: started, waited for, killed
// with SIGKILL, restarted on the same store. It is for tests only.
package proctest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var built struct {
	once sync.Once
	path string
	err  error
}

// Build compiles cmd/onboard once per test process into a temporary
// directory and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "onboard-proctest-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "onboard")
		cmd := exec.Command("go", "build", "-o", built.path, "./cmd/onboard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/onboard: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// Server is one running `onboard serve`.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *LockedBuffer
}

// LockedBuffer collects a process's output, written from os/exec's
// goroutines while the test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs `bin serve --addr 127.0.0.1:0` with env added to a minimal
// environment and waits until /readyz answers 200. The process is killed
// at cleanup if still running.
func Start(t testing.TB, bin string, env ...string) *Server {
	t.Helper()
	return StartArgs(t, bin, nil, env...)
}

// StartArgs is Start with more arguments to serve (--log-json, --config FILE).
func StartArgs(t testing.TB, bin string, args []string, env ...string) *Server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "XDG_CACHE_HOME=" + cacheHome()}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), log: &LockedBuffer{}}
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = s.log.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "onboard listening on "); ok {
				urlc <- u
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case s.URL = <-urlc:
	case <-s.done:
		t.Fatalf("onboard serve exited: %s", s.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("onboard serve did not start: %s", s.log.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("onboard serve not ready: %v %s", err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cacheHome keeps the engine's compilation cache across runs, so a start
// takes tens of milliseconds rather than seconds.
func cacheHome() string {
	if d, err := os.UserCacheDir(); err == nil {
		return d
	}
	return os.TempDir()
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// PID is the process id (to read its /proc status).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Exited reports whether the process has ended, and its exit code.
func (s *Server) Exited() (bool, int) {
	select {
	case <-s.done:
		return true, s.cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Log is what the process wrote to stdout and stderr.
func (s *Server) Log() string { return s.log.String() }

// Stop sends SIGTERM (a graceful shutdown) and waits up to timeout.
func (s *Server) Stop(ctx context.Context) error {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.Kill()
		return ctx.Err()
	}
}
