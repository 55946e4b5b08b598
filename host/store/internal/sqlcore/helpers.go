package sqlcore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// Default quota limits from the API documents.
const (
	DefaultTemplateLimitPerInstance = 10
	DefaultDeviceLimitPerProduct    = 10000
)

// Limits are the quota limits a Store enforces.
type Limits struct {
	DevicesPerProduct    int
	TemplatesPerInstance int
}

// withDefaults fills zero limits with the documented defaults.
func (l Limits) withDefaults() Limits {
	if l.DevicesPerProduct <= 0 {
		l.DevicesPerProduct = DefaultDeviceLimitPerProduct
	}
	if l.TemplatesPerInstance <= 0 {
		l.TemplatesPerInstance = DefaultTemplateLimitPerInstance
	}
	return l
}

// now returns the current time at the precision the store keeps
// (microseconds, UTC), so records read back compare equal.
func now() time.Time { return norm(time.Now()) }

// norm truncates t to stored precision; the zero time stays zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// toMicro encodes t for storage; the zero time is 0.
func toMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicro decodes a stored time; 0 is the zero time.
func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// newHexID returns n random bytes as lowercase hex (IoTDA ids are 24 hex = 12 bytes).
func newHexID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newKey returns an n-character alphanumeric key (EnOS assetId / deviceKey style).
func newKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// sqlLimit is the LIMIT to send for p: "no limit" is a large number because
// SQLite and PostgreSQL spell "no limit" differently.
func sqlLimit(p store.Page) int64 {
	if p.Limit <= 0 {
		return 1 << 53
	}
	return int64(p.Limit)
}

// mergeRegistration applies a CBR re-registration to the stored agent: the
// mandatory host fields are replaced, optional ones only when given, so a
// nickname set by the user survives the agent restarting. Identity, creation
// time and paths are kept.
func mergeRegistration(old, reg store.Agent) store.Agent {
	out := old
	out.HostName, out.HostIP, out.HostOS = reg.HostName, reg.HostIP, reg.HostOS
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&out.HostNickname, reg.HostNickname}, {&out.AgentVersion, reg.AgentVersion},
		{&out.AgentType, reg.AgentType}, {&out.Status, reg.Status},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if !reg.LastActiveTime.IsZero() {
		out.LastActiveTime = norm(reg.LastActiveTime)
	}
	return out
}

// addPaths makes dirs available on the agent, reusing the entry of a path
// that was removed before. A path already available, or named twice, is
// unchanged.
func addPaths(a *store.Agent, dirs []string) (changed, unchanged []string) {
	changed, unchanged = []string{}, []string{}
next:
	for _, d := range dirs {
		for i := range a.Paths {
			if p := &a.Paths[i]; p.DirPath == d {
				if p.Status == store.PathAvailable {
					unchanged = append(unchanged, d)
				} else {
					p.Status = store.PathAvailable
					changed = append(changed, d)
				}
				continue next
			}
		}
		a.Paths = append(a.Paths, store.AgentPath{ID: newUUID(), Status: store.PathAvailable, AgentID: a.AgentID, DirPath: d})
		changed = append(changed, d)
	}
	return changed, unchanged
}

// removePaths marks dirs as "remove" (CBR keeps the path until the agent
// confirms). A path that is unknown, already removed or named twice is
// unchanged.
func removePaths(a *store.Agent, dirs []string) (changed, unchanged []string) {
	changed, unchanged = []string{}, []string{}
next:
	for _, d := range dirs {
		for i := range a.Paths {
			if p := &a.Paths[i]; p.DirPath == d && p.Status != store.PathRemove {
				p.Status = store.PathRemove
				changed = append(changed, d)
				continue next
			}
		}
		unchanged = append(unchanged, d)
	}
	return changed, unchanged
}

// initInvocation fills what the store assigns to a new invocation: its
// project, an id when the caller gave none, and its times.
func initInvocation(v *store.AgentInvocation, projectID string, now time.Time) {
	v.ProjectID = projectID
	if v.InvocationID == "" {
		v.InvocationID = newUUID()
	}
	v.CreateTime, v.UpdateTime = now, now
}

// installInProgressError is the error of an INSTALL refused because its
// instance has one in progress; it matches ErrConflict and
// ErrInstallInProgress.
func installInProgressError(projectID, instanceID string) error {
	return fmt.Errorf("%w: %w for instance %s of project %s", store.ErrConflict, store.ErrInstallInProgress, instanceID, projectID)
}

// checkProjectCA rejects an empty per-project CA returned by the create
// function of GetOrCreateProjectCA: it would be stored for good and every
// later product certificate would fail to sign.
func checkProjectCA(certPEM, keyPEM string) error {
	if certPEM == "" || keyPEM == "" {
		return fmt.Errorf("store: project CA create returned an empty certificate or key")
	}
	return nil
}
