package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const invCols = `invocation_id, project_id, instance_id, instance_name, instance_type, intranet_ip, elastic_ips, current_version, target_version,
invocation_type, invocation_status, invocation_target, remote_install, remote_password, create_time, update_time`

const invNCols = 16

func (s *Store) scanInvocation(r Row) (store.AgentInvocation, error) {
	var v store.AgentInvocation
	var eips, meta, pw string
	var ct, ut int64
	err := r.Scan(&v.InvocationID, &v.ProjectID, &v.InstanceID, &v.InstanceName, &v.InstanceType, &v.IntranetIP, &eips,
		&v.CurrentVersion, &v.TargetVersion, &v.InvocationType, &v.InvocationStatus, &v.InvocationTarget, &meta, &pw, &ct, &ut)
	if err != nil {
		return v, err
	}
	v.CreateTime, v.UpdateTime = fromMicro(ct), fromMicro(ut)
	if err := unjs(eips, &v.ElasticIPs); err != nil {
		return v, err
	}
	if meta != "" {
		v.RemoteInstall = new(store.RemoteInstallMeta)
		if err := unjs(meta, v.RemoteInstall); err != nil {
			return v, err
		}
		if v.RemoteInstall.Password, err = s.seal.Open(pw); err != nil {
			return v, err
		}
	}
	return v, nil
}

// invocationRow encodes v; the password travels in its own sealed column
// and never inside the JSON.
func (s *Store) invocationRow(v *store.AgentInvocation) ([]any, error) {
	var meta, pw string
	if v.RemoteInstall != nil {
		m := *v.RemoteInstall
		var err error
		if pw, err = s.seal.Seal(m.Password); err != nil {
			return nil, err
		}
		m.Password = ""
		meta = js(m)
	}
	return []any{v.InvocationID, v.ProjectID, v.InstanceID, v.InstanceName, v.InstanceType, v.IntranetIP, js(v.ElasticIPs),
		v.CurrentVersion, v.TargetVersion, v.InvocationType, v.InvocationStatus, v.InvocationTarget, meta, pw,
		toMicro(v.CreateTime), toMicro(v.UpdateTime)}, nil
}

