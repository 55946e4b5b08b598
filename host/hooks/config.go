package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/onboardhq/onboard/abi"
)

// Spec is one hook of a hooks file. The file is a JSON array of specs, run
// in the order given:
//
//	[{"name": "serials", "path": "serial-allowlist.wasm",
//	  "hooks": ["before-provision"], "operations": [], "projects": ["p1"],
//	  "config": {"ranges": "1000-1999"}, "timeout": "100ms", "on_error": "fail"}]
type Spec struct {
	// Name identifies the hook in errors, logs and deny messages; unique.
	Name string `json:"name"`
	// Path is the plug-in's .wasm file, relative to the hooks file.
	Path string `json:"path"`
	// Hooks are the hook points it runs at (abi.BeforeCreate,
	// abi.BeforeProvision); empty means both.
	Hooks []string `json:"hooks,omitempty"`
	// Operations restricts it to these operation ids; empty means every
	// create operation.
	Operations []string `json:"operations,omitempty"`
	// Projects restricts it to these project ids (Huawei routes) or org ids
	// (EnOS routes); empty means all: the hook is global.
	Projects []string `json:"projects,omitempty"`
	// Config is passed to the plug-in as its Extism config.
	Config map[string]string `json:"config,omitempty"`
	// Timeout bounds one call (Go duration, default 100ms).
	Timeout Duration `json:"timeout,omitempty"`
	// OnError is "fail" (default: a trap, timeout or bad output fails the
	// request) or "skip" (the hook is skipped and the failure logged).
	OnError string `json:"on_error,omitempty"`
	// MaxMemoryPages caps each instance's linear memory in 64 KiB pages
	// (default 512: 32 MiB).
	MaxMemoryPages uint32 `json:"max_memory_pages,omitempty"`
	// MaxInstances bounds the instances kept for concurrent calls (default
	// 4); callers beyond it wait.
	MaxInstances int `json:"max_instances,omitempty"`
}

// On-error policies.
const (
	OnErrorFail = "fail"
	OnErrorSkip = "skip"
)

// Defaults for Spec.
const (
	DefaultTimeout        = 100 * time.Millisecond
	DefaultMaxMemoryPages = 512
	DefaultMaxInstances   = 4
)

// Duration is a time.Duration written as a Go duration string ("100ms").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf(`timeout must be a duration string such as "100ms"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("timeout %q: want a positive duration such as \"100ms\"", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// ParseFile reads a hooks file; relative plug-in paths are resolved
// against the file's directory.
func ParseFile(path string) ([]Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	specs, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range specs {
		if !filepath.IsAbs(specs[i].Path) {
			specs[i].Path = filepath.Join(dir, specs[i].Path)
		}
	}
	return specs, nil
}

// Parse decodes and checks a hooks file's content (unknown members are
// refused, so a misspelt setting is not silently ignored).
func Parse(b []byte) ([]Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var specs []Spec
	if err := dec.Decode(&specs); err != nil {
		return nil, fmt.Errorf("want a JSON array of hooks: %w", err)
	}
	seen := map[string]bool{}
	for i := range specs {
		if err := specs[i].normalise(); err != nil {
			return nil, fmt.Errorf("hook %d (%q): %w", i, specs[i].Name, err)
		}
		if seen[specs[i].Name] {
			return nil, fmt.Errorf("hook name %q is used twice", specs[i].Name)
		}
		seen[specs[i].Name] = true
	}
	return specs, nil
}

func (s *Spec) normalise() error {
	switch {
	case s.Name == "":
		return fmt.Errorf(`"name" is required`)
	case s.Path == "":
		return fmt.Errorf(`"path" is required`)
	}
	for _, h := range s.Hooks {
		if h != abi.BeforeCreate && h != abi.BeforeProvision {
			return fmt.Errorf(`"hooks": %q is not a hook point; use %q or %q`, h, abi.BeforeCreate, abi.BeforeProvision)
		}
	}
	switch s.OnError {
	case "":
		s.OnError = OnErrorFail
	case OnErrorFail, OnErrorSkip:
	default:
		return fmt.Errorf(`"on_error" must be "fail" or "skip", got %q`, s.OnError)
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultTimeout)
	}
	if s.MaxMemoryPages == 0 {
		s.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if s.MaxMemoryPages > 65536 {
		return fmt.Errorf(`"max_memory_pages" is at most 65536 (4 GiB)`)
	}
	if s.MaxInstances == 0 {
		s.MaxInstances = DefaultMaxInstances
	}
	if s.MaxInstances < 0 {
		return fmt.Errorf(`"max_instances" must be positive`)
	}
	return nil
}

// applies reports whether the hook runs for req.
func (s *Spec) applies(req *abi.HookRequest) bool {
	if len(s.Hooks) > 0 && !slices.Contains(s.Hooks, req.Hook) {
		return false
	}
	if len(s.Operations) > 0 && !slices.Contains(s.Operations, req.Operation) {
		return false
	}
	if len(s.Projects) > 0 && !slices.Contains(s.Projects, req.Project) && (req.Org == "" || !slices.Contains(s.Projects, req.Org)) {
		return false
	}
	return true
}
