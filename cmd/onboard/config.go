package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
)

// config is what serve and the credential commands share, so that
// `onboard token create` writes to the store `onboard serve` reads.
// Precedence: flag, then environment, then the config file, then default.
type config struct {
	Addr          string `json:"addr"`           // --addr, ONBOARD_ADDR
	DataDir       string `json:"data_dir"`       // --data-dir, ONBOARD_DATA_DIR
	DatabaseURL   string `json:"database_url"`   // --database-url, ONBOARD_DATABASE_URL
	EncryptionKey string `json:"encryption_key"` // base64 of 32 bytes, ONBOARD_ENCRYPTION_KEY
	BodyLimit     int64  `json:"body_limit"`     // --body-limit
	EnOSBatch     int    `json:"enos_batch_limit"`
	// EnOSBatchLimits overrides enos_batch_limit per org: {"o1": 200}.
	EnOSBatchLimits map[string]int `json:"enos_batch_limits"`
	// IdempotencyLease: how long a request holds an Idempotency-Key
	// without renewing it (Go duration, e.g. "10s"); ONBOARD_IDEMPOTENCY_LEASE.
	IdempotencyLease string `json:"idempotency_lease"`
	// IdempotencyRetention: how long a stored Idempotency-Key response is
	// replayed before the sweep deletes it (Go duration, e.g. "24h");
	// ONBOARD_IDEMPOTENCY_RETENTION.
	IdempotencyRetention string `json:"idempotency_retention"`
	// InvocationTimeout: how long a CES task may go without a report
	// before it becomes TIMEOUT (Go duration, e.g. "30m");
	// ONBOARD_INVOCATION_TIMEOUT.
	InvocationTimeout string `json:"invocation_timeout"`
	// Admission sizes the lanes requests are admitted into (api.Admission);
	// read at start only.
	Admission *admissionConfig `json:"admission,omitempty"`
}

// admissionConfig is the config file's "admission": each lane's slots
// and queue, and the body size above which a request is a batch. Zero or
// absent means onboard's default.
type admissionConfig struct {
	Read      laneConfig `json:"read"`
	Write     laneConfig `json:"write"`
	Bulk      laneConfig `json:"bulk"`
	BulkBytes int64      `json:"bulk_bytes"`
}

type laneConfig struct {
	Slots int `json:"slots"`
	Queue int `json:"queue"`
}

// admission is the api's sizing of the lanes.
func (c *config) admission() api.Admission {
	a := c.Admission
	if a == nil {
		return api.Admission{}
	}
	lane := func(l laneConfig) api.LaneLimits { return api.LaneLimits{Slots: l.Slots, Queue: l.Queue} }
	return api.Admission{Read: lane(a.Read), Write: lane(a.Write), Bulk: lane(a.Bulk), BulkBytes: a.BulkBytes}
}

func (c *config) flags(fs *flag.FlagSet) *string {
	fs.StringVar(&c.Addr, "addr", "", "listen address HOST:PORT (env ONBOARD_ADDR; default 127.0.0.1:8080)")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for the SQLite database and the generated encryption key (env ONBOARD_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "postgres://… or a SQLite file path (env ONBOARD_DATABASE_URL; default DATA_DIR/onboard.db)")
	return fs.String("config", "", "optional JSON config file with the same settings (addr, data_dir, database_url, encryption_key, body_limit, enos_batch_limit, enos_batch_limits, idempotency_lease, idempotency_retention, invocation_timeout, admission)")
}

