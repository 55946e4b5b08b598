// Package storetest is the conformance suite every store adapter must pass:
// CRUD of every resource, the paging and filters the real APIs offer, typed
// not-found / conflict / quota errors, scoping, token scopes and expiry,
// secrets at rest, quota races, the one-install-in-progress race and the
// per-project CA race. Adapters call Run from their tests. It must not depend on any
// adapter: it sees only the store.Store interface (and RawRowReader).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// Run runs the suite. newStore must return an empty, default-configured
// store (quota defaults: 10 templates per instance, 10,000 devices per
// product) and arrange its cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Products", testProducts},
		{"Templates", testTemplates},
		{"DeviceCAs", testDeviceCAs},
		{"Devices", testDevices},
		{"DeviceQuota", testDeviceQuota},
		{"IoTDADevices", testIoTDADevices},
		{"Invocations", testInvocations},
		{"Agents", testAgents},
		{"Credentials", testCredentials},
		{"Idempotency", testIdempotency},
		{"IdempotencyTakeover", testIdempotencyTakeover},
		{"IdempotencyInUnit", testIdempotencyInUnit},
		{"IdempotencyRace", testIdempotencyRace},
		{"Atomic", testAtomic},
		{"AtomicQuota", testAtomicQuota},
		{"AgentPathRace", testAgentPathRace},
		{"TokenScopes", testTokenScopes},
		{"TokenExpiry", testTokenExpiry},
		{"ServiceAccountKey", testServiceAccountKey},
		{"ServiceAccounts", testServiceAccounts},
		{"EnOSProducts", testEnOSProducts},
		{"ProjectCA", testProjectCA},
		{"ProjectCARace", testProjectCARace},
		{"ConcurrentQuotas", testConcurrentQuotas},
		{"InstallInProgress", testInstallInProgress},
		{"InstallRace", testInstallRace},
		{"ReportInvocation", testReportInvocation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			require.NoError(t, s.Ping(context.Background()))
			tc.fn(t, s)
		})
	}
}

