package model

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Now returns the current time at the precision every adapter stores
// (microseconds, UTC), so records read back compare equal across adapters.
func Now() time.Time { return Norm(time.Now()) }

// Norm truncates t to stored precision; the zero time stays zero.
func Norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// ToMicro encodes t for storage; the zero time is 0.
func ToMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicro decodes a stored time; 0 is the zero time.
func FromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// NewHexID returns n random bytes as lowercase hex (IoTDA ids are 24 hex = 12 bytes).
func NewHexID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// NewUUID returns a random (version 4) UUID string.
func NewUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewKey returns an n-character alphanumeric key (EnOS assetId / deviceKey style).
func NewKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// HashToken is the stored form of an API token: hex SHA-256.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Window applies offset/limit to n items and returns the slice bounds.
func (p Page) Window(n int) (lo, hi int) {
	lo = min(max(p.Offset, 0), n)
	hi = n
	if p.Limit > 0 && lo+p.Limit < hi {
		hi = lo + p.Limit
	}
	return lo, hi
}

// SQLLimit is the LIMIT to send for p: "no limit" is a large number because
// SQLite and PostgreSQL spell "no limit" differently.
func (p Page) SQLLimit() int64 {
	if p.Limit <= 0 {
		return 1 << 53
	}
	return int64(p.Limit)
}

// SQLOffset is the OFFSET to send for p.
func (p Page) SQLOffset() int64 { return int64(max(p.Offset, 0)) }

// MergeRegistration applies a CBR re-registration to the stored agent: the
// mandatory host fields are replaced, optional ones only when given, so a
// nickname set by the user survives the agent restarting. Identity, creation
// time and paths are kept.
func MergeRegistration(old, reg Agent) Agent {
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
		out.LastActiveTime = Norm(reg.LastActiveTime)
	}
	return out
}

// AddPaths marks dirs available on the agent, reusing the entry of a path
// that was removed before, and returns the new path list.
func AddPaths(paths []AgentPath, agentID string, dirs []string) []AgentPath {
	out := append([]AgentPath(nil), paths...)
next:
	for _, d := range dirs {
		for i := range out {
			if out[i].DirPath == d {
				out[i].Status = PathAvailable
				continue next
			}
		}
		out = append(out, AgentPath{ID: NewUUID(), Status: PathAvailable, AgentID: agentID, DirPath: d})
	}
	return out
}

// RemovePaths marks dirs as "remove" (CBR keeps the path until the agent
// confirms). It reports how many of dirs were known.
func RemovePaths(paths []AgentPath, dirs []string) ([]AgentPath, int) {
	out := append([]AgentPath(nil), paths...)
	n := 0
	for _, d := range dirs {
		for i := range out {
			if out[i].DirPath == d {
				out[i].Status = PathRemove
				n++
			}
		}
	}
	return out, n
}

// CreateDeviceVia creates one device through an adapter's batch insert, so
// a single create obeys exactly the batch's conflict and quota rules.
func CreateDeviceVia(ctx context.Context, d *EnosDevice,
	batch func(ctx context.Context, orgID string, devs []EnosDevice) ([]ItemResult, error)) error {
	devs := []EnosDevice{*d}
	res, err := batch(ctx, d.OrgID, devs)
	if err != nil {
		return err
	}
	if res[0].Status != ItemCreated {
		return res[0].Err
	}
	*d = devs[0]
	return nil
}

// InitInvocation fills what the store assigns to a new invocation: its
// project, an id when the caller gave none, and its times.
func InitInvocation(v *AgentInvocation, projectID string, now time.Time) {
	v.ProjectID = projectID
	if v.InvocationID == "" {
		v.InvocationID = NewUUID()
	}
	v.CreateTime, v.UpdateTime = now, now
}