// resolve fills unset fields from the environment, the config file and
// the defaults.
func (c *config) resolve(file string) error {
	c.fillFrom(config{Addr: os.Getenv("ONBOARD_ADDR"), DataDir: os.Getenv("ONBOARD_DATA_DIR"),
		DatabaseURL: os.Getenv("ONBOARD_DATABASE_URL"), EncryptionKey: os.Getenv("ONBOARD_ENCRYPTION_KEY"),
		IdempotencyLease: os.Getenv("ONBOARD_IDEMPOTENCY_LEASE"), IdempotencyRetention: os.Getenv("ONBOARD_IDEMPOTENCY_RETENTION"), InvocationTimeout: os.Getenv("ONBOARD_INVOCATION_TIMEOUT")})
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		var fromFile config
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fromFile); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		if a := fromFile.Admission; a != nil {
			for _, v := range []int64{int64(a.Read.Slots), int64(a.Read.Queue), int64(a.Write.Slots), int64(a.Write.Queue),
				int64(a.Bulk.Slots), int64(a.Bulk.Queue), a.BulkBytes} {
				if v < 0 {
					return fmt.Errorf("config file %s: admission: slots, queue and bulk_bytes must not be negative (0 means the default)", file)
				}
			}
		}
		for org, n := range fromFile.EnOSBatchLimits {
			if org == "" || n <= 0 {
				return fmt.Errorf("config file %s: enos_batch_limits: %q: %d: give each org a positive number of devices per batch", file, org, n)
			}
		}
		c.fillFrom(fromFile)
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return fmt.Errorf("no --data-dir and no home directory: %w", err)
			}
			base = filepath.Join(home, ".local", "share")
		}
		c.DataDir = filepath.Join(base, "onboard")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "onboard.db")
	}
	return nil
}

// fillFrom sets each empty field from o: earlier sources win.
func (c *config) fillFrom(o config) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&c.Addr, o.Addr)
	set(&c.DataDir, o.DataDir)
	set(&c.DatabaseURL, o.DatabaseURL)
	set(&c.EncryptionKey, o.EncryptionKey)
	set(&c.IdempotencyLease, o.IdempotencyLease)
	set(&c.IdempotencyRetention, o.IdempotencyRetention)
	set(&c.InvocationTimeout, o.InvocationTimeout)
	if c.BodyLimit == 0 {
		c.BodyLimit = o.BodyLimit
	}
	if c.EnOSBatch == 0 {
		c.EnOSBatch = o.EnOSBatch
	}
	if c.Admission == nil {
		c.Admission = o.Admission
	}
	if c.EnOSBatchLimits == nil {
		c.EnOSBatchLimits = o.EnOSBatchLimits
	}
}

// key returns the encryption key for secrets at rest: the configured one,
// or one generated into DATA_DIR/secret.key (0600) on first use. Hosts
// sharing one PostgreSQL must share the key: set ONBOARD_ENCRYPTION_KEY.
func (c *config) key() ([]byte, error) {
	if c.EncryptionKey != "" {
		k, err := base64.StdEncoding.DecodeString(c.EncryptionKey)
		if err != nil || len(k) != 32 {
			return nil, errors.New("encryption key must be the base64 of 32 bytes (openssl rand -base64 32)")
		}
		return k, nil
	}
	path := filepath.Join(c.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s does not hold the base64 of 32 bytes", path)
		}
		return k, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	return k, err
}

// idempotencyLease is the configured lease, 0 for the default.
func (c *config) idempotencyLease() (time.Duration, error) {
	return positiveDuration("idempotency lease", c.IdempotencyLease, "10s")
}

// idempotencyRetention is the configured retention of stored
// Idempotency-Key responses, 0 for the default.
func (c *config) idempotencyRetention() (time.Duration, error) {
	return positiveDuration("idempotency retention", c.IdempotencyRetention, "24h")
}

// invocationTimeout is the configured CES task timeout, 0 for the default.
func (c *config) invocationTimeout() (time.Duration, error) {
	return positiveDuration("invocation timeout", c.InvocationTimeout, "30m")
}

// positiveDuration parses setting name's value v: 0 when unset (the
// default applies), an error naming it and an example otherwise.
func positiveDuration(name, v, example string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration such as %s", name, v, example)
	}
	return d, nil
}

// openStore opens the configured store.
func (c *config) openStore(ctx context.Context) (store.Store, error) {
	k, err := c.key()
	if err != nil {
		return nil, err
	}
	if !strings.Contains(c.DatabaseURL, "://") {
		if err := os.MkdirAll(filepath.Dir(c.DatabaseURL), 0o700); err != nil {
			return nil, err
		}
	}
	return stores.Open(ctx, store.Config{URL: c.DatabaseURL, EncryptionKey: k})
}

// describeStore says where data lives without printing a password.
func (c *config) describeStore() string {
	if u, err := url.Parse(c.DatabaseURL); err == nil && u.Scheme != "" && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return c.DatabaseURL
}
