package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/schemas"
)

// fullProductKey is a product key at its longest (64 characters).
var fullProductKey = "P" + strings.Repeat("k", 63)

// fullBatch is an EnOS batch of n devices with every CreateOption member
// filled: keys at their longest, a 100-character name with translations,
// a 100-character description, attributes and tags.
func fullBatch(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"requireSecret":false,"deviceList":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		name := fmt.Sprintf("Meter %06d ", i) + strings.Repeat("n", 87)
		fmt.Fprintf(&b, `{"productKey":%q,"deviceKey":%q,"timezone":"+08:00",`+
			`"deviceName":{"defaultValue":%q,"i18nValue":{"en_US":%q,"zh_CN":%q,"de_DE":%q}},`+
			`"deviceDesc":%q,`+
			`"deviceAttributes":{"serial":%d,"model":"MX-2000-rev-B","firmware":"4.12.7","installedAt":"2024-05-01T08:00:00+08:00","ratedKW":12.5,"phases":3,"outdoor":true,"ctRatio":"200/5","location":{"lat":31.2304,"lon":121.4737}},`+
			`"deviceTags":{"site":"plant-%d","building":"B-%02d","floor":"%d","owner":"facilities-team","costCenter":"CC-4711-energy","contract":"SLA-gold-24x7","vendor":"Acme Metering GmbH"}}`,
			fullProductKey, fmt.Sprintf("full-%06d-", i)+strings.Repeat("d", 52),
			name, name, "电表"+strings.Repeat("表", 60), strings.Repeat("Zähler", 16),
			strings.Repeat("Three-phase meter on the main feed. ", 3)[:100],
			100000+i, i%40, i%12, i%9)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// A 1,000-device batch with every field filled (~1.3 MB) fits the body
// limit the catalogue gives batchCreate, though not the host's 1 MiB
// default; a body over the catalogue's limit gets 413.
func TestEnOSFullSizeBatch(t *testing.T) {
	op, ok := schemas.Lookup("enos.device.batch-create")
	require.True(t, ok)
	require.NotNil(t, op.BodyLimit, "the catalogue gives batchCreate its body limit")

	e := newEnOSEnv(t, "sqlite", 0)
	enosProducts(t, e.store, enosOrgA, fullProductKey)
	body := fullBatch(1000)
	t.Logf("1,000 full devices: %d bytes", len(body))
	require.Greater(t, len(body), api.DefaultBodyLimit, "over the host default, so the catalogue limit is what lets it in")
	require.Less(t, int64(len(body)), op.BodyLimit.Bytes)
	start := time.Now()
	r := e.batchCreate(enosOrgA, e.bare, body)
	t.Logf("1,000 full devices created in %v (a report, not a check)", time.Since(start))
	require.Equal(t, http.StatusOK, r.status, "%.300s", r.raw)
	assert.EqualValues(t, 1000, r.body["successSize"], "%.300s", r.raw)
	assert.Equal(t, 1000, e.deviceCount(enosOrgA))

	over := append(fullBatch(1), make([]byte, op.BodyLimit.Bytes)...)
	for i := len(over) - int(op.BodyLimit.Bytes); i < len(over); i++ {
		over[i] = ' ' // valid JSON, only too large
	}
	r = e.batchCreate(enosOrgA, e.bare, over)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%.300s", r.raw)
	assert.EqualValues(t, 99400, r.body["code"])
	assert.Contains(t, r.body["msg"], fmt.Sprintf("exceeds the limit of %d bytes", op.BodyLimit.Bytes))
	assert.Equal(t, 1000, e.deviceCount(enosOrgA), "nothing written")
}

// The per-operation limit is the catalogue's for batchCreate only; other
// operations keep the configured one. A configured limit raises the
// catalogue's but never lowers it.
func TestBodyLimitPerOperation(t *testing.T) {
	padded := func(body string, size int) string { return body + strings.Repeat(" ", size-len(body)) }
	register := `{"agent":{"agent_id":"lim-1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`
	batch := `{"deviceList":[{"productKey":"pk","deviceName":{"defaultValue":"d"},"timezone":"+08:00"}]}`

	e := newEnOSEnv(t, "sqlite", 0)
	tok := "tok-lim"
	require.NoError(t, e.store.CreateToken(context.Background(), tok, &store.Token{ProjectID: "p-lim", ExpiresAt: time.Now().Add(time.Hour)}))
	r := e.do("POST", "/v3/p-lim/agents", tok, padded(register, 2<<20))
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, "CBR keeps the 1 MiB default: %.200s", r.raw)
	r = e.batchCreate(enosOrgA, e.bare, padded(batch, 2<<20))
	assert.Equal(t, http.StatusOK, r.status, "%.200s", r.raw)

	e.srv.SetLimits(api.Limits{BodyLimit: 1000})
	r = e.batchCreate(enosOrgA, e.bare, padded(batch, 2<<20))
	assert.Equal(t, http.StatusOK, r.status, "a small body_limit does not lower batchCreate's: %.200s", r.raw)
	r = e.do("POST", "/v3/p-lim/agents", tok, padded(register, 2000))
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%.200s", r.raw)

	e.srv.SetLimits(api.Limits{BodyLimit: 6 << 20})
	r = e.batchCreate(enosOrgA, e.bare, padded(batch, 5<<20))
	assert.Equal(t, http.StatusOK, r.status, "a larger body_limit raises batchCreate's: %.200s", r.raw)
}

// Per-org batch limits change live with SetLimits (serve's SIGHUP), and an
// org without one gets the default.
func TestEnOSPerOrgBatchLimitsLive(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	two := func(prefix string) map[string]any {
		return enosBatch(enosDevice("pk", prefix+"-dev-1"), enosDevice("pk", prefix+"-dev-2"))
	}
	e.srv.SetLimits(api.Limits{EnOSBatchLimits: map[string]int{enosOrgA: 1}})
	r := e.batchCreate(enosOrgA, e.bare, two("a"))
	assert.EqualValues(t, 99400, r.body["code"], "%s", r.raw)
	assert.Contains(t, r.body["msg"], "organization "+enosOrgA+" creates at most 1 devices per batch")
	r = e.batchCreate(enosOrgSmall, e.tokSmall, two("s"))
	assert.Equal(t, []float64{0, 0}, enosCodes(enosItems(t, r)), "another org gets the default")

	e.srv.SetLimits(api.Limits{EnOSBatchLimit: 5})
	r = e.batchCreate(enosOrgA, e.bare, two("b"))
	assert.Equal(t, []float64{0, 0}, enosCodes(enosItems(t, r)), "the org's limit is gone")
}
