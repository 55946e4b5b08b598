package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// The task lifecycle. CES runs the Agent and moves its tasks on; a
// standalone onboard has no Agent, so the agent side (or an operator)
// reports progress through onboard's report extension, and a sweep turns
// tasks nobody reports on into TIMEOUT. Without them no task ever left
// PENDING, and UPDATE, RETRY and ROLLBACK could never succeed.

func init() {
	register("ces.agent-invocation.onboard-report", (*Server).reportInvocation)
}

// reportsFrom lists, per status, the statuses a report may move a task to.
// RUNNING to RUNNING is the agent saying it still works: it renews the
// timeout. SUCCEEDED, FAILED and TIMEOUT are final: a RETRY task repeats
// a FAILED or TIMEOUT one.
var reportsFrom = map[string][]string{
	invPending: {invRunning, invSucceeded, invFailed},
	invRunning: {invRunning, invSucceeded, invFailed},
}

func (s *Server) reportInvocation(c *call) error {
	var req struct {
		InvocationStatus string `json:"invocation_status"`
		CurrentVersion   string `json:"current_version"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	id := c.r.PathValue("invocation_id")
	// A compare-and-set on the status read: when another report, or the
	// sweep, gets there first, judge the report again on the new status.
	for range 3 {
		orig, err := s.cfg.Store.GetInvocation(c.r.Context(), c.project, id)
		if err != nil {
			return storeError(c.svc, err, "invocation "+id)
		}
		if !slices.Contains(reportsFrom[orig.InvocationStatus], req.InvocationStatus) {
			return illegalReport(c.svc, orig, req.InvocationStatus)
		}
		v := &store.AgentInvocation{ProjectID: c.project, InvocationID: id, InvocationStatus: req.InvocationStatus,
			CurrentVersion: req.CurrentVersion}
		if v.CurrentVersion == "" {
			v.CurrentVersion = orig.CurrentVersion
			if req.InvocationStatus == invSucceeded && orig.TargetVersion != "" {
				v.CurrentVersion = orig.TargetVersion // done: the target is what runs now
			}
		}
		err = s.cfg.Store.ReportInvocation(c.r.Context(), v, orig.InvocationStatus)
		if errors.Is(err, store.ErrStatusChanged) {
			continue
		}
		if err != nil {
			return storeError(c.svc, err, "invocation "+id)
		}
		return c.reply(http.StatusOK, map[string]any{"invocation": invocationOut(v)})
	}
	return newError(c.svc, kindConflict, "invocation %s changed while this report was applied: send it again", id)
}

// illegalReport is the 409 of a report the task's status does not allow.
func illegalReport(svc string, v *store.AgentInvocation, to string) error {
	if allowed := reportsFrom[v.InvocationStatus]; allowed != nil {
		return newError(svc, kindConflict, "invocation %s is %s: report %s, not %s",
			v.InvocationID, v.InvocationStatus, strings.Join(allowed, ", "), to)
	}
	return newError(svc, kindConflict, "invocation %s is %s, a final status: reports move only PENDING or RUNNING tasks (create a RETRY task to run a FAILED or TIMEOUT one again)",
		v.InvocationID, v.InvocationStatus)
}

// DefaultInvocationTimeout is how long a task may go without a report
// before the sweep turns it into TIMEOUT.
const DefaultInvocationTimeout = 30 * time.Minute

// SweepInvocations turns tasks not reported on within timeout (0: the
// default) into TIMEOUT, at start and then every tenth of the timeout (at
// least every second, at most every minute), until ctx ends. RunSweeps
// runs it; an embedder that serves CES runs RunSweeps beside its Server.
// Hosts sharing one database may all run it: the change is one idempotent
// UPDATE.
func SweepInvocations(ctx context.Context, st store.Store, timeout time.Duration, log *slog.Logger) {
	if timeout <= 0 {
		timeout = DefaultInvocationTimeout
	}
	every(ctx, min(max(timeout/10, time.Second), time.Minute), func() {
		n, err := st.TimeoutInvocations(ctx, time.Now().Add(-timeout))
		switch {
		case err != nil && ctx.Err() == nil:
			orDiscard(log).Warn("invocation timeout sweep failed", "err", err)
		case n > 0:
			orDiscard(log).Info("invocations timed out", "count", n, "timeout", timeout)
		}
	})
}
