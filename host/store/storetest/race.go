package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// Environment of a race helper process.
const (
	helperEnv    = "ONBOARD_STORE_HELPER" // "race" in a child
	helperConfig = "ONBOARD_STORE_HELPER_CONFIG"
	helperOut    = "ONBOARD_STORE_HELPER_OUT"
)

// RaceConfig is what one racing process does. Limits are small so the race
// runs in seconds.
type RaceConfig struct {
	URL              string // adapter address, for the child to open
	Worker           int
	Clients          int // goroutines in this process
	DevicesPerClient int
	DeviceLimit      int
	TemplateLimit    int
	ProjectID        string
	InstanceID       string
	OrgID            string
	ProductKey       string
	StartAt          time.Time // every process starts racing at the same instant
}

// RaceResult is what one process had acknowledged.
type RaceResult struct {
	Templates []string // ids of created templates (quota race)
	SameName  []string // ids of created templates of the one contested name
	Devices   []string // asset ids of created devices (quota race)
	DupKey    []string // asset ids of created devices of the one contested deviceKey
	Installs  []string // ids of created INSTALL tasks of the one contested instance
	ProjectCA []string // "cert|key" each client got for the contested project CA
	Errors    []string // anything but the expected quota/conflict refusals
}

// RaceClients runs c.Clients goroutines against s and reports what succeeded.
func RaceClients(ctx context.Context, s store.Store, c RaceConfig) RaceResult {
	time.Sleep(time.Until(c.StartAt))
	var mu sync.Mutex
	var r RaceResult
	unexpected := func(err error, allowed error) bool {
		if err == nil || errors.Is(err, allowed) {
			return false
		}
		mu.Lock()
		r.Errors = append(r.Errors, err.Error())
		mu.Unlock()
		return true
	}
	var wg sync.WaitGroup
	for i := range c.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp := &store.ProvisioningTemplate{ProjectID: c.ProjectID, InstanceID: c.InstanceID, Name: fmt.Sprintf("t-%d-%d", c.Worker, i), Body: templateBody}
			if err := s.CreateTemplate(ctx, tp); err == nil {
				mu.Lock()
				r.Templates = append(r.Templates, tp.ID)
				mu.Unlock()
			} else {
				unexpected(err, store.ErrQuota)
			}
			same := &store.ProvisioningTemplate{ProjectID: c.ProjectID, InstanceID: c.InstanceID + "-names", Name: "contested", Body: templateBody}
			if err := s.CreateTemplate(ctx, same); err == nil {
				mu.Lock()
				r.SameName = append(r.SameName, same.ID)
				mu.Unlock()
			} else {
				unexpected(err, store.ErrConflict)
			}
			for j := 0; j < c.DevicesPerClient; j += 2 { // batches of two
				batch := []store.EnosDevice{
					{ProductKey: c.ProductKey, DeviceKey: fmt.Sprintf("d-%d-%d-%d", c.Worker, i, j)},
					{ProductKey: c.ProductKey, DeviceKey: fmt.Sprintf("d-%d-%d-%d", c.Worker, i, j+1)},
				}
				res, err := s.BatchCreateDevices(ctx, c.OrgID, batch[:min(2, c.DevicesPerClient-j)])
				if unexpected(err, nil) {
					continue
				}
				for _, it := range res {
					switch it.Status {
					case store.ItemCreated:
						mu.Lock()
						r.Devices = append(r.Devices, it.ID)
						mu.Unlock()
					case store.ItemQuota:
					default:
						unexpected(fmt.Errorf("device %s: %s: %v", it.Key, it.Status, it.Err), nil)
					}
				}
			}
			// every process creates its own CA for one new project; all must
			// end up with the single one stored
			cert, key, err := s.GetOrCreateProjectCA(ctx, c.ProjectID+"-ca", func() (string, string, error) {
				return fmt.Sprintf("cert-%d-%d", c.Worker, i), fmt.Sprintf("key-%d-%d", c.Worker, i), nil
			})
			if !unexpected(err, nil) {
				mu.Lock()
				r.ProjectCA = append(r.ProjectCA, cert+"|"+key)
				mu.Unlock()
			}
			// every client installs on one instance: one install may be in progress
			res, err := s.BatchCreateInvocations(ctx, c.ProjectID, []store.AgentInvocation{install(c.InstanceID+"-install", "PENDING")})
			if !unexpected(err, nil) {
				if res[0].Status == store.ItemCreated {
					mu.Lock()
					r.Installs = append(r.Installs, res[0].ID)
					mu.Unlock()
				} else {
					unexpected(res[0].Err, store.ErrInstallInProgress)
				}
			}
			d := &store.EnosDevice{OrgID: c.OrgID, ProductKey: c.ProductKey + "-dup", DeviceKey: "contested"}
			if err := s.CreateDevice(ctx, d); err == nil {
				mu.Lock()
				r.DupKey = append(r.DupKey, d.AssetID)
				mu.Unlock()
			} else {
				unexpected(err, store.ErrConflict)
			}
		}()
	}
	wg.Wait()
	return r
}

// HelperProcess is the body of an adapter's TestHelperProcess: in a child
// started by MultiProcessRace it opens its own store with open, races, and
// writes its RaceResult; in a normal test run it skips.
func HelperProcess(t *testing.T, open func(ctx context.Context, c RaceConfig) (store.Store, error)) {
	if os.Getenv(helperEnv) != "race" {
		t.Skip("helper process of the multi-process race test")
	}
	var c RaceConfig
	require.NoError(t, json.Unmarshal([]byte(os.Getenv(helperConfig)), &c))
	ctx := context.Background()
	s, err := open(ctx, c)
	require.NoError(t, err)
	defer s.Close(ctx)
	r := RaceClients(ctx, s, c)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv(helperOut), b, 0o600))
}