// uniq returns a random id so that scopes never collide across runs.
func uniq(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// assertSealed checks, when the adapter stores rows at rest, that the raw
// row exists and does not contain any of the secrets.
func assertSealed(t *testing.T, s store.Store, table, id string, secrets ...string) {
	t.Helper()
	rr, ok := s.(store.RawRowReader)
	if !ok {
		return
	}
	raw, err := rr.RawRow(context.Background(), table, id)
	require.NoError(t, err)
	require.NotEmpty(t, raw)
	for _, sec := range secrets {
		assert.NotContains(t, raw, sec, "secret stored in plain text in %s", table)
	}
}

func testProducts(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, inst := uniq("proj"), uniq("inst")
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw-secret\n-----END PRIVATE KEY-----\n"
	p := &store.Product{ProjectID: proj, InstanceID: inst, Name: "alpha", Description: "d",
		Attributes: map[string]store.ProductAttribute{"color": {Value: "red", Metadata: store.ProductMetadata{Type: "string"}}},
		Tags:       []store.Tag{{Key: "k", Value: "v"}}, CACertPEM: "ca", CertPEM: "cert", PrivateKeyPEM: key, Identifier: "ident"}
	require.NoError(t, s.CreateProduct(ctx, p))
	require.NotEmpty(t, p.ID)
	require.NotZero(t, p.CreatedAt)

	got, err := s.GetProduct(ctx, proj, inst, p.ID)
	require.NoError(t, err)
	assert.Equal(t, *p, *got)
	assertSealed(t, s, "products", p.ID, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw-secret")

	// name unique per (project, instance), free elsewhere
	err = s.CreateProduct(ctx, &store.Product{ProjectID: proj, InstanceID: inst, Name: "alpha"})
	require.ErrorIs(t, err, store.ErrConflict)
	require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, InstanceID: uniq("inst"), Name: "alpha"}))
	require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: uniq("proj"), InstanceID: inst, Name: "alpha"}))

	// scoping
	_, err = s.GetProduct(ctx, uniq("proj"), inst, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetProduct(ctx, proj, "", p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	// list: created_at order (ties by creation), name order, paging
	for i, n := range []string{"delta", "bravo", "charlie"} {
		require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, InstanceID: inst, Name: n, CreatedAt: p.CreatedAt + int64(i+1)}))
	}
	names := func(ps []store.Product) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	all, total, err := s.ListProducts(ctx, store.ProductFilter{ProjectID: proj, InstanceID: inst})
	require.NoError(t, err)
	assert.Equal(t, 4, total)
	assert.Equal(t, []string{"alpha", "delta", "bravo", "charlie"}, names(all))
	pg, total, err := s.ListProducts(ctx, store.ProductFilter{ProjectID: proj, InstanceID: inst, SortBy: "name", SortDesc: true, Page: store.Page{Offset: 1, Limit: 2}})
	require.NoError(t, err)
	assert.Equal(t, 4, total)
	assert.Equal(t, []string{"charlie", "bravo"}, names(pg))
	pg, _, err = s.ListProducts(ctx, store.ProductFilter{ProjectID: proj, InstanceID: inst, SortDesc: true, Page: store.Page{Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, []string{"charlie"}, names(pg))
	pg, total, err = s.ListProducts(ctx, store.ProductFilter{ProjectID: proj, InstanceID: inst, Page: store.Page{Offset: 10}})
	require.NoError(t, err)
	assert.Empty(t, pg)
	assert.Equal(t, 4, total)

	// update
	upd := &store.Product{ID: p.ID, ProjectID: proj, InstanceID: inst, Description: "new", Tags: []store.Tag{{Key: "a", Value: "b"}}}
	require.NoError(t, s.UpdateProduct(ctx, upd))
	assert.Equal(t, "new", upd.Description)
	assert.Equal(t, "alpha", upd.Name)
	assert.Equal(t, key, upd.PrivateKeyPEM)
	assert.Nil(t, upd.Attributes)
	err = s.UpdateProduct(ctx, &store.Product{ID: p.ID, ProjectID: uniq("proj"), InstanceID: inst})
	require.ErrorIs(t, err, store.ErrNotFound)

	// delete
	require.ErrorIs(t, s.DeleteProduct(ctx, uniq("proj"), inst, p.ID), store.ErrNotFound)
	require.NoError(t, s.DeleteProduct(ctx, proj, inst, p.ID))
	_, err = s.GetProduct(ctx, proj, inst, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.DeleteProduct(ctx, proj, inst, p.ID), store.ErrNotFound)
}

var templateBody = json.RawMessage(`{"parameters":{"iotda::certificate::common_name":{"type":"String"}},"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"642bf260f2f9030e44210d8d"}}}`)

func testTemplates(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, inst := uniq("proj"), uniq("inst")
	var ids []string
	for i := range 10 {
		tp := &store.ProvisioningTemplate{ProjectID: proj, InstanceID: inst, Name: fmt.Sprintf("tpl-%d", i), Description: "d", Body: templateBody}
		require.NoError(t, s.CreateTemplate(ctx, tp))
		require.Len(t, tp.ID, 24)
		require.False(t, tp.CreateTime.IsZero())
		ids = append(ids, tp.ID)
	}
	got, err := s.GetTemplate(ctx, proj, inst, ids[0])
	require.NoError(t, err)
	assert.Equal(t, "tpl-0", got.Name)
	assert.JSONEq(t, string(templateBody), string(got.Body))
	assert.Equal(t, got.CreateTime, got.UpdateTime)

	// 11th: quota, typed
	err = s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, InstanceID: inst, Name: "eleven", Body: templateBody})
	require.ErrorIs(t, err, store.ErrQuota)
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, store.QuotaTemplatesPerInstance, qe.Quota)
	assert.Equal(t, 10, qe.Limit)
	// the quota is per (project, instance); the name is unique per instance
	other := uniq("inst")
	require.NoError(t, s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, InstanceID: other, Name: "tpl-0", Body: templateBody}))
	err = s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, InstanceID: other, Name: "tpl-0", Body: templateBody})
	require.ErrorIs(t, err, store.ErrConflict)

	// marker paging in creation order
	f := store.TemplateFilter{ProjectID: proj, InstanceID: inst, Page: store.Page{Limit: 4}}
	var seen []string
	for {
		pg, err := s.ListTemplates(ctx, f)
		require.NoError(t, err)
		assert.Equal(t, 10, pg.Total)
		for _, it := range pg.Items {
			seen = append(seen, it.ID)
		}
		if len(pg.Items) < 4 {
			break
		}
		f.Marker = pg.Marker
	}
	assert.Equal(t, ids, seen)
	pg, err := s.ListTemplates(ctx, store.TemplateFilter{ProjectID: proj, InstanceID: inst, Marker: ids[2], Page: store.Page{Offset: 1, Limit: 2}})
	require.NoError(t, err)
	require.Len(t, pg.Items, 2)
	assert.Equal(t, []string{ids[4], ids[5]}, []string{pg.Items[0].ID, pg.Items[1].ID})
	assert.Equal(t, ids[5], pg.Marker)
	_, err = s.ListTemplates(ctx, store.TemplateFilter{ProjectID: proj, InstanceID: inst, Marker: "ffffffffffffffffffffffff"})
	require.ErrorIs(t, err, store.ErrNotFound)
	pg, err = s.ListTemplates(ctx, store.TemplateFilter{ProjectID: proj, InstanceID: inst, Name: "tpl-7"})
	require.NoError(t, err)
	require.Len(t, pg.Items, 1)
	assert.Equal(t, 1, pg.Total)
	assert.Equal(t, ids[7], pg.Items[0].ID)
	// scoping
	pg, err = s.ListTemplates(ctx, store.TemplateFilter{ProjectID: uniq("proj"), InstanceID: inst})
	require.NoError(t, err)
	assert.Empty(t, pg.Items)
	assert.Zero(t, pg.Total)
	_, err = s.GetTemplate(ctx, uniq("proj"), inst, ids[0])
	require.ErrorIs(t, err, store.ErrNotFound)

	// update (PUT description + body)
	time.Sleep(2 * time.Millisecond)
	up := &store.ProvisioningTemplate{ID: ids[1], ProjectID: proj, InstanceID: inst, Description: "changed", Body: json.RawMessage(`{"parameters":{},"resources":{"device":{}}}`)}
	require.NoError(t, s.UpdateTemplate(ctx, up))
	assert.Equal(t, "tpl-1", up.Name)
	assert.Equal(t, "changed", up.Description)
	assert.True(t, up.UpdateTime.After(up.CreateTime))
	require.ErrorIs(t, s.UpdateTemplate(ctx, &store.ProvisioningTemplate{ID: ids[1], ProjectID: proj, InstanceID: other}), store.ErrNotFound)

	// delete frees a quota slot
	require.NoError(t, s.DeleteTemplate(ctx, proj, inst, ids[0]))
	require.ErrorIs(t, s.DeleteTemplate(ctx, proj, inst, ids[0]), store.ErrNotFound)
	require.NoError(t, s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, InstanceID: inst, Name: "eleven", Body: templateBody}))
}

