package conformance_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// One RSA key for the package: generating one is slow.
var shared struct {
	once   sync.Once
	key    *rsa.PrivateKey
	pubPEM string
	err    error
}

func setup(t testing.TB) (*host.Runtime, string) {
	shared.once.Do(func() {
		if shared.key, shared.err = rsa.GenerateKey(rand.Reader, 2048); shared.err != nil {
			return
		}
		der, _ := x509.MarshalPKIXPublicKey(&shared.key.PublicKey)
		shared.pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	})
	require.NoError(t, shared.err)
	return enginetest.Runtime(t), shared.pubPEM
}

// server is onboard on a loopback port, with credentials for two
// projects and one EnOS org.
type server struct {
	url   string
	store store.Store
}

const (
	projA, projB = "proj-a", "proj-b"
	tokenA       = "tok-a"
	tokenB       = "tok-b"
	akA, skA     = "AKCONFORMA", "secret-a"
	akB, skB     = "AKCONFORMB", "secret-b"
	org, account = "org-1", "sa-1"
	enosToken    = "tok-enos"
	// A second service account of the org, with no RSA public key.
	accountNoKey = "sa-no-key"
	enosNoKey    = "tok-enos-no-key"
	// A third, not authorized the Device Management Service policy.
	accountNoAccess = "sa-no-access"
	enosNoAccess    = "tok-enos-no-access"
	// The org's products, as `onboard enos-product create` makes them:
	// onboard creates devices only under products that exist.
	enosProduct, enosQuotaProduct = "conformP", "conformFull"
)

func startOnboard(t *testing.T, kind string) *server {
	t.Helper()
	rt, pub := setup(t)
	st := storetest.Open(t, kind, testKey)
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(time.Hour)
	require.NoError(t, st.CreateToken(ctx, tokenA, &store.Token{ProjectID: projA, CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateToken(ctx, tokenB, &store.Token{ProjectID: projB, CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: akA, SecretKey: skA, ProjectID: projA, CreatedAt: now}))
	require.NoError(t, st.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: akB, SecretKey: skB, ProjectID: projB, CreatedAt: now}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: account, PublicKeyPEM: pub, CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, enosToken, &store.Token{OrgID: org, AccountID: account, CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: accountNoKey, CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, enosNoKey, &store.Token{OrgID: org, AccountID: accountNoKey, CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: accountNoAccess, DeviceAccessDenied: true}))
	require.NoError(t, st.CreateToken(ctx, enosNoAccess, &store.Token{OrgID: org, AccountID: accountNoAccess, CreatedAt: now, ExpiresAt: exp}))
	for _, pk := range []string{enosProduct, enosQuotaProduct} {
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: org, ProductKey: pk}))
	}
	srv, err := api.New(api.Config{Engine: rt, Store: st})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, store: st}
}

// tokenTarget authenticates with X-Auth-Token; akskTarget signs with AK/SK.
func (s *server) tokenTarget() conformance.Target {
	return conformance.Target{BaseURL: s.url, Project: projA, Token: tokenA, ProjectB: projB, ProjectBToken: tokenB,
		EnOSOrg: org, EnOSToken: enosToken, EnOSPrivateKey: shared.key, EnOSTokenNoKey: enosNoKey,
		EnOSTokenNoAccess: enosNoAccess, EnOSProduct: enosProduct, EnOSQuotaProduct: enosQuotaProduct,
		Skip: maps.Clone(knownDeviations), Extensions: true}
}

func (s *server) akskTarget() conformance.Target {
	return conformance.Target{BaseURL: s.url, Project: projA, AK: akA, SK: skA, ProjectB: projB, ProjectBAK: akB, ProjectBSK: skB,
		EnOSOrg: org, EnOSToken: enosToken, EnOSPrivateKey: shared.key, EnOSTokenNoKey: enosNoKey,
		EnOSTokenNoAccess: enosNoAccess, EnOSProduct: enosProduct, EnOSQuotaProduct: enosQuotaProduct,
		Skip: maps.Clone(knownDeviations), Extensions: true}
}

// knownDeviations are where onboard does not pass its own corpus yet.
// TestKnownDeviations keeps the list exact: a fixed one must be removed.
var knownDeviations = map[string]string{}
