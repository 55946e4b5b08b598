package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/store"
)

// CES agent invocations (Agent maintenance tasks):
// /v3/{project_id}/agent-invocations. A batch-create answers per item, so a
// request with one bad server still creates the tasks of the others; the
// whole call fails only for request-level errors (400 ces.0014 from the
// engine, auth, store outage).
//
// onboard runs no real Agent: a task stays PENDING until the agent side
// reports on it (onboard-report, ces_report.go) or the timeout sweep makes
// it TIMEOUT. "The instance has an Agent" therefore means the project has
// a SUCCEEDED INSTALL task for it.

func init() {
	register("ces.agent-invocation.batch-create", (*Server).batchCreateInvocations)
	// Served as soon as the catalogue has the operation (New only routes
	// catalogue entries).
	register("ces.agent-invocation.list", (*Server).listInvocations)
}

// Per-item error codes (BatchCreateInvocationInfo.error_code: "invocationmgr."
// and four digits). The seed names no codes, so these are onboard's, numbered
// after the HTTP status they would have on their own:
//
//	code                meaning (the item is not written)
//	invocationmgr.0400  the item breaks a documented rule (the engine's per-item verdict)
//	invocationmgr.0404  UPDATE: the instance has no Agent (no successful INSTALL);
//	                    ROLLBACK/RETRY: no such invocation in the project
//	invocationmgr.0409  INSTALL already pending or running for the instance; ROLLBACK of
//	                    a task that is not an UPDATE; RETRY of a task that has not failed;
//	                    the same item twice in one request; an id collision on write
const (
	invItemInvalid  = "invocationmgr.0400"
	invItemNotFound = "invocationmgr.0404"
	invItemConflict = "invocationmgr.0409"
)

// Invocation types and statuses, spelled as the SDK's InvocationInfo enums
// (upper case: the list response schema allows nothing else).
const (
	invInstall            = "INSTALL"
	invUpdate             = "UPDATE"
	invRollback           = "ROLLBACK"
	invRetry              = "RETRY"
	invSetRemoteInstaller = "SET_REMOTE_INSTALLER"
	invRemoteInstall      = "REMOTE_INSTALL"

	invPending   = "PENDING"
	invRunning   = "RUNNING"
	invFailed    = "FAILED"
	invTimeout   = "TIMEOUT"
	invSucceeded = "SUCCEEDED"
)

// The array members are kept raw: an item the engine failed per item (a
// number among strings, say) must not fail the decoding of the others.
type invocationRequest struct {
	InstanceIDs       []json.RawMessage `json:"instance_ids"`
	InvocationType    string            `json:"invocation_type"`
	InvocationTarget  string            `json:"invocation_target"` // "telescope": the engine fills the default
	InvocationIDs     []json.RawMessage `json:"invocation_ids"`
	Version           string            `json:"version"`
	RemoteInstallMeta []json.RawMessage `json:"remote_install_meta"`
}

