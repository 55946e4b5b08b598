package api

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/hooks"
)

// HookRunner runs registration hooks (*hooks.Runner). Before returns the
// request as patched by the hooks, or nil when none patched it; a deny is
// a *hooks.DeniedError, a failing hook a *hooks.FailedError.
type HookRunner interface {
	Before(ctx context.Context, req abi.HookRequest) (patched json.RawMessage, err error)
}

var _ HookRunner = (*hooks.Runner)(nil)

// runHooks runs the hooks of the operation's hook point (the catalogue's
// "hook": before-create on the operations that create a resource) on the
// engine's normalised request. A patched request goes back to the engine: the engine owns the
// rules, and a hook must not smuggle in what a client could not send.
func (c *call) runHooks(params []byte) error {
	if c.s.cfg.Hooks == nil || c.op.Hook == "" {
		return nil
	}
	req := abi.HookRequest{Hook: c.op.Hook, Operation: c.op.ID, Project: c.project, Org: c.org,
		Request: c.result.Request}
	patched, err := c.s.cfg.Hooks.Before(c.r.Context(), req)
	var denied *hooks.DeniedError
	var failed *hooks.FailedError
	switch {
	case errors.As(err, &denied):
		return newError(c.svc, kindHookDenied, "%s", denied.Error())
	case errors.As(err, &failed):
		c.s.log.Error("registration hook failed", "op", c.op.ID, "request_id", c.requestID, "hook", failed.Hook, "err", failed.Err)
		what := "failed"
		if errors.Is(err, hooks.ErrTimeout) {
			what = "timed out"
		}
		return newError(c.svc, kindUnavailable, "registration hook %q %s on this request (request id %s); retry later or ask the operator", failed.Hook, what, c.requestID)
	case err != nil:
		if c.r.Context().Err() != nil {
			return newError(c.svc, kindUnavailable, "the request was canceled while registration hooks ran")
		}
		c.s.log.Error("registration hooks failed", "op", c.op.ID, "request_id", c.requestID, "err", err)
		return newError(c.svc, kindUnavailable, "registration hooks are unavailable (request id %s); retry later", c.requestID)
	case patched == nil:
		return nil
	}
	res, err := c.validate(c.op.ID, params, patched)
	if err != nil {
		return err
	}
	if !res.Accepted() {
		e := invalid(c.svc, res)
		e.Message = "the request as changed by registration hooks breaks a rule: " + e.Message
		return e
	}
	c.body, c.result = patched, res
	return nil
}