// MultiProcessRace re-executes the test binary procs times
// (-test.run=^TestHelperProcess$); the children share base.URL and race
// clients goroutines in total. Then it checks through verify that no quota
// was exceeded and every acknowledged create is present:
// count == min(quota, attempts), that one INSTALL of the contested instance
// was acknowledged and stored, and that every client got the one stored
// project CA.
func MultiProcessRace(t *testing.T, procs, clients int, base RaceConfig, verify store.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	base.StartAt = time.Now().Add(2 * time.Second) // past every child's start-up and migration check
	cmds := make([]*exec.Cmd, procs)
	outs := make([]string, procs)
	for w := range procs {
		c := base
		c.Worker = w
		c.Clients = clients / procs
		if w < clients%procs {
			c.Clients++
		}
		cfg, err := json.Marshal(c)
		require.NoError(t, err)
		outs[w] = filepath.Join(dir, fmt.Sprintf("worker-%d.json", w))
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=race", helperConfig+"="+string(cfg), helperOut+"="+outs[w])
		cmds[w] = cmd
	}
	var wg sync.WaitGroup
	errs := make([]error, procs)
	logs := make([][]byte, procs)
	for w, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logs[w], errs[w] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	var all RaceResult
	for w := range procs {
		require.NoError(t, errs[w], "worker %d:\n%s", w, logs[w])
		b, err := os.ReadFile(outs[w])
		require.NoError(t, err, "worker %d wrote no result:\n%s", w, logs[w])
		var r RaceResult
		require.NoError(t, json.Unmarshal(b, &r))
		all.Templates = append(all.Templates, r.Templates...)
		all.SameName = append(all.SameName, r.SameName...)
		all.Devices = append(all.Devices, r.Devices...)
		all.DupKey = append(all.DupKey, r.DupKey...)
		all.Installs = append(all.Installs, r.Installs...)
		all.ProjectCA = append(all.ProjectCA, r.ProjectCA...)
		all.Errors = append(all.Errors, r.Errors...)
	}
	require.Empty(t, all.Errors, "unexpected errors")

	wantTemplates := min(base.TemplateLimit, clients)
	pg, err := verify.ListTemplates(ctx, store.TemplateFilter{ProjectID: base.ProjectID, InstanceID: base.InstanceID})
	require.NoError(t, err)
	assert.Equal(t, wantTemplates, pg.Total, "templates stored")
	assert.Len(t, all.Templates, wantTemplates, "templates acknowledged")
	for _, id := range all.Templates {
		_, err := verify.GetTemplate(ctx, base.ProjectID, base.InstanceID, id)
		assert.NoError(t, err, "acknowledged template %s lost", id)
	}
	pg, err = verify.ListTemplates(ctx, store.TemplateFilter{ProjectID: base.ProjectID, InstanceID: base.InstanceID + "-names"})
	require.NoError(t, err)
	assert.Equal(t, 1, pg.Total, "one template of the contested name")
	assert.Len(t, all.SameName, 1)

	wantDevices := min(base.DeviceLimit, clients*base.DevicesPerClient)
	devs, total, err := verify.ListDevices(ctx, store.DeviceFilter{OrgID: base.OrgID, ProductKey: base.ProductKey})
	require.NoError(t, err)
	assert.Equal(t, wantDevices, total, "devices stored")
	assert.Len(t, all.Devices, wantDevices, "devices acknowledged")
	stored := map[string]bool{}
	for _, d := range devs {
		stored[d.AssetID] = true
	}
	for _, id := range all.Devices {
		assert.True(t, stored[id], "acknowledged device %s lost", id)
	}
	_, total, err = verify.ListDevices(ctx, store.DeviceFilter{OrgID: base.OrgID, ProductKey: base.ProductKey + "-dup"})
	require.NoError(t, err)
	assert.Equal(t, 1, total, "one device of the contested key")
	assert.Len(t, all.DupKey, 1)
	invs, total, err := verify.ListInvocations(ctx, store.InvocationFilter{ProjectID: base.ProjectID, InstanceID: base.InstanceID + "-install"})
	require.NoError(t, err)
	assert.Equal(t, 1, total, "one install of the contested instance")
	if assert.Equal(t, 1, len(all.Installs), "installs acknowledged") && len(invs) == 1 {
		assert.Equal(t, all.Installs[0], invs[0].InvocationID)
	}
	cert, key, err := verify.GetOrCreateProjectCA(ctx, base.ProjectID+"-ca", func() (string, string, error) {
		return "", "", errors.New("the racers stored no project CA")
	})
	require.NoError(t, err)
	require.Len(t, all.ProjectCA, clients, "project CA acknowledged")
	for _, got := range all.ProjectCA {
		assert.Equal(t, cert+"|"+key, got, "a client got another project CA than the stored one")
	}
	t.Logf("%d processes, %d clients: templates %d/%d attempts (limit %d), devices %d/%d attempts (limit %d), contested name 1/%d, contested key 1/%d, contested install 1/%d",
		procs, clients, len(all.Templates), clients, base.TemplateLimit, len(all.Devices), clients*base.DevicesPerClient, base.DeviceLimit, clients, clients, clients)
}
