package importer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 60 ", time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
		{"Wed, 02 Dec 2026 23:00:30 GMT", 30 * time.Second},
		{"Wed, 02 Dec 2026 22:59:00 GMT", 0},
	} {
		assert.Equal(t, tc.want, parseRetryAfter(tc.header, now), "Retry-After: %q", tc.header)
	}
}
