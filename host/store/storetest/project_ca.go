package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// fakeCA returns a create function for GetOrCreateProjectCA whose n-th CA is
// recognisable, and counts its calls. The key carries a secret marker.
func fakeCA(calls *atomic.Int32, tag string) func() (string, string, error) {
	return func() (string, string, error) {
		n := calls.Add(1)
		return fmt.Sprintf("-----BEGIN CERTIFICATE-----\nca-%s-%d\n-----END CERTIFICATE-----\n", tag, n),
			fmt.Sprintf("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA-secret-%s-%d\n-----END RSA PRIVATE KEY-----\n", tag, n), nil
	}
}

func failCreate() (string, string, error) { return "", "", errors.New("create must not be called") }

// testProjectCA: the CA is created once per project and then reused; a
// failing or empty create stores nothing; the key is sealed at rest.
func testProjectCA(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")

	// a failing create is reported and leaves no CA behind
	boom := errors.New("no entropy")
	_, _, err := s.GetOrCreateProjectCA(ctx, proj, func() (string, string, error) { return "", "", boom })
	require.ErrorIs(t, err, boom)
	_, _, err = s.GetOrCreateProjectCA(ctx, proj, func() (string, string, error) { return "cert-only", "", nil })
	require.ErrorContains(t, err, "empty")

	var calls atomic.Int32
	cert, key, err := s.GetOrCreateProjectCA(ctx, proj, fakeCA(&calls, "a"))
	require.NoError(t, err)
	assert.Equal(t, int32(1), calls.Load())
	assert.Contains(t, cert, "ca-a-1")
	assert.Contains(t, key, "MIIEowIBAAKCAQEA-secret-a-1")
	assertSealed(t, s, "project_cas", proj, "MIIEowIBAAKCAQEA-secret-a-1", key)

	// second call: the stored CA, create not called
	cert2, key2, err := s.GetOrCreateProjectCA(ctx, proj, failCreate)
	require.NoError(t, err)
	assert.Equal(t, cert, cert2)
	assert.Equal(t, key, key2)

	// another project gets a CA of its own
	other := uniq("proj")
	ocert, _, err := s.GetOrCreateProjectCA(ctx, other, fakeCA(&calls, "b"))
	require.NoError(t, err)
	assert.NotEqual(t, cert, ocert)
	cert3, _, err := s.GetOrCreateProjectCA(ctx, proj, failCreate)
	require.NoError(t, err)
	assert.Equal(t, cert, cert3)
}

// testProjectCARace: 8 goroutines ask for a new project's CA at once. Each
// create waits (briefly) until all have started creating, so every caller
// really races to insert; all must get the same, stored, CA.
func testProjectCARace(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	const racers = 8
	var calls, started atomic.Int32
	allIn := make(chan struct{})
	var wg sync.WaitGroup
	type ca struct{ cert, key string }
	got := make([]ca, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			create := fakeCA(&calls, fmt.Sprint("r", i))
			got[i].cert, got[i].key, errs[i] = s.GetOrCreateProjectCA(ctx, proj, func() (string, string, error) {
				if started.Add(1) == racers {
					close(allIn)
				}
				select { // an adapter may serialise creators: do not wait forever
				case <-allIn:
				case <-time.After(500 * time.Millisecond):
				}
				return create()
			})
		}()
	}
	wg.Wait()
	for i := range racers {
		require.NoError(t, errs[i], "racer %d", i)
		assert.Equal(t, got[0], got[i], "racer %d got another CA", i)
	}
	assert.NotEmpty(t, got[0].cert)
	cert, key, err := s.GetOrCreateProjectCA(ctx, proj, failCreate)
	require.NoError(t, err)
	assert.Equal(t, ca{cert, key}, got[0], "the CA every racer got is the stored one")
	t.Logf("%d racers, create ran %d times, one CA stored", racers, calls.Load())
}
