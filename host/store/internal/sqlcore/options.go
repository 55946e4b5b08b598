package sqlcore

import (
	"context"
	"io/fs"

	"github.com/onboardhq/onboard/host/store/internal/seal"
)

// Options configure an SQL adapter's Open; the adapters re-export it as
// their own Options.
type Options struct {
	EncryptionKey            []byte   // 32 bytes; seals secrets at rest
	RetiredKeys              [][]byte // older keys still accepted for reading
	DeviceLimitPerProduct    int      // 0 = 10,000 (EnOS)
	TemplateLimitPerInstance int      // 0 = 10 (IoTDA)
	// MigrateTo stops migrations at this version (0 = all). For upgrade tests.
	MigrateTo int
	// Trace, when set, is told every statement after the migrations (for
	// query-plan tests).
	Trace Trace
}

// Sealer checks the keys; adapters call it before connecting so that a bad
// key fails without touching the database.
func (o Options) Sealer() (*seal.Sealer, error) {
	return seal.New(o.EncryptionKey, o.RetiredKeys...)
}

// LoadMigrationsDir reads the migrations in dir of fsys (an adapter's
// embedded files).
func LoadMigrationsDir(fsys fs.FS, dir string) ([]Migration, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, err
	}
	return LoadMigrations(sub)
}

// Open migrates a connected d with the adapter's migrations up to
// o.MigrateTo and returns the Store over it. On error it closes d.
func Open(ctx context.Context, d DB, migrations func() ([]Migration, error), sealer *seal.Sealer, o Options) (*Store, error) {
	migs, err := migrations()
	if err == nil {
		err = Migrate(ctx, d, migs, o.MigrateTo)
	}
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	if o.Trace != nil {
		d = traced(d, o.Trace)
	}
	limits := Limits{DevicesPerProduct: o.DeviceLimitPerProduct, TemplatesPerInstance: o.TemplateLimitPerInstance}
	return New(d, sealer, limits), nil
}
