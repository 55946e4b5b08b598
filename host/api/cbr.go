package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// CBR agents: /v3/{project_id}/agents. An agent registers itself when it
// is installed and again on reinstall, so registration is an upsert.

func init() {
	register("cbr.agent.register", (*Server).registerAgent)
	register("cbr.agent.list", (*Server).listAgents)
	register("cbr.agent.show", (*Server).showAgent)
	register("cbr.agent.update", (*Server).updateAgent)
	register("cbr.agent.delete", (*Server).deleteAgent)
	register("cbr.agent.add-path", (*Server).addAgentPaths)
	register("cbr.agent.remove-path", (*Server).removeAgentPaths)
	register("cbr.agent.check", (*Server).checkAgents)
}

// cbrTime is the doc's time format: 2022-01-30T09:28:09.334+00:00.
const cbrTime = "2006-01-02T15:04:05.000-07:00"

// agentStatusNormal is what a registered, reporting agent shows (Table 6
// example: "status": "normal").
const agentStatusNormal = "normal"

// agentStatusUninstall is set through update when the agent is removed.
const agentStatusUninstall = "uninstall"

type agentBody struct {
	AgentID      string `json:"agent_id"`
	HostName     string `json:"host_name"`
	HostIP       string `json:"host_ip"`
	HostOS       string `json:"host_os"`
	HostNickname string `json:"host_nickname"`
	AgentVersion string `json:"agent_version"`
	AgentType    string `json:"agent_type"`
}

type agentJSON struct {
	CreatedAt      string     `json:"created_at"`
	UpdatedAt      string     `json:"updated_at"`
	AgentID        string     `json:"agent_id"`
	AgentVersion   string     `json:"agent_version"`
	AgentType      string     `json:"agent_type,omitempty"` // the schema defaults it at registration; empty only for agents registered before that
	HostName       string     `json:"host_name"`
	HostNickname   string     `json:"host_nickname"`
	HostIP         string     `json:"host_ip"`
	HostOS         string     `json:"host_os"`
	Status         string     `json:"status"`
	LastActiveTime string     `json:"last_active_time"`
	Paths          []pathJSON `json:"paths"`
}

type pathJSON struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	AgentID string `json:"agent_id"`
	DirPath string `json:"dir_path"`
}

func formatCBRTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(cbrTime)
}

func agentOut(a *store.Agent) agentJSON {
	out := agentJSON{CreatedAt: formatCBRTime(a.CreatedAt), UpdatedAt: formatCBRTime(a.UpdatedAt),
		AgentID: a.AgentID, AgentVersion: a.AgentVersion, AgentType: a.AgentType, HostName: a.HostName,
		HostNickname: a.HostNickname, HostIP: a.HostIP, HostOS: a.HostOS, Status: a.Status,
		LastActiveTime: formatCBRTime(a.LastActiveTime), Paths: []pathJSON{}}
	for _, p := range a.Paths {
		out.Paths = append(out.Paths, pathJSON{ID: p.ID, Status: p.Status, AgentID: a.AgentID, DirPath: p.DirPath})
	}
	return out
}