// invocationResult is a BatchCreateInvocationInfo.
type invocationResult struct {
	InstanceID   string `json:"instance_id,omitempty"`
	InvocationID string `json:"invocation_id,omitempty"`
	RetStatus    string `json:"ret_status"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMsg     string `json:"error_msg,omitempty"`
}

// invocationJSON is the SDK's InvocationInfo, as the list returns it. It
// has no field for the remote-install password, so none can leak.
type invocationJSON struct {
	InvocationID     string   `json:"invocation_id"`
	InstanceID       string   `json:"instance_id,omitempty"`
	InstanceName     string   `json:"instance_name,omitempty"`
	InstanceType     string   `json:"instance_type,omitempty"`
	IntranetIPs      []string `json:"intranet_ips"`
	ElasticIPs       []string `json:"elastic_ips"`
	InvocationType   string   `json:"invocation_type"`
	InvocationStatus string   `json:"invocation_status"`
	InvocationTarget string   `json:"invocation_target"`
	CreateTime       int64    `json:"create_time"` // ms since the epoch
	UpdateTime       int64    `json:"update_time"`
	CurrentVersion   string   `json:"current_version,omitempty"`
	TargetVersion    string   `json:"target_version,omitempty"`
}

// responseID is the range of BatchCreateInvocationInfo's ids: a request id
// outside it is not echoed (the item is still answered in request order).
var responseID = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func echoID(id string) string {
	if responseID.MatchString(id) {
		return id
	}
	return ""
}

// itemError builds an error item; error_msg is at most 128 characters.
func itemError(instanceID, invocationID, code, format string, args ...any) invocationResult {
	msg := fmt.Sprintf(format, args...)
	if utf8.RuneCountInString(msg) > 128 {
		msg = string([]rune(msg)[:125]) + "..."
	}
	return invocationResult{InstanceID: echoID(instanceID), InvocationID: echoID(invocationID),
		RetStatus: "error", ErrorCode: code, ErrorMsg: msg}
}

// failedItems returns the engine's per-item verdicts for the array field,
// as messages naming the member that broke a rule. A password's value is
// never quoted back, whatever the rule.
func failedItems(res *abi.Result, field string) map[int]string {
	out := map[int]string{}
	for _, b := range res.Batches {
		if b.Pointer != "/"+field {
			continue
		}
		for _, f := range b.Failed {
			item := fmt.Sprintf("/%s/%d", field, f.Index)
			msgs := make([]string, 0, len(f.Violations))
			for _, v := range f.Violations {
				where := fmt.Sprintf("%s[%d]", field, f.Index) + strings.ReplaceAll(strings.TrimPrefix(v.Pointer, item), "/", ".")
				msg := v.Message
				if strings.HasSuffix(v.Pointer, "/password") {
					msg = "breaks the " + v.Rule + " rule"
				}
				msgs = append(msgs, where+": "+msg)
			}
			out[f.Index] = strings.Join(msgs, "; ")
		}
	}
	return out
}

// planned is one item's outcome before the write: an invocation to store
// (inv != nil) or an error result.
type planned struct {
	inv *store.AgentInvocation
	res invocationResult
}

func (s *Server) batchCreateInvocations(c *call) error {
	// The doc's example response is a bare array, but its response table
	// (and the official SDKs) define {"invocations": [...]}: the table wins.
	var req invocationRequest
	if err := c.request(&req); err != nil {
		return err
	}
	// Which array drives the batch depends on the type; the schema makes
	// that array mandatory for every type (its if/then rules), so the
	// engine has refused a request without it.
	var items []json.RawMessage
	var field string
	switch req.InvocationType {
	case invInstall, invUpdate, invSetRemoteInstaller:
		items, field = req.InstanceIDs, "instance_ids"
	case invRollback, invRetry:
		items, field = req.InvocationIDs, "invocation_ids"
	case invRemoteInstall:
		items, field = req.RemoteInstallMeta, "remote_install_meta"
	}
	if items == nil {
		return fmt.Errorf("the engine accepted invocation_type %s without %s: the schema and this handler disagree", req.InvocationType, field)
	}
	failed := failedItems(c.result, field)
	seen := map[string]bool{}
	plans := make([]planned, len(items))
	for i, raw := range items {
		var key string // the id as the client sent it ("" for objects)
		_ = json.Unmarshal(raw, &key)
		if msg, bad := failed[i]; bad {
			res := itemError("", "", invItemInvalid, "%s", msg)
			switch field {
			case "instance_ids":
				res.InstanceID = echoID(key)
			case "invocation_ids":
				res.InvocationID = echoID(key)
			}
			plans[i] = planned{res: res}
			continue
		}
		var p planned
		var err error
		switch req.InvocationType {
		case invInstall, invUpdate, invSetRemoteInstaller:
			p, err = s.planForInstance(c, &req, key, seen)
		case invRollback, invRetry:
			p, err = s.planForInvocation(c, &req, key, seen)
		case invRemoteInstall:
			p, err = planRemoteInstall(&req, raw, i)
		}
		if err != nil {
			return err
		}
		plans[i] = p
	}

	// All accepted items in one store call: one statement, one transaction.
	var invs []store.AgentInvocation
	var slots []int
	for i := range plans {
		if plans[i].inv != nil {
			inv := *plans[i].inv
			inv.InvocationID = newUUID()
			inv.InvocationStatus = invPending
			inv.InvocationTarget = req.InvocationTarget
			invs = append(invs, inv)
			slots = append(slots, i)
		}
	}
	if len(invs) > 0 {
		results, err := s.cfg.Store.BatchCreateInvocations(c.r.Context(), c.project, invs)
		if err != nil {
			// Logged by fail with the request id; the error holds no
			// password (the store seals it before any SQL runs).
			return fmt.Errorf("store invocations: %w", err)
		}
		for _, r := range results {
			i := slots[r.Index]
			if errors.Is(r.Err, store.ErrInstallInProgress) { // a race planForInstance's read cannot see
				plans[i].res = itemError(invs[r.Index].InstanceID, "", invItemConflict, "an install task for this instance is already in progress")
				continue
			}
			if r.Status != store.ItemCreated {
				plans[i].res = itemError(invs[r.Index].InstanceID, "", invItemConflict, "invocation id collision; send the item again")
				continue
			}
			plans[i].res.InvocationID = r.ID
		}
	}
	out := make([]invocationResult, len(plans))
	for i := range plans {
		out[i] = plans[i].res
	}
	return c.reply(http.StatusCreated, map[string]any{"invocations": out})
}

// planForInstance handles INSTALL, UPDATE and SET_REMOTE_INSTALLER: one
// task per instance id.
func (s *Server) planForInstance(c *call, req *invocationRequest, id string, seen map[string]bool) (planned, error) {
	if seen[id] {
		return planned{res: itemError(id, "", invItemConflict, "instance %s is listed twice in this request", id)}, nil
	}
	seen[id] = true
	inv := &store.AgentInvocation{InstanceID: id, InvocationType: req.InvocationType, TargetVersion: req.Version}
	if req.InvocationType == invSetRemoteInstaller {
		return planned{inv: inv, res: invocationResult{InstanceID: id, RetStatus: "successful"}}, nil
	}
	switch req.InvocationType {
	case invInstall:
		busy, err := s.latestInstall(c, id, invPending, invRunning)
		if err != nil {
			return planned{}, err
		}
		if busy != nil {
			return planned{res: itemError(id, "", invItemConflict, "an install task for this instance is already in progress")}, nil
		}
	case invUpdate:
		// The instance's succeeded tasks (newest first, from its own index
		// range): the latest successful install describes the host, and
		// they alone decide the running version.
		succeeded, _, err := s.cfg.Store.ListInvocations(c.r.Context(), store.InvocationFilter{ProjectID: c.project,
			InstanceID: id, Statuses: []string{invSucceeded}, Page: store.Page{NoTotal: true}})
		if err != nil {
			return planned{}, fmt.Errorf("list succeeded tasks of %s: %w", id, err)
		}
		i := slices.IndexFunc(succeeded, func(v store.AgentInvocation) bool { return v.InvocationType == invInstall })
		if i < 0 {
			tried, err := s.latestInstall(c, id)
			if err != nil {
				return planned{}, err
			}
			if tried != nil {
				return planned{res: itemError(id, "", invItemNotFound, "unknown instance: install the agent first (no install task of it has succeeded yet)")}, nil
			}
			return planned{res: itemError(id, "", invItemNotFound, "unknown instance: install the agent first")}, nil
		}
		agent := &succeeded[i]
		inv.InstanceName, inv.InstanceType = agent.InstanceName, agent.InstanceType
		inv.IntranetIP, inv.ElasticIPs = agent.IntranetIP, agent.ElasticIPs
		inv.CurrentVersion = runningVersion(succeeded, "")
	}
	return planned{inv: inv, res: invocationResult{InstanceID: id, RetStatus: "successful"}}, nil
}

// latestInstall is the newest INSTALL task of the instance with one of
// statuses (any status when none is given), or nil. One row is read, from
// the instance's own index range, however many tasks the project holds.
func (s *Server) latestInstall(c *call, instanceID string, statuses ...string) (*store.AgentInvocation, error) {
	got, _, err := s.cfg.Store.ListInvocations(c.r.Context(), store.InvocationFilter{ProjectID: c.project,
		InstanceID: instanceID, InvocationType: invInstall, Statuses: statuses, Page: store.Page{Limit: 1, NoTotal: true}})
	if err != nil {
		return nil, fmt.Errorf("list installs of %s: %w", instanceID, err)
	}
	if len(got) == 0 {
		return nil, nil
	}
	return &got[0], nil
}

// planForInvocation handles ROLLBACK and RETRY of an existing task of the
// project. An error item names the invocation asked about; a successful
// one names the new task.
func (s *Server) planForInvocation(c *call, req *invocationRequest, id string, seen map[string]bool) (planned, error) {
	if seen[id] {
		return planned{res: itemError("", id, invItemConflict, "invocation %s is listed twice in this request", id)}, nil
	}
	seen[id] = true
	orig, err := s.cfg.Store.GetInvocation(c.r.Context(), c.project, id)
	if isNotFound(err) {
		return planned{res: itemError("", id, invItemNotFound, "invocation %s does not exist", id)}, nil
	}
	if err != nil {
		return planned{}, fmt.Errorf("get invocation %s: %w", id, err)
	}
	inv := &store.AgentInvocation{InstanceID: orig.InstanceID, InstanceName: orig.InstanceName,
		InstanceType: orig.InstanceType, IntranetIP: orig.IntranetIP, ElasticIPs: orig.ElasticIPs,
		InvocationType: req.InvocationType}
	switch req.InvocationType {
	case invRollback:
		if orig.InvocationType != invUpdate {
			return planned{res: itemError(orig.InstanceID, id, invItemConflict,
				"invocation %s has type %s: only UPDATE tasks can be rolled back", id, orig.InvocationType)}, nil
		}
		// From the version that runs now back to the one the update
		// started from: what ran before it, by the task history (a
		// successful update's own current_version is its target by now).
		tasks, _, err := s.cfg.Store.ListInvocations(c.r.Context(), store.InvocationFilter{ProjectID: c.project, InstanceID: orig.InstanceID})
		if err != nil {
			return planned{}, fmt.Errorf("list tasks of %s: %w", orig.InstanceID, err)
		}
		inv.CurrentVersion, inv.TargetVersion = runningVersion(tasks, ""), runningVersion(tasks, id)
		if inv.TargetVersion == "" {
			inv.TargetVersion = orig.CurrentVersion
		}
	case invRetry:
		if orig.InvocationStatus != invFailed && orig.InvocationStatus != invTimeout {
			return planned{res: itemError(orig.InstanceID, id, invItemConflict,
				"invocation %s is %s: only FAILED or TIMEOUT tasks can be retried", id, orig.InvocationStatus)}, nil
		}
		// The retry repeats the task, remote-install credentials included
		// (the store seals them again).
		inv.CurrentVersion, inv.TargetVersion, inv.RemoteInstall = orig.CurrentVersion, orig.TargetVersion, orig.RemoteInstall
	}
	return planned{inv: inv, res: invocationResult{InstanceID: orig.InstanceID, RetStatus: "successful"}}, nil
}

// runningVersion is the agent version an instance runs, from its tasks
// (newest first): the version of the latest successful task that changed
// the agent (an install, update, retry or rollback), its current_version
// or else its target. With before set, only tasks older than that one
// count: what ran before it. "" when no such task succeeded.
func runningVersion(tasks []store.AgentInvocation, before string) string {
	older := before == ""
	for _, v := range tasks {
		if !older {
			older = v.InvocationID == before
			continue
		}
		if v.InvocationStatus != invSucceeded || v.InvocationType == invSetRemoteInstaller || v.InvocationType == invRemoteInstall {
			continue
		}
		if v.CurrentVersion != "" {
			return v.CurrentVersion
		}
		return v.TargetVersion
	}
	return ""
}

// planRemoteInstall handles REMOTE_INSTALL: one task per host. The host has
// no cloud instance id yet, so the item carries none.
func planRemoteInstall(req *invocationRequest, raw json.RawMessage, i int) (planned, error) {
	var m store.RemoteInstallMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		// Not reachable after the engine's checks; never echo raw (it may
		// hold a password).
		return planned{res: itemError("", "", invItemInvalid, "remote_install_meta[%d] is not a RemoteInstallHostInfo object", i)}, nil
	}
	inv := &store.AgentInvocation{InstanceName: m.InstanceName, IntranetIP: m.RemoteIP,
		InvocationType: req.InvocationType, TargetVersion: req.Version, RemoteInstall: &m}
	return planned{inv: inv, res: invocationResult{RetStatus: "successful"}}, nil
}

func invocationOut(v *store.AgentInvocation) invocationJSON {
	out := invocationJSON{InvocationID: v.InvocationID, InstanceID: v.InstanceID, InstanceName: v.InstanceName,
		InstanceType: v.InstanceType, IntranetIPs: []string{}, ElasticIPs: v.ElasticIPs,
		InvocationType: v.InvocationType, InvocationStatus: v.InvocationStatus, InvocationTarget: v.InvocationTarget,
		CreateTime: v.CreateTime.UnixMilli(), UpdateTime: v.UpdateTime.UnixMilli(),
		CurrentVersion: v.CurrentVersion, TargetVersion: v.TargetVersion}
	if v.IntranetIP != "" {
		out.IntranetIPs = []string{v.IntranetIP}
	}
	if out.ElasticIPs == nil {
		out.ElasticIPs = []string{}
	}
	return out
}

// listInvocations pages with offset/limit (default 100, the catalogue's
// ListAgentInvocationsRequest default).
func (s *Server) listInvocations(c *call) error {
	invs, total, err := s.cfg.Store.ListInvocations(c.r.Context(), store.InvocationFilter{ProjectID: c.project,
		InstanceID: c.query("instance_id"), InstanceType: c.query("instance_type"),
		InvocationID: c.query("invocation_id"), InvocationType: c.query("invocation_type"),
		InvocationTarget: c.query("invocation_target"), Page: c.page(100)})
	if err != nil {
		return storeError(c.svc, err, "invocations")
	}
	out := make([]invocationJSON, 0, len(invs))
	for i := range invs {
		out = append(out, invocationOut(&invs[i]))
	}
	return c.reply(http.StatusOK, map[string]any{"invocations": out, "count": total})
}
