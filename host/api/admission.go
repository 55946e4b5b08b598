package api

import (
	"errors"
	"net/http"
	"runtime"
	"strconv"

	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/admission"
	"github.com/onboardhq/onboard/schemas"
)

// Admission sizes the lanes requests are admitted into by cost class, so
// that reads and single creates never wait behind 1,000-device batches
// for the engine's few instances, and an overloaded lane answers 429 with
// Retry-After at once instead of queueing without bound:
//
//   - bulk: a body larger than BulkBytes, or of unknown length (chunked);
//   - read: GET and HEAD;
//   - write: every other request (single creates, updates, deletes,
//     searches with a small body).
//
// A lane runs Slots requests at once and lets Queue more wait; a request
// holds its place from the moment its headers are read, so the bodies
// buffered by a lane are bounded by its size. Zero fields take the
// defaults (DefaultAdmission).
type Admission struct {
	Read, Write, Bulk LaneLimits
	BulkBytes         int64
}

// LaneLimits size one lane.
type LaneLimits struct {
	Slots int // requests that run at once
	Queue int // admitted requests that wait for a slot
}

// DefaultBulkBytes is the body size above which a request is a batch: an
// EnOS batch of 1,000 devices is about 870 KB, one device under 1 KB.
const DefaultBulkBytes = 64 << 10

// DefaultAdmission is the lanes' sizing for an engine of engineInstances
// on this machine. Batches get at most half the engine instances and
// leave at least one core (GOMAXPROCS) to the rest: a Wasm call cannot be
// preempted, so batches validating on every core would hold small
// requests until one ends. A batch's slot covers its engine work only
// (see yieldBulkSlot): its store insert overlaps the next batch's
// validation. Their queue holds four batches more (about
// 3.5 MB of bodies). Reads and writes are short; their slots bound the
// store's concurrent work and their queues absorb bursts.
func DefaultAdmission(engineInstances int) Admission {
	bulk := max(1, min(engineInstances/2, runtime.GOMAXPROCS(0)-1))
	return Admission{
		Read:      LaneLimits{Slots: 64, Queue: 512},
		Write:     LaneLimits{Slots: 16, Queue: 128},
		Bulk:      LaneLimits{Slots: bulk, Queue: 4},
		BulkBytes: DefaultBulkBytes,
	}
}

// lanes are the server's admission lanes.
type lanes struct {
	read, write, bulk *admission.Lane
	bulkBytes         int64
}

func newLanes(cfg Admission, engine Validator) lanes {
	n := host.DefaultMaxInstances
	if rt, ok := engine.(RuntimeStats); ok && rt.Stats().Max > 0 {
		n = rt.Stats().Max
	}
	d := DefaultAdmission(n)
	pick := func(l, dflt LaneLimits) admission.Limits {
		if l.Slots <= 0 {
			l.Slots = dflt.Slots
		}
		if l.Queue <= 0 {
			l.Queue = dflt.Queue
		}
		return admission.Limits{Slots: l.Slots, Queue: l.Queue}
	}
	if cfg.BulkBytes <= 0 {
		cfg.BulkBytes = d.BulkBytes
	}
	return lanes{read: admission.NewLane("read", pick(cfg.Read, d.Read)), write: admission.NewLane("write", pick(cfg.Write, d.Write)),
		bulk: admission.NewLane("bulk", pick(cfg.Bulk, d.Bulk)), bulkBytes: cfg.BulkBytes}
}

// laneFor classifies a request by what it costs: its body's size first
// (the engine's and the store's work grow with it), then its method.
func (l *lanes) laneFor(r *http.Request, op schemas.Operation) *admission.Lane {
	switch {
	case op.RequestSchema != "" && (r.ContentLength < 0 || r.ContentLength > l.bulkBytes):
		return l.bulk
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return l.read
	}
	return l.write
}

func (l *lanes) all() []*admission.Lane { return []*admission.Lane{l.read, l.write, l.bulk} }

// admit takes the request's place in its lane before its body is read,
// or refuses it with 429 and Retry-After: nothing of it is read, checked
// or written.
func (c *call) admit() error {
	if c.r.ContentLength > edge.BodyLimit(c.op, c.s.Limits().BodyLimit) {
		// The operation's limit, not the server's: a full-size EnOS batch
		// (1.3 MB, under batchCreate's 4 MiB) must be admitted like any.
		return nil // readBody answers 413 without reading it, however busy the lane
	}
	lane := c.s.lanes.laneFor(c.r, c.op)
	t, ok := lane.Admit()
	if !ok {
		secs := int(lane.RetryAfter().Seconds())
		c.w.Header().Set("Retry-After", strconv.Itoa(secs))
		what := "requests like this one"
		if lane == c.s.lanes.bulk {
			what = "batches (bodies over " + strconv.FormatInt(c.s.lanes.bulkBytes>>10, 10) + " KiB)"
		}
		st := lane.Stats()
		return newError(c.svc, kindOverloaded, "the server is busy with %s: %d run and %d wait already; retry in %d s",
			what, st.Slots, st.Queue, secs)
	}
	c.lane, c.ticket = lane, t
	return nil
}

// runSlot waits for a slot in the request's lane before the engine and the
// store work on it.
func (c *call) runSlot() error {
	if c.ticket == nil {
		return errors.New("api: a request without an admission ticket reached the engine")
	}
	if err := c.ticket.Run(c.r.Context()); err != nil {
		return newError(c.svc, kindUnavailable, "the request was canceled while it waited for its turn")
	}
	return nil
}

// yieldBulkSlot frees a batch's bulk slot once the engine and the hooks
// are done with it: the slot bounds the non-preemptible Wasm work, while
// the store insert that follows waits on PostgreSQL more than it uses a
// core. With one bulk slot (2 cores), holding it through the insert ran
// batches one after another and left the cores half idle. The batch keeps
// its place in the lane until it ends, so the bodies in memory stay
// bounded by the lane's size. Reads and writes keep their slot to the end:
// there it bounds the store's concurrent work.
func (c *call) yieldBulkSlot() {
	if c.lane == c.s.lanes.bulk {
		c.ticket.Yield()
	}
}