func testDeviceCAs(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, inst := uniq("proj"), uniq("inst")
	var ids []string
	for i := range 3 {
		c := &store.DeviceCA{ProjectID: proj, InstanceID: inst, CertPEM: "-----BEGIN CERTIFICATE-----", CommonName: fmt.Sprint("cn", i), Owner: "me"}
		require.NoError(t, s.CreateDeviceCA(ctx, c))
		ids = append(ids, c.ID)
	}
	got, err := s.GetDeviceCA(ctx, proj, inst, ids[1])
	require.NoError(t, err)
	assert.Equal(t, "cn1", got.CommonName)
	assert.False(t, got.Verified)
	assert.Empty(t, got.AppID)
	assert.Nil(t, got.RevokedSerials)
	got.Verified, got.ProvisionEnable, got.TemplateID = true, true, "5c90fa7d3c4e4405e8525079"
	got.RevokedSerials = []string{"1f", "abc123"}
	require.NoError(t, s.UpdateDeviceCA(ctx, got))
	again, err := s.GetDeviceCA(ctx, proj, inst, ids[1])
	require.NoError(t, err)
	assert.Equal(t, *got, *again)
	assert.True(t, again.Verified)
	assert.True(t, again.ProvisionEnable)
	assert.Equal(t, []string{"1f", "abc123"}, again.RevokedSerials)
	// the caller's slice is not the stored one
	got.RevokedSerials[0] = "changed"
	again, err = s.GetDeviceCA(ctx, proj, inst, ids[1])
	require.NoError(t, err)
	assert.Equal(t, "1f", again.RevokedSerials[0])
	// clearing the list
	again.RevokedSerials = nil
	require.NoError(t, s.UpdateDeviceCA(ctx, again))
	cleared, err := s.GetDeviceCA(ctx, proj, inst, ids[1])
	require.NoError(t, err)
	assert.Nil(t, cleared.RevokedSerials)

	// template_id filters lists: the CAs bound to one template
	bound, nBound, err := s.ListDeviceCAs(ctx, store.DeviceCAFilter{ProjectID: proj, InstanceID: inst, TemplateID: "5c90fa7d3c4e4405e8525079"})
	require.NoError(t, err)
	assert.Equal(t, 1, nBound)
	require.Len(t, bound, 1)
	assert.Equal(t, ids[1], bound[0].ID)

	// app_id (resource space) is set on create and filters lists
	inApp := &store.DeviceCA{ProjectID: proj, InstanceID: inst, CertPEM: "x", AppID: "app1", RevokedSerials: []string{"0a"}}
	require.NoError(t, s.CreateDeviceCA(ctx, inApp))
	byApp, n, err := s.ListDeviceCAs(ctx, store.DeviceCAFilter{ProjectID: proj, InstanceID: inst, AppID: "app1"})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Len(t, byApp, 1)
	assert.Equal(t, inApp.ID, byApp[0].ID)
	assert.Equal(t, "app1", byApp[0].AppID)
	assert.Equal(t, []string{"0a"}, byApp[0].RevokedSerials)
	require.NoError(t, s.DeleteDeviceCA(ctx, proj, inst, inApp.ID))

	list, total, err := s.ListDeviceCAs(ctx, store.DeviceCAFilter{ProjectID: proj, InstanceID: inst, Marker: ids[0], Page: store.Page{Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	require.Len(t, list, 1)
	assert.Equal(t, ids[1], list[0].ID)
	list, _, err = s.ListDeviceCAs(ctx, store.DeviceCAFilter{ProjectID: proj, InstanceID: inst, Page: store.Page{Offset: 2}})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, ids[2], list[0].ID)

	_, err = s.GetDeviceCA(ctx, proj, uniq("inst"), ids[1])
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.UpdateDeviceCA(ctx, &store.DeviceCA{ID: ids[1], ProjectID: uniq("p"), InstanceID: inst}), store.ErrNotFound)
	require.NoError(t, s.DeleteDeviceCA(ctx, proj, inst, ids[1]))
	require.ErrorIs(t, s.DeleteDeviceCA(ctx, proj, inst, ids[1]), store.ErrNotFound)
}

func enosDevice(pk, key string) store.EnosDevice {
	return store.EnosDevice{ProductKey: pk, DeviceKey: key,
		DeviceName: store.I18nString{DefaultValue: "Device Name", I18n: map[string]string{"zh_CN": "设备名称", "en_US": "Device Name"}},
		Timezone:   "+08:00", Attributes: map[string]any{"serial": 111111}, Tags: map[string]string{"tag1": "tag value"}, Desc: "Device description"}
}

func testDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	org, pk, pk2 := uniq("org"), uniq("pk"), uniq("pk")
	secret := "device-secret-0123456789"
	first := enosDevice(pk, "existing")
	first.DeviceSecret = secret
	first.OrgID = org
	require.NoError(t, s.CreateDevice(ctx, &first))
	require.NotEmpty(t, first.AssetID)
	assertSealed(t, s, "devices", first.AssetID, secret)

	batch := []store.EnosDevice{enosDevice(pk, "a"), enosDevice(pk, "existing"), enosDevice(pk2, ""), enosDevice(pk2, "a"), enosDevice(pk, "b")}
	res, err := s.BatchCreateDevices(ctx, org, batch)
	require.NoError(t, err)
	require.Len(t, res, 5)
	want := []store.ItemStatus{store.ItemCreated, store.ItemConflict, store.ItemCreated, store.ItemConflict, store.ItemCreated}
	for i, r := range res {
		assert.Equal(t, i, r.Index)
		assert.Equal(t, want[i], r.Status, "item %d", i)
		if r.Status == store.ItemConflict {
			assert.ErrorIs(t, r.Err, store.ErrConflict)
		} else {
			assert.NoError(t, r.Err)
		}
	}
	require.NotEmpty(t, batch[2].DeviceKey, "generated deviceKey")

	got, err := s.GetDevice(ctx, org, res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "a", got.DeviceKey)
	assert.Equal(t, pk, got.ProductKey)
	assert.Equal(t, map[string]any{"serial": json.Number("111111")}, got.Attributes) // exact numbers everywhere
	assert.Equal(t, "设备名称", got.DeviceName.I18n["zh_CN"])
	assert.Equal(t, map[string]string{"tag1": "tag value"}, got.Tags)
	assert.True(t, got.UpdatedAt.IsZero())
	byKey, err := s.GetDeviceByKey(ctx, org, "existing")
	require.NoError(t, err)
	assert.Equal(t, secret, byKey.DeviceSecret)
	first.Attributes = map[string]any{"serial": json.Number("111111")}
	assert.Equal(t, first, *byKey)

	// scoping: another org sees nothing and may reuse the key
	_, err = s.GetDevice(ctx, uniq("org"), res[0].ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	other := enosDevice(pk, "existing")
	other.OrgID = uniq("org")
	require.NoError(t, s.CreateDevice(ctx, &other))
	dup := enosDevice(pk2, "a")
	dup.OrgID = org
	require.ErrorIs(t, s.CreateDevice(ctx, &dup), store.ErrConflict)

	// list with product filter and paging, creation order
	list, total, err := s.ListDevices(ctx, store.DeviceFilter{OrgID: org})
	require.NoError(t, err)
	assert.Equal(t, 4, total)
	require.Len(t, list, 4)
	assert.Equal(t, "existing", list[0].DeviceKey)
	list, total, err = s.ListDevices(ctx, store.DeviceFilter{OrgID: org, ProductKey: pk, Page: store.Page{Offset: 1, Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	require.Len(t, list, 1)
	assert.Equal(t, "a", list[0].DeviceKey)

	// update
	got.Desc, got.Attributes, got.Timezone = "changed", map[string]any{"n": "x"}, "+00:00"
	require.NoError(t, s.UpdateDevice(ctx, got))
	assert.False(t, got.UpdatedAt.IsZero())
	again, err := s.GetDevice(ctx, org, got.AssetID)
	require.NoError(t, err)
	assert.Equal(t, *got, *again)
	require.ErrorIs(t, s.UpdateDevice(ctx, &store.EnosDevice{OrgID: uniq("org"), AssetID: got.AssetID}), store.ErrNotFound)

	// delete frees the key
	require.NoError(t, s.DeleteDevice(ctx, org, got.AssetID))
	require.ErrorIs(t, s.DeleteDevice(ctx, org, got.AssetID), store.ErrNotFound)
	re := enosDevice(pk, "a")
	re.OrgID = org
	require.NoError(t, s.CreateDevice(ctx, &re))
}

func testDeviceQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	org, pk := uniq("org"), uniq("pk")
	const limit = 10000 // EnOS 11739 default
	batch := make([]store.EnosDevice, limit-1)
	for i := range batch {
		batch[i] = store.EnosDevice{ProductKey: pk, DeviceKey: fmt.Sprintf("k%05d", i)}
	}
	res, err := s.BatchCreateDevices(ctx, org, batch)
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, store.ItemCreated, r.Status)
	}
	res, err = s.BatchCreateDevices(ctx, org, []store.EnosDevice{
		{ProductKey: pk, DeviceKey: "k00001"}, {ProductKey: pk, DeviceKey: "last"}, {ProductKey: pk, DeviceKey: "over"}, {ProductKey: uniq("pk"), DeviceKey: "elsewhere"},
	})
	require.NoError(t, err)
	assert.Equal(t, store.ItemConflict, res[0].Status)
	assert.Equal(t, store.ItemCreated, res[1].Status)
	assert.Equal(t, store.ItemQuota, res[2].Status)
	assert.Equal(t, store.ItemCreated, res[3].Status, "the quota is per product")
	var qe *store.QuotaError
	require.ErrorAs(t, res[2].Err, &qe)
	assert.Equal(t, store.QuotaDevicesPerProduct, qe.Quota)
	assert.Equal(t, limit, qe.Limit)
	_, total, err := s.ListDevices(ctx, store.DeviceFilter{OrgID: org, ProductKey: pk, Page: store.Page{Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, limit, total)
	err = s.CreateDevice(ctx, &store.EnosDevice{OrgID: org, ProductKey: pk, DeviceKey: "single"})
	require.ErrorIs(t, err, store.ErrQuota)
}

func testIoTDADevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, inst := uniq("proj"), uniq("inst")
	d := &store.IoTDADevice{ProjectID: proj, InstanceID: inst, NodeID: "node-1", DeviceName: "n", ProductID: "prod",
		Tags: []store.Tag{{Key: "k", Value: "v"}}, PolicyIDs: []string{"5c90fa7d3c4e4405e8525079"}}
	require.NoError(t, s.CreateIoTDADevice(ctx, d))
	assert.Equal(t, "prod_node-1", d.DeviceID)
	got, err := s.GetIoTDADevice(ctx, proj, inst, d.DeviceID)
	require.NoError(t, err)
	assert.Equal(t, *d, *got)
	require.ErrorIs(t, s.CreateIoTDADevice(ctx, &store.IoTDADevice{ProjectID: proj, InstanceID: inst, NodeID: "node-1", DeviceID: "x"}), store.ErrConflict)
	require.NoError(t, s.CreateIoTDADevice(ctx, &store.IoTDADevice{ProjectID: proj, InstanceID: inst, NodeID: "node-2", ProductID: "other"}))
	require.NoError(t, s.CreateIoTDADevice(ctx, &store.IoTDADevice{ProjectID: uniq("p"), InstanceID: inst, NodeID: "node-1", DeviceID: "elsewhere"}))
	list, total, err := s.ListIoTDADevices(ctx, store.IoTDADeviceFilter{ProjectID: proj, InstanceID: inst, ProductID: "prod"})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	require.Len(t, list, 1)
	list, total, err = s.ListIoTDADevices(ctx, store.IoTDADeviceFilter{ProjectID: proj, InstanceID: inst, Page: store.Page{Offset: 1}})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	require.Len(t, list, 1)
	assert.Equal(t, "node-2", list[0].NodeID)
	_, err = s.GetIoTDADevice(ctx, proj, uniq("i"), d.DeviceID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.DeleteIoTDADevice(ctx, proj, inst, d.DeviceID))
	require.ErrorIs(t, s.DeleteIoTDADevice(ctx, proj, inst, d.DeviceID), store.ErrNotFound)
}

func testInvocations(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	password := "P@ssw0rd-never-plain"
	invs := make([]store.AgentInvocation, 100) // the documented maximum per request
	for i := range invs {
		invs[i] = store.AgentInvocation{InstanceID: fmt.Sprintf("instance-%03d", i), InstanceName: "ecs", InstanceType: "ECS",
			IntranetIP: "192.168.0.1", ElasticIPs: []string{"1.2.3.4"}, TargetVersion: "3.0.0", InvocationType: "INSTALL",
			InvocationStatus: "WAITING", InvocationTarget: "telescope"}
	}
	invs[99].InvocationType = "REMOTE_INSTALL"
	invs[99].InstanceType = "BMS"
	invs[99].RemoteInstall = &store.RemoteInstallMeta{InstanceName: "host", RemoteIP: "10.0.0.9", UserName: "root", Port: "22", Password: password}
	res, err := s.BatchCreateInvocations(ctx, proj, invs)
	require.NoError(t, err)
	require.Len(t, res, 100)
	for _, r := range res {
		require.Equal(t, store.ItemCreated, r.Status)
	}
	assertSealed(t, s, "agent_invocations", invs[99].InvocationID, password)
	got, err := s.GetInvocation(ctx, proj, invs[99].InvocationID)
	require.NoError(t, err)
	assert.Equal(t, invs[99], *got)
	assert.Equal(t, password, got.RemoteInstall.Password)

	// an existing id conflicts without undoing the others
	res, err = s.BatchCreateInvocations(ctx, proj, []store.AgentInvocation{{InvocationID: invs[0].InvocationID, InstanceID: "x"}, {InstanceID: "new-one", InvocationType: "UPDATE"}})
	require.NoError(t, err)
	assert.Equal(t, store.ItemConflict, res[0].Status)
	assert.ErrorIs(t, res[0].Err, store.ErrConflict)
	assert.Equal(t, store.ItemCreated, res[1].Status)

	list, total, err := s.ListInvocations(ctx, store.InvocationFilter{ProjectID: proj, Page: store.Page{Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, 101, total)
	require.Len(t, list, 10)
	assert.Equal(t, "new-one", list[0].InstanceID, "newest first")
	for _, f := range []store.InvocationFilter{
		{InstanceID: "instance-007"}, {InstanceType: "BMS"}, {InvocationID: invs[5].InvocationID}, {InvocationType: "REMOTE_INSTALL"},
	} {
		f.ProjectID = proj
		list, total, err = s.ListInvocations(ctx, f)
		require.NoError(t, err)
		assert.Equal(t, 1, total, "%+v", f)
		assert.Len(t, list, 1)
	}
	_, total, err = s.ListInvocations(ctx, store.InvocationFilter{ProjectID: proj, InvocationTarget: "telescope", Page: store.Page{Offset: 95}})
	require.NoError(t, err)
	assert.Equal(t, 100, total)
	_, total, err = s.ListInvocations(ctx, store.InvocationFilter{ProjectID: uniq("p")})
	require.NoError(t, err)
	assert.Zero(t, total)
	_, err = s.GetInvocation(ctx, uniq("p"), invs[0].InvocationID)
	require.ErrorIs(t, err, store.ErrNotFound)

	up := invs[3]
	from := up.InvocationStatus
	up.InvocationStatus, up.CurrentVersion = "SUCCEEDED", "3.0.0"
	require.NoError(t, s.ReportInvocation(ctx, &up, from))
	assert.Equal(t, "SUCCEEDED", up.InvocationStatus)
	assert.Equal(t, "instance-003", up.InstanceID)
	require.NoError(t, s.DeleteInvocation(ctx, proj, up.InvocationID))
	require.ErrorIs(t, s.DeleteInvocation(ctx, proj, up.InvocationID), store.ErrNotFound)
	require.ErrorIs(t, s.ReportInvocation(ctx, &up, "SUCCEEDED"), store.ErrNotFound)
}

func testAgents(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	a := &store.Agent{AgentID: "489654f2-363b-4ebf-966a-bdf079d97114", ProjectID: proj, HostName: "ecs-00002", HostIP: "10.10.0.2",
		HostOS: "linux", AgentVersion: "1.0.0", AgentType: "native", Status: "normal"}
	created, err := s.RegisterAgent(ctx, a)
	require.NoError(t, err)
	assert.True(t, created)
	assert.False(t, a.CreatedAt.IsZero())
	got, err := s.GetAgent(ctx, proj, a.AgentID)
	require.NoError(t, err)
	assert.Equal(t, *a, *got)

	// user sets a nickname; re-registration keeps it and the creation time
	got.HostNickname = "nick"
	require.NoError(t, s.UpdateAgent(ctx, got))
	time.Sleep(2 * time.Millisecond)
	re := &store.Agent{AgentID: a.AgentID, ProjectID: proj, HostName: "ecs-0001", HostIP: "192.168.10.144", HostOS: "linux"}
	created, err = s.RegisterAgent(ctx, re)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, "nick", re.HostNickname)
	assert.Equal(t, "ecs-0001", re.HostName)
	assert.Equal(t, "1.0.0", re.AgentVersion)
	assert.Equal(t, a.CreatedAt, re.CreatedAt)
	assert.True(t, re.UpdatedAt.After(a.UpdatedAt))

	// the same agent id in another project is another agent
	otherProj := uniq("proj")
	created, err = s.RegisterAgent(ctx, &store.Agent{AgentID: a.AgentID, ProjectID: otherProj, HostName: "h", HostIP: "1.1.1.1", HostOS: "linux", Status: "offline"})
	require.NoError(t, err)
	assert.True(t, created)
	_, err = s.RegisterAgent(ctx, &store.Agent{AgentID: "second", ProjectID: proj, HostName: "h2", HostIP: "1.1.1.2", HostOS: "windows", Status: "offline"})
	require.NoError(t, err)

	list, total, err := s.ListAgents(ctx, store.AgentFilter{ProjectID: proj})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	require.Len(t, list, 2)
	assert.Equal(t, a.AgentID, list[0].AgentID)
	list, total, err = s.ListAgents(ctx, store.AgentFilter{ProjectID: proj, Status: "offline"})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	assert.Equal(t, "second", list[0].AgentID)
	list, _, err = s.ListAgents(ctx, store.AgentFilter{ProjectID: proj, AgentID: a.AgentID, Page: store.Page{Offset: 0, Limit: 5}})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "ecs-0001", list[0].HostName)
	_, total, err = s.ListAgents(ctx, store.AgentFilter{ProjectID: proj, Page: store.Page{Offset: 1, Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, 2, total)

	// paths: each edit says what it changed
	withPaths, err := s.AddAgentPaths(ctx, proj, a.AgentID, []string{"/data", "/etc", "/data"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/data", "/etc"}, withPaths.Changed)
	assert.Equal(t, []string{"/data"}, withPaths.Unchanged, "named twice: the second is already there")
	require.Len(t, withPaths.Agent.Paths, 2)
	assert.Equal(t, store.PathAvailable, withPaths.Agent.Paths[0].Status)
	assert.Equal(t, a.AgentID, withPaths.Agent.Paths[0].AgentID)
	assert.NotEmpty(t, withPaths.Agent.Paths[0].ID)
	again, err := s.AddAgentPaths(ctx, proj, a.AgentID, []string{"/etc"})
	require.NoError(t, err)
	assert.Empty(t, again.Changed)
	assert.Equal(t, []string{"/etc"}, again.Unchanged)
	removed, err := s.RemoveAgentPaths(ctx, proj, a.AgentID, []string{"/data", "/nope", "/data"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/data"}, removed.Changed)
	assert.Equal(t, []string{"/nope", "/data"}, removed.Unchanged)
	assert.Equal(t, store.PathRemove, removed.Agent.Paths[0].Status)
	assert.Equal(t, store.PathAvailable, removed.Agent.Paths[1].Status)
	none, err := s.RemoveAgentPaths(ctx, proj, a.AgentID, []string{"/nope"})
	require.NoError(t, err)
	assert.Empty(t, none.Changed)
	readded, err := s.AddAgentPaths(ctx, proj, a.AgentID, []string{"/data"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/data"}, readded.Changed, "a removed path comes back")
	require.Len(t, readded.Agent.Paths, 2)
	assert.Equal(t, withPaths.Agent.Paths[0].ID, readded.Agent.Paths[0].ID)
	assert.Equal(t, store.PathAvailable, readded.Agent.Paths[0].Status)
	stored, err := s.GetAgent(ctx, proj, a.AgentID)
	require.NoError(t, err)
	assert.Equal(t, readded.Agent.Paths, stored.Paths)
	// re-registration keeps the paths
	_, err = s.RegisterAgent(ctx, &store.Agent{AgentID: a.AgentID, ProjectID: proj, HostName: "h", HostIP: "1.1.1.1", HostOS: "linux"})
	require.NoError(t, err)
	stored, err = s.GetAgent(ctx, proj, a.AgentID)
	require.NoError(t, err)
	assert.Len(t, stored.Paths, 2)
	_, err = s.AddAgentPaths(ctx, uniq("p"), a.AgentID, []string{"/x"})
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.DeleteAgent(ctx, proj, a.AgentID))
	require.ErrorIs(t, s.DeleteAgent(ctx, proj, a.AgentID), store.ErrNotFound)
	require.ErrorIs(t, s.UpdateAgent(ctx, a), store.ErrNotFound)
	_, err = s.GetAgent(ctx, otherProj, a.AgentID)
	require.NoError(t, err, "deleting in one project leaves the other")
}

func testCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	token := "MIIEXQYJKoZIhvcNAQcCoIIETjCCBEoCAQExDTALBglghkgBZQMEAgEw-" + uniq("tok")
	tk := &store.Token{ProjectID: proj, UserID: "u1", ExpiresAt: time.Now().Add(24 * time.Hour)}
	require.NoError(t, s.CreateToken(ctx, token, tk))
	assert.Equal(t, store.HashToken(token), tk.Hash)
	got, err := s.GetToken(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, *tk, *got)
	assertSealed(t, s, "tokens", tk.Hash, token)
	require.ErrorIs(t, s.CreateToken(ctx, token, &store.Token{ProjectID: proj}), store.ErrConflict)
	_, err = s.GetToken(ctx, token+"x")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.DeleteToken(ctx, token))
	_, err = s.GetToken(ctx, token)
	require.ErrorIs(t, err, store.ErrNotFound)

	sk := "sk-" + uniq("secret")
	ak := &store.AccessKey{AccessKeyID: uniq("AK"), SecretKey: sk, ProjectID: proj}
	require.NoError(t, s.CreateAccessKey(ctx, ak))
	gotAK, err := s.GetAccessKey(ctx, ak.AccessKeyID)
	require.NoError(t, err)
	assert.Equal(t, *ak, *gotAK)
	assertSealed(t, s, "access_keys", ak.AccessKeyID, sk)
	require.ErrorIs(t, s.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: ak.AccessKeyID, SecretKey: "x", ProjectID: proj}), store.ErrConflict)
	require.NoError(t, s.DeleteAccessKey(ctx, ak.AccessKeyID))
	require.ErrorIs(t, s.DeleteAccessKey(ctx, ak.AccessKeyID), store.ErrNotFound)

	org := uniq("org")
	sa := &store.ServiceAccount{OrgID: org, AccountID: "acc", PublicKeyPEM: "-----BEGIN PUBLIC KEY-----"}
	require.NoError(t, s.CreateServiceAccount(ctx, sa))
	gotSA, err := s.GetServiceAccount(ctx, org, "acc")
	require.NoError(t, err)
	assert.Equal(t, *sa, *gotSA)
	require.ErrorIs(t, s.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: "acc"}), store.ErrConflict)
	_, err = s.GetServiceAccount(ctx, uniq("org"), "acc")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.DeleteServiceAccount(ctx, org, "acc"))
	require.ErrorIs(t, s.DeleteServiceAccount(ctx, org, "acc"), store.ErrNotFound)
}

// testConcurrentQuotas races 32 goroutines of one process; adapters that
// share a database across processes also run MultiProcessRace.
func testConcurrentQuotas(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, inst := uniq("proj"), uniq("inst")
	org := uniq("org")
	const clients = 32
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []string
	var unexpected []error
	keyWinners := 0
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp := &store.ProvisioningTemplate{ProjectID: proj, InstanceID: inst, Name: fmt.Sprint("t", i), Body: templateBody}
			err := s.CreateTemplate(ctx, tp)
			d := &store.EnosDevice{OrgID: org, ProductKey: "pk", DeviceKey: "same-key"}
			derr := s.CreateDevice(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				acked = append(acked, tp.ID)
			case !errors.Is(err, store.ErrQuota):
				unexpected = append(unexpected, err)
			}
			switch {
			case derr == nil:
				keyWinners++
			case !errors.Is(derr, store.ErrConflict):
				unexpected = append(unexpected, derr)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, unexpected)
	assert.Len(t, acked, 10)
	assert.Equal(t, 1, keyWinners)
	pg, err := s.ListTemplates(ctx, store.TemplateFilter{ProjectID: proj, InstanceID: inst})
	require.NoError(t, err)
	assert.Equal(t, 10, pg.Total)
	for _, id := range acked {
		_, err := s.GetTemplate(ctx, proj, inst, id)
		assert.NoError(t, err)
	}
}
