package onboardcaddy

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser(`onboard {
		database_url   /var/lib/onboard/onboard.db
		encryption_key {env.ONBOARD_ENCRYPTION_KEY}
		body_limit     256KiB
		max_instances  2
		invocation_timeout    45m
		idempotency_retention 2d
	}`)
	require.NoError(t, h.UnmarshalCaddyfile(d))
	assert.Equal(t, Handler{DatabaseURL: "/var/lib/onboard/onboard.db", EncryptionKey: "{env.ONBOARD_ENCRYPTION_KEY}",
		BodyLimit: 256 << 10, MaxInstances: 2, InvocationTimeout: caddy.Duration(45 * time.Minute),
		IdempotencyRetention: caddy.Duration(48 * time.Hour)}, h)

	h = Handler{}
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`onboard memory:`)))
	assert.Equal(t, "memory:", h.DatabaseURL)

	for _, bad := range []string{
		`onboard a b`,
		"onboard {\n colour red\n}",
		"onboard {\n database_url\n}",
		"onboard {\n database_url a b\n}",
		"onboard {\n body_limit lots\n}",
		"onboard {\n max_instances 0\n}",
		"onboard {\n invocation_timeout soon\n}",
		"onboard {\n invocation_timeout 0s\n}",
		"onboard {\n idempotency_retention -1h\n}",
	} {
		h = Handler{}
		assert.Error(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)), bad)
	}
}

func TestResolveSettings(t *testing.T) {
	t.Setenv("ONBOARD_DATABASE_URL", "")
	t.Setenv("ONBOARD_ENCRYPTION_KEY", "")
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

	h := Handler{}
	assert.ErrorContains(t, h.resolve(), "database_url is required")
	h = Handler{DatabaseURL: "/tmp/x.db"}
	assert.ErrorContains(t, h.resolve(), "encryption_key is required")
	h = Handler{DatabaseURL: "/tmp/x.db", EncryptionKey: "c2hvcnQ="}
	assert.ErrorContains(t, h.resolve(), "base64 of 32 bytes")
	h = Handler{DatabaseURL: "memory:", InvocationTimeout: caddy.Duration(-time.Second)}
	assert.ErrorContains(t, h.resolve(), "invocation_timeout must not be negative")
	h = Handler{DatabaseURL: "memory:"}
	assert.NoError(t, h.resolve())

	// Placeholders, then the environment of `onboard serve`.
	t.Setenv("MY_DB", "/srv/onboard.db")
	t.Setenv("ONBOARD_ENCRYPTION_KEY", key)
	h = Handler{DatabaseURL: "{env.MY_DB}"}
	require.NoError(t, h.resolve())
	assert.Equal(t, "/srv/onboard.db", h.url)
	assert.Len(t, h.key, 32)
	t.Setenv("ONBOARD_DATABASE_URL", "/srv/env.db")
	h = Handler{}
	require.NoError(t, h.resolve())
	assert.Equal(t, "/srv/env.db", h.url)

	// A Handler that failed to provision cleans up without panicking.
	assert.NoError(t, (&Handler{}).Cleanup())
	assert.Error(t, (&Handler{}).Validate())
}