// BatchCreateInvocations stores up to a request's worth of CES invocations
// with one INSERT (see insertRows) in one transaction. An invocation id that exists
// already, or a PENDING/RUNNING INSTALL for an instance that has one (the
// partial unique index of migration 5 refuses it, whatever the race), is
// reported as a conflict without undoing the others. invs are updated in
// place with generated ids and times.
func (s *Store) BatchCreateInvocations(ctx context.Context, projectID string, invs []store.AgentInvocation) (_ []store.ItemResult, err error) {
	defer s.observe(ctx, "BatchCreateInvocations", time.Now(), &err)
	at := now()
	res := make([]store.ItemResult, len(invs))
	vals := make([][]any, len(invs))
	idx := make([]int, len(invs))
	for i := range invs {
		v := &invs[i]
		initInvocation(v, projectID, at)
		row, err := s.invocationRow(v)
		if err != nil {
			return nil, err
		}
		vals[i], idx[i] = row, i
		res[i] = store.ItemResult{Index: i, ID: v.InvocationID, Key: v.InstanceID, Status: store.ItemCreated}
	}
	// The index alone keeps one install in progress. The locks keep two
	// batches naming the same instances in another order from deadlocking
	// on each other's uncommitted index entries.
	var locks []string
	for i := range invs {
		if invs[i].InstallInProgress() {
			locks = append(locks, "inv-install\x1f"+projectID+"\x1f"+invs[i].InstanceID)
		}
	}
	var inserted, idTaken map[string]bool
	err = s.tx(ctx, locks, func(q Querier) error {
		var err error
		inserted, err = s.insertRows(ctx, q, "agent_invocations", invCols, invNCols, "invocation_id", idx, vals)
		if err != nil {
			return err
		}
		// An INSTALL skipped with a free id was skipped by the install index.
		var installs []string
		for i := range invs {
			if !inserted[invs[i].InvocationID] && invs[i].InstallInProgress() {
				installs = append(installs, invs[i].InvocationID)
			}
		}
		idTaken = map[string]bool{}
		for lo := 0; lo < len(installs); lo += s.db.MaxParams() {
			var a args
			in := a.in(installs[lo:min(lo+s.db.MaxParams(), len(installs))])
			if err := scanIDs(ctx, q, `SELECT invocation_id FROM agent_invocations WHERE invocation_id IN `+in, a, idTaken); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range res {
		switch v := &invs[i]; {
		case inserted[res[i].ID]:
		case v.InstallInProgress() && !idTaken[res[i].ID]:
			res[i].Status = store.ItemConflict
			res[i].Err = installInProgressError(projectID, v.InstanceID)
		default:
			res[i].Status = store.ItemConflict
			res[i].Err = fmt.Errorf("%w: invocation %s exists", store.ErrConflict, res[i].ID)
		}
	}
	return res, nil
}

// GetInvocation returns one invocation of the project.
func (s *Store) GetInvocation(ctx context.Context, projectID, invocationID string) (_ *store.AgentInvocation, err error) {
	defer s.observe(ctx, "GetInvocation", time.Now(), &err)
	return s.getInvocation(ctx, projectID, invocationID)
}

func (s *Store) getInvocation(ctx context.Context, projectID, invocationID string) (*store.AgentInvocation, error) {
	v, err := s.scanInvocation(s.q(ctx).QueryRow(ctx, `SELECT `+invCols+` FROM agent_invocations WHERE invocation_id = $1 AND project_id = $2`,
		invocationID, projectID))
	if err != nil {
		return nil, notFound(err, "invocation "+invocationID)
	}
	return &v, nil
}

// ListInvocations applies the CES list filters, newest first as CES lists.
func (s *Store) ListInvocations(ctx context.Context, f store.InvocationFilter) (_ []store.AgentInvocation, _ int, err error) {
	defer s.observe(ctx, "ListInvocations", time.Now(), &err)
	var w where
	w.eq("project_id", f.ProjectID)
	w.opt("instance_id", f.InstanceID)
	w.opt("instance_type", f.InstanceType)
	w.opt("invocation_id", f.InvocationID)
	w.opt("invocation_type", f.InvocationType)
	w.opt("invocation_target", f.InvocationTarget)
	if len(f.Statuses) > 0 {
		w.conds = append(w.conds, "invocation_status IN "+w.in(f.Statuses))
	}
	tbl := ""
	if w.onlyFirst() {
		tbl = "agent_invocations"
	}
	total, err := s.total(ctx, f.Page, tbl, f.ProjectID, "", "agent_invocations", &w)
	if err != nil {
		return nil, 0, err
	}
	out, err := list(ctx, s.q(ctx), `SELECT `+invCols+` FROM agent_invocations`+w.sql()+` ORDER BY seq DESC`+pageSQL(&w.args, f.Page), w.args, s.scanInvocation)
	return out, total, err
}

// ReportInvocation sets a task's status and current version if its status
// is still from (store.Invocations).
func (s *Store) ReportInvocation(ctx context.Context, v *store.AgentInvocation, from string) (err error) {
	defer s.observe(ctx, "ReportInvocation", time.Now(), &err)
	n, err := s.exec(ctx, `UPDATE agent_invocations SET invocation_status = $1, current_version = $2, update_time = $3
WHERE invocation_id = $4 AND project_id = $5 AND invocation_status = $6`,
		v.InvocationStatus, v.CurrentVersion, toMicro(now()), v.InvocationID, v.ProjectID, from)
	if err != nil && s.db.IsUniqueViolation(err) {
		// The install index is the only unique key a status change can break.
		return fmt.Errorf("%w: %w: invocation %s cannot become %s", store.ErrConflict, store.ErrInstallInProgress, v.InvocationID, v.InvocationStatus)
	}
	if err != nil {
		return err
	}
	got, err := s.getInvocation(ctx, v.ProjectID, v.InvocationID)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %w: invocation %s is %s, not %s", store.ErrConflict, store.ErrStatusChanged, v.InvocationID, got.InvocationStatus, from)
	}
	*v = *got
	return nil
}

// TimeoutInvocations turns the tasks nobody reported on since before into
// TIMEOUT (store.Invocations).
func (s *Store) TimeoutInvocations(ctx context.Context, before time.Time) (_ int64, err error) {
	defer s.observe(ctx, "TimeoutInvocations", time.Now(), &err)
	return s.exec(ctx, `UPDATE agent_invocations SET invocation_status = $1, update_time = $2
WHERE invocation_status IN ($3, $4) AND update_time < $5`,
		store.InvocationTimeout, toMicro(now()), store.InvocationPending, store.InvocationRunning, toMicro(before))
}

// DeleteInvocation removes one invocation.
func (s *Store) DeleteInvocation(ctx context.Context, projectID, invocationID string) (err error) {
	defer s.observe(ctx, "DeleteInvocation", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM agent_invocations WHERE invocation_id = $1 AND project_id = $2`, invocationID, projectID)
	return mustAffect(n, err, "invocation "+invocationID)
}
