package sqlcore

import (
	"context"
	"errors"
	"fmt"

	"github.com/onboardhq/onboard/host/store/internal/model"
)

const agentCols = `project_id, agent_id, host_name, host_ip, host_os, host_nickname, agent_version, agent_type, status, created_at, updated_at, last_active_time, paths`

func scanAgent(r Row) (model.Agent, error) {
	var a model.Agent
	var ct, ut, lt int64
	var paths string
	err := r.Scan(&a.ProjectID, &a.AgentID, &a.HostName, &a.HostIP, &a.HostOS, &a.HostNickname, &a.AgentVersion, &a.AgentType,
		&a.Status, &ct, &ut, &lt, &paths)
	if err != nil {
		return a, err
	}
	a.CreatedAt, a.UpdatedAt, a.LastActiveTime = model.FromMicro(ct), model.FromMicro(ut), model.FromMicro(lt)
	return a, unjs(paths, &a.Paths)
}

func getAgent(ctx context.Context, q Querier, projectID, agentID string) (*model.Agent, error) {
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
func writeAgent(ctx context.Context, q Querier, a *model.Agent) error {
	_, err := q.Exec(ctx, `UPDATE agents SET host_name = $1, host_ip = $2, host_os = $3, host_nickname = $4, agent_version = $5,
agent_type = $6, status = $7, updated_at = $8, last_active_time = $9, paths = $10 WHERE project_id = $11 AND agent_id = $12`,
		a.HostName, a.HostIP, a.HostOS, a.HostNickname, a.AgentVersion, a.AgentType, a.Status, model.ToMicro(a.UpdatedAt),
		model.ToMicro(a.LastActiveTime), js(a.Paths), a.ProjectID, a.AgentID)
	return err
}

// RegisterAgent is the CBR register call: it creates the agent or, when the
// agent id is known in the project, updates it (see model.MergeRegistration).
// a receives the stored agent; created reports which happened.
func (s *Store) RegisterAgent(ctx context.Context, a *model.Agent) (created bool, err error) {
	now := model.Now()
	var out model.Agent
	err = s.db.Tx(ctx, agentLock(a.ProjectID, a.AgentID), func(q Querier) error {
		old, err := getAgent(ctx, q, a.ProjectID, a.AgentID)
		switch {
		case errors.Is(err, model.ErrNotFound):
			created = true
			out = *a
			out.CreatedAt, out.UpdatedAt, out.LastActiveTime = now, now, model.Norm(a.LastActiveTime)
			if out.LastActiveTime.IsZero() {
				out.LastActiveTime = now
			}
			out.Paths = append([]model.AgentPath{}, a.Paths...)
			_, err = q.Exec(ctx, `INSERT INTO agents (`+agentCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
				out.ProjectID, out.AgentID, out.HostName, out.HostIP, out.HostOS, out.HostNickname, out.AgentVersion, out.AgentType,
				out.Status, model.ToMicro(now), model.ToMicro(now), model.ToMicro(out.LastActiveTime), js(out.Paths))
			return err
		case err != nil:
			return err
		}
		created = false
		out = model.MergeRegistration(*old, *a)
		out.UpdatedAt = now
		return writeAgent(ctx, q, &out)
	})
	if err != nil {
		return false, s.writeErr(err)
	}
	*a = out
	return created, nil
}

// GetAgent returns one agent of the project.
func (s *Store) GetAgent(ctx context.Context, projectID, agentID string) (*model.Agent, error) {
	return getAgent(ctx, s.db, projectID, agentID)
}

// UpdateAgent replaces the host fields, status and last active time.
func (s *Store) UpdateAgent(ctx context.Context, a *model.Agent) error {
	var out model.Agent
	err := s.db.Tx(ctx, agentLock(a.ProjectID, a.AgentID), func(q Querier) error {
		old, err := getAgent(ctx, q, a.ProjectID, a.AgentID)
		if err != nil {
			return err
		}
		out = *old
		out.HostName, out.HostIP, out.HostOS, out.HostNickname = a.HostName, a.HostIP, a.HostOS, a.HostNickname
		out.AgentVersion, out.AgentType, out.Status = a.AgentVersion, a.AgentType, a.Status
		out.LastActiveTime = model.Norm(a.LastActiveTime)
		out.UpdatedAt = model.Now()
		return writeAgent(ctx, q, &out)
	})
	if err != nil {
		return err
	}
	*a = out
	return nil
}

// DeleteAgent removes an agent and its paths.
func (s *Store) DeleteAgent(ctx context.Context, projectID, agentID string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM agents WHERE project_id = $1 AND agent_id = $2`, projectID, agentID)
	return mustAffect(n, err, "agent "+agentID)
}

// ListAgents lists agents of the project in registration order.
func (s *Store) ListAgents(ctx context.Context, f model.AgentFilter) ([]model.Agent, int, error) {
	var w where
	w.eq("project_id", f.ProjectID)
	w.opt("agent_id", f.AgentID)
	w.opt("status", f.Status)
	total, err := s.count(ctx, s.db, `SELECT count(*) FROM agents`+w.sql(), w.args)
	if err != nil {
		return nil, 0, err
	}
	out, err := list(ctx, s.db, `SELECT `+agentCols+` FROM agents`+w.sql()+` ORDER BY seq`+pageSQL(&w.args, f.Page), w.args, scanAgent)
	return out, total, err
}

// AddAgentPaths adds backup paths (see model.AddPaths).
func (s *Store) AddAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*model.Agent, error) {
	return s.editPaths(ctx, projectID, agentID, func(a *model.Agent) error {
		a.Paths = model.AddPaths(a.Paths, agentID, dirs)
		return nil
	})
}

// RemoveAgentPaths marks backup paths removed; ErrNotFound if none is known.
func (s *Store) RemoveAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*model.Agent, error) {
	return s.editPaths(ctx, projectID, agentID, func(a *model.Agent) error {
		var n int
		a.Paths, n = model.RemovePaths(a.Paths, dirs)
		if n == 0 {
			return fmt.Errorf("%w: no such path on agent %s", model.ErrNotFound, agentID)
		}
		return nil
	})
}

func (s *Store) editPaths(ctx context.Context, projectID, agentID string, edit func(*model.Agent) error) (*model.Agent, error) {
	var out *model.Agent
	err := s.db.Tx(ctx, agentLock(projectID, agentID), func(q Querier) error {
		a, err := getAgent(ctx, q, projectID, agentID)
		if err != nil {
			return err
		}
		if err := edit(a); err != nil {
			return err
		}
		a.UpdatedAt = model.Now()
		out = a
		return writeAgent(ctx, q, a)
	})
	return out, err
}
