package sqlcore

import (
	"context"
	"errors"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

const agentCols = `project_id, agent_id, host_name, host_ip, host_os, host_nickname, agent_version, agent_type, status, created_at, updated_at, last_active_time, paths`

func scanAgent(r Row) (store.Agent, error) {
	var a store.Agent
	var ct, ut, lt int64
	var paths string
	err := r.Scan(&a.ProjectID, &a.AgentID, &a.HostName, &a.HostIP, &a.HostOS, &a.HostNickname, &a.AgentVersion, &a.AgentType,
		&a.Status, &ct, &ut, &lt, &paths)
	if err != nil {
		return a, err
	}
	a.CreatedAt, a.UpdatedAt, a.LastActiveTime = fromMicro(ct), fromMicro(ut), fromMicro(lt)
	return a, unjs(paths, &a.Paths)
}

func getAgent(ctx context.Context, q Querier, projectID, agentID string) (*store.Agent, error) {
	a, err := scanAgent(q.QueryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE project_id = $1 AND agent_id = $2`, projectID, agentID))
	if err != nil {
		return nil, notFound(err, "agent "+agentID)
	}
	return &a, nil
}

func agentLock(projectID, agentID string) []string {
	return []string{"agent\x1f" + projectID + "\x1f" + agentID}
}

// writeAgent replaces every mutable column of a stored agent.
func writeAgent(ctx context.Context, q Querier, a *store.Agent) error {
	_, err := q.Exec(ctx, `UPDATE agents SET host_name = $1, host_ip = $2, host_os = $3, host_nickname = $4, agent_version = $5,
agent_type = $6, status = $7, updated_at = $8, last_active_time = $9, paths = $10 WHERE project_id = $11 AND agent_id = $12`,
		a.HostName, a.HostIP, a.HostOS, a.HostNickname, a.AgentVersion, a.AgentType, a.Status, toMicro(a.UpdatedAt),
		toMicro(a.LastActiveTime), js(a.Paths), a.ProjectID, a.AgentID)
	return err
}

// RegisterAgent is the CBR register call: it creates the agent or, when the
// agent id is known in the project, updates it (see mergeRegistration).
// a receives the stored agent; created reports which happened.
func (s *Store) RegisterAgent(ctx context.Context, a *store.Agent) (created bool, err error) {
	defer s.observe(ctx, "RegisterAgent", time.Now(), &err)
	at := now()
	var out store.Agent
	err = s.tx(ctx, agentLock(a.ProjectID, a.AgentID), func(q Querier) error {
		old, err := getAgent(ctx, q, a.ProjectID, a.AgentID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			created = true
			out = *a
			out.CreatedAt, out.UpdatedAt, out.LastActiveTime = at, at, norm(a.LastActiveTime)
			if out.LastActiveTime.IsZero() {
				out.LastActiveTime = at
			}
			out.Paths = append([]store.AgentPath{}, a.Paths...)
			_, err = q.Exec(ctx, `INSERT INTO agents (`+agentCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
				out.ProjectID, out.AgentID, out.HostName, out.HostIP, out.HostOS, out.HostNickname, out.AgentVersion, out.AgentType,
				out.Status, toMicro(at), toMicro(at), toMicro(out.LastActiveTime), js(out.Paths))
			return err
		case err != nil:
			return err
		}
		created = false
		out = mergeRegistration(*old, *a)
		out.UpdatedAt = at
		return writeAgent(ctx, q, &out)
	})
	if err != nil {
		return false, s.writeErr(err)
	}
	*a = out
	return created, nil
}

// GetAgent returns one agent of the project.
func (s *Store) GetAgent(ctx context.Context, projectID, agentID string) (_ *store.Agent, err error) {
	defer s.observe(ctx, "GetAgent", time.Now(), &err)
	return getAgent(ctx, s.q(ctx), projectID, agentID)
}

// UpdateAgent replaces the host fields, status and last active time.
func (s *Store) UpdateAgent(ctx context.Context, a *store.Agent) (err error) {
	defer s.observe(ctx, "UpdateAgent", time.Now(), &err)
	var out store.Agent
	err = s.tx(ctx, agentLock(a.ProjectID, a.AgentID), func(q Querier) error {
		old, err := getAgent(ctx, q, a.ProjectID, a.AgentID)
		if err != nil {
			return err
		}
		out = *old
		out.HostName, out.HostIP, out.HostOS, out.HostNickname = a.HostName, a.HostIP, a.HostOS, a.HostNickname
		out.AgentVersion, out.AgentType, out.Status = a.AgentVersion, a.AgentType, a.Status
		out.LastActiveTime = norm(a.LastActiveTime)
		out.UpdatedAt = now()
		return writeAgent(ctx, q, &out)
	})
	if err != nil {
		return err
	}
	*a = out
	return nil
}

// DeleteAgent removes an agent and its paths.
func (s *Store) DeleteAgent(ctx context.Context, projectID, agentID string) (err error) {
	defer s.observe(ctx, "DeleteAgent", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM agents WHERE project_id = $1 AND agent_id = $2`, projectID, agentID)
	return mustAffect(n, err, "agent "+agentID)
}

// ListAgents lists agents of the project in registration order.
func (s *Store) ListAgents(ctx context.Context, f store.AgentFilter) (_ []store.Agent, _ int, err error) {
	defer s.observe(ctx, "ListAgents", time.Now(), &err)
	var w where
	w.eq("project_id", f.ProjectID)
	w.opt("agent_id", f.AgentID)
	w.opt("status", f.Status)
	tbl := ""
	if w.onlyFirst() {
		tbl = "agents"
	}
	total, err := s.total(ctx, f.Page, tbl, f.ProjectID, "", "agents", &w)
	if err != nil {
		return nil, 0, err
	}
	out, err := list(ctx, s.q(ctx), `SELECT `+agentCols+` FROM agents`+w.sql()+` ORDER BY seq`+pageSQL(&w.args, f.Page), w.args, scanAgent)
	return out, total, err
}

// AddAgentPaths makes backup paths available (see addPaths) and says
// which were added and which already were: decided on the row as it is in
// the transaction that writes it.
func (s *Store) AddAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (_ *store.PathEdit, err error) {
	defer s.observe(ctx, "AddAgentPaths", time.Now(), &err)
	return s.editPaths(ctx, projectID, agentID, dirs, addPaths)
}

// RemoveAgentPaths marks backup paths removed (see removePaths) and says
// which were removed and which were not active.
func (s *Store) RemoveAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (_ *store.PathEdit, err error) {
	defer s.observe(ctx, "RemoveAgentPaths", time.Now(), &err)
	return s.editPaths(ctx, projectID, agentID, dirs, removePaths)
}

// editPaths reads the agent, applies edit and writes it back, all under
// the agent's lock in one transaction; nothing is written when no path
// changes.
func (s *Store) editPaths(ctx context.Context, projectID, agentID string, dirs []string,
	edit func(a *store.Agent, dirs []string) (changed, unchanged []string)) (*store.PathEdit, error) {
	var out store.PathEdit
	err := s.tx(ctx, agentLock(projectID, agentID), func(q Querier) error {
		a, err := getAgent(ctx, q, projectID, agentID)
		if err != nil {
			return err
		}
		out.Agent = a
		out.Changed, out.Unchanged = edit(a, dirs)
		if len(out.Changed) == 0 {
			return nil
		}
		a.UpdatedAt = now()
		return writeAgent(ctx, q, a)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