func (s *Server) registerAgent(c *call) error {
	var req struct {
		Agent agentBody `json:"agent"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	now := s.cfg.Now()
	a := &store.Agent{AgentID: req.Agent.AgentID, ProjectID: c.project, HostName: req.Agent.HostName,
		HostIP: req.Agent.HostIP, HostOS: req.Agent.HostOS, HostNickname: req.Agent.HostNickname,
		AgentVersion: req.Agent.AgentVersion, AgentType: req.Agent.AgentType, Status: agentStatusNormal,
		CreatedAt: now, UpdatedAt: now, LastActiveTime: now}
	if _, err := s.cfg.Store.RegisterAgent(c.r.Context(), a); err != nil {
		return storeError(c.svc, err, "agent "+a.AgentID)
	}
	stored, err := s.cfg.Store.GetAgent(c.r.Context(), c.project, a.AgentID)
	if err != nil {
		return storeError(c.svc, err, "agent "+a.AgentID)
	}
	return c.reply(http.StatusOK, map[string]any{"agent": agentOut(stored)})
}

// page reads offset and limit (already validated by the engine).
func (c *call) page(defaultLimit int) store.Page {
	p := store.Page{Limit: defaultLimit}
	if v := c.query("limit"); v != "" {
		p.Limit, _ = strconv.Atoi(v)
	}
	if v := c.query("offset"); v != "" {
		p.Offset, _ = strconv.Atoi(v)
	}
	return p
}

func (s *Server) listAgents(c *call) error {
	page := c.page(1000)
	agents, total, err := s.cfg.Store.ListAgents(c.r.Context(), store.AgentFilter{ProjectID: c.project,
		AgentID: c.query("agent_id"), Status: c.query("status"), Page: page})
	if err != nil {
		return storeError(c.svc, err, "agents")
	}
	out := make([]agentJSON, 0, len(agents))
	for i := range agents {
		out = append(out, agentOut(&agents[i]))
	}
	return c.reply(http.StatusOK, map[string]any{"agents": out, "count": total, "limit": page.Limit, "offset": page.Offset})
}

func (s *Server) getAgent(c *call) (*store.Agent, error) {
	id := c.r.PathValue("agent_id")
	a, err := s.cfg.Store.GetAgent(c.r.Context(), c.project, id)
	if err != nil {
		return nil, storeError(c.svc, err, "agent "+id)
	}
	return a, nil
}

func (s *Server) showAgent(c *call) error {
	a, err := s.getAgent(c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, map[string]any{"agent": agentOut(a)})
}

func (s *Server) updateAgent(c *call) error {
	var req struct {
		Agent map[string]*string `json:"agent"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	a, err := s.getAgent(c)
	if err != nil {
		return err
	}
	for field, target := range map[string]*string{"host_nickname": &a.HostNickname, "agent_version": &a.AgentVersion,
		"host_name": &a.HostName, "host_ip": &a.HostIP, "host_os": &a.HostOS, "status": &a.Status} {
		if v, ok := req.Agent[field]; ok && v != nil {
			*target = *v
		}
	}
	a.UpdatedAt = s.cfg.Now()
	if err := s.cfg.Store.UpdateAgent(c.r.Context(), a); err != nil {
		return storeError(c.svc, err, "agent "+a.AgentID)
	}
	return c.reply(http.StatusOK, map[string]any{"agent": agentOut(a)})
}

func (s *Server) deleteAgent(c *call) error {
	id := c.r.PathValue("agent_id")
	if err := s.cfg.Store.DeleteAgent(c.r.Context(), c.project, id); err != nil {
		return storeError(c.svc, err, "agent "+id)
	}
	return c.reply(http.StatusNoContent, nil)
}

// addAgentPaths and removeAgentPaths report per path what the store did:
// it decides that in the transaction that writes the paths, so two
// concurrent requests never both report one path as added.
func (s *Server) addAgentPaths(c *call) error {
	var req struct {
		AddPath []string `json:"add_path"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	id := c.r.PathValue("agent_id")
	e, err := s.cfg.Store.AddAgentPaths(c.r.Context(), c.project, id, req.AddPath)
	if err != nil {
		return storeError(c.svc, err, "agent "+id)
	}
	return c.reply(http.StatusOK, map[string]any{"added": e.Changed, "existed": e.Unchanged})
}

func (s *Server) removeAgentPaths(c *call) error {
	var req struct {
		RemovePath []string `json:"remove_path"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	id := c.r.PathValue("agent_id")
	e, err := s.cfg.Store.RemoveAgentPaths(c.r.Context(), c.project, id, req.RemovePath)
	if err != nil {
		return storeError(c.svc, err, "agent "+id)
	}
	return c.reply(http.StatusOK, map[string]any{"removed": e.Changed, "not_existed": e.Unchanged})
}

// checkAgents answers, for each server asked about (resource_id), whether
// an agent is installed there. onboard knows agents by the agent_id they
// registered with, so resource_id is matched against it.
func (s *Server) checkAgents(c *call) error {
	var req struct {
		AgentStatus []struct {
			ResourceID string `json:"resource_id"`
		} `json:"agent_status"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	type status struct {
		ResourceID string `json:"resource_id"`
		Installed  bool   `json:"installed"`
		IsOld      bool   `json:"is_old"`
		Version    string `json:"version,omitempty"`
		Code       int    `json:"code,omitempty"`
		Message    string `json:"message,omitempty"`
	}
	out := []status{}
	for _, q := range req.AgentStatus {
		a, err := s.cfg.Store.GetAgent(c.r.Context(), c.project, q.ResourceID)
		switch {
		case err == nil:
			// is_old would need a catalogue of agent releases; onboard has none.
			out = append(out, status{ResourceID: q.ResourceID, Installed: a.Status != agentStatusUninstall, Version: a.AgentVersion})
		case isNotFound(err):
			// code is an Integer in CheckAgentResponse: 404 says "no agent".
			out = append(out, status{ResourceID: q.ResourceID, Code: http.StatusNotFound,
				Message: "no agent registered for this resource in the project"})
		default:
			return storeError(c.svc, err, "agent "+q.ResourceID)
		}
	}
	return c.reply(http.StatusOK, map[string]any{"agent_status": out})
}
