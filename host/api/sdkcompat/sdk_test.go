package sdkcompat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	cbr "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cbr/v1"
	cbrmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cbr/v1/model"
	ces "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v3"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v3/model"
	ief "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ief/v1"
	iefmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ief/v1/model"
	iotda "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iotda/v5"
	iotdamodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iotda/v5/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
)

const (
	project = "0f5e9a7c3b2d4e6f8a1b2c3d4e5f6a7b"
	ak      = "ONBOARDSDKTESTAK0001"
	sk      = "sdk-test-secret-key-0123456789"
)

// server starts onboard (Wasm engine, SQLite) on loopback with one AK/SK.
func server(t *testing.T) string { return serverWith(t, nil) }

// serverWith is server with wrap around onboard's handler (nil: none).
func serverWith(t *testing.T, wrap func(http.Handler) http.Handler) string {
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "onboard.db"),
		EncryptionKey: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(ctx) })
	require.NoError(t, st.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: ak, SecretKey: sk, ProjectID: project, CreatedAt: time.Now()}))
	rt, err := host.New(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close(ctx) })
	srv, err := api.New(api.Config{Engine: rt, Store: st})
	require.NoError(t, err)
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func credentials(projectID string) *basic.Credentials {
	return basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(projectID).Build()
}

func TestOfficialSDKClients(t *testing.T) {
	endpoint := server(t)
	hc := config.DefaultHttpConfig().WithTimeout(30 * time.Second)

	t.Run("CBR RegisterAgent", func(t *testing.T) {
		c := cbr.NewCbrClient(cbr.CbrClientBuilder().WithEndpoints([]string{endpoint}).
			WithCredential(credentials(project)).WithHttpConfig(hc).Build())
		resp, err := c.RegisterAgent(&cbrmodel.RegisterAgentRequest{Body: &cbrmodel.AgentRegisterReq{Agent: &cbrmodel.AgentRegister{
			AgentId: "489654f2-363b-4ebf-966a-bdf079d97114", HostName: "ecs-00002", HostIp: "10.10.0.2", HostOs: "linux"}}})
		require.NoError(t, err)
		require.NotNil(t, resp.Agent)
		assert.Equal(t, "489654f2-363b-4ebf-966a-bdf079d97114", resp.Agent.AgentId)
	})

	t.Run("IEF CreateProduct", func(t *testing.T) {
		c := ief.NewIefClient(ief.IefClientBuilder().WithEndpoints([]string{endpoint}).
			WithCredential(credentials(project)).WithHttpConfig(hc).Build())
		resp, err := c.CreateProduct(&iefmodel.CreateProductRequest{Body: &iefmodel.ProductCreateRequest{
			Product: &iefmodel.ProductRequest{Name: "sdk-product"}}})
		require.NoError(t, err)
		require.NotNil(t, resp.Product)
		assert.NotEmpty(t, *resp.Product.Package)
	})

	t.Run("IoTDA CreateProvisioningTemplate", func(t *testing.T) {
		c := iotda.NewIoTDAClient(iotda.IoTDAClientBuilder().WithEndpoints([]string{endpoint}).
			WithCredential(credentials(project)).WithHttpConfig(hc).Build())
		var params any = map[string]any{"iotda::certificate::common_name": map[string]string{"type": "String"}}
		var product any = "642bf260f2f9030e44210d8d"
		resp, err := c.CreateProvisioningTemplate(&iotdamodel.CreateProvisioningTemplateRequest{Body: &iotdamodel.CreateProvisioningTemplate{
			TemplateName: "sdkTemplate",
			TemplateBody: &iotdamodel.ProvisioningTemplateBody{Parameters: &params, Resources: &iotdamodel.TemplateResource{
				Device: &iotdamodel.DeviceResource{NodeId: &iotdamodel.ParameterRef{Ref: "iotda::certificate::common_name"}, ProductId: &product}}}}})
		require.NoError(t, err)
		require.NotNil(t, resp.TemplateId)
		assert.Len(t, *resp.TemplateId, 24)
	})

	t.Run("CES BatchCreateAgentInvocations", func(t *testing.T) {
		c := ces.NewCesClient(ces.CesClientBuilder().WithEndpoints([]string{endpoint}).
			WithCredential(credentials(project)).WithHttpConfig(hc).Build())
		ids := []string{"instancexxx001", "instancexxx002"}
		resp, err := c.BatchCreateAgentInvocations(&cesmodel.BatchCreateAgentInvocationsRequest{Body: &cesmodel.BatchCreateInvocationRequestBody{
			InstanceIds: &ids, InvocationType: cesmodel.GetBatchCreateInvocationRequestBodyInvocationTypeEnum().INSTALL}})
		require.NoError(t, err)
		require.NotNil(t, resp.Invocations)
		assert.Len(t, *resp.Invocations, 2)
	})

	t.Run("wrong secret key is refused", func(t *testing.T) {
		bad := basic.NewCredentialsBuilder().WithAk(ak).WithSk("not-the-secret").WithProjectId(project).Build()
		c := cbr.NewCbrClient(cbr.CbrClientBuilder().WithEndpoints([]string{endpoint}).WithCredential(bad).WithHttpConfig(hc).Build())
		_, err := c.ShowAgent(&cbrmodel.ShowAgentRequest{AgentId: "489654f2-363b-4ebf-966a-bdf079d97114"})
		var se *sdkerr.ServiceResponseError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 401, se.StatusCode)
		assert.Equal(t, "APIGW.0301", se.ErrorCode)
	})
}

// What the official SDK signs is what onboard may require (host/api
// signing.go): SignedHeaders always names x-sdk-date, and the body hash is
// left to the server (no X-Sdk-Content-Sha256 for JSON), which computes it
// from the body it received. The SDK does not sign host, so onboard cannot
// require it; if this test starts failing on "host", the SDK signs it now
// and host/api can add it to requiredSignedHeaders.
func TestOfficialSDKSignedHeaders(t *testing.T) {
	var seen []*http.Request
	var mu sync.Mutex
	endpoint := serverWith(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Clone(r.Context()))
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	c := cbr.NewCbrClient(cbr.CbrClientBuilder().WithEndpoints([]string{endpoint}).
		WithCredential(credentials(project)).WithHttpConfig(config.DefaultHttpConfig().WithTimeout(30 * time.Second)).Build())
	_, err := c.RegisterAgent(&cbrmodel.RegisterAgentRequest{Body: &cbrmodel.AgentRegisterReq{Agent: &cbrmodel.AgentRegister{
		AgentId: "5f0e2c1a-signed-headers", HostName: "ecs-00003", HostIp: "10.10.0.3", HostOs: "linux"}}})
	require.NoError(t, err)
	_, err = c.ShowAgent(&cbrmodel.ShowAgentRequest{AgentId: "5f0e2c1a-signed-headers"})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	for _, r := range seen {
		authz := r.Header.Values("Authorization")
		require.Len(t, authz, 1)
		_, signed, ok := strings.Cut(authz[0], "SignedHeaders=")
		require.True(t, ok, authz[0])
		signed, _, _ = strings.Cut(signed, ",")
		names := strings.Split(signed, ";")
		assert.Contains(t, names, "x-sdk-date", "%s %s", r.Method, signed)
		assert.NotContains(t, names, "host", "the SDK signs host now: require it (host/api/signing.go requiredSignedHeaders)")
		assert.Empty(t, r.Header.Values("X-Sdk-Content-Sha256"), "the SDK leaves the body hash to the server")
	}
}
