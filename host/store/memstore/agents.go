package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store/internal/model"
)

func cloneAgent(a *model.Agent) model.Agent {
	c := *a
	c.Paths = jcopy(a.Paths)
	return c
}

func (s *Store) findAgent(projectID, agentID string) *model.Agent {
	for _, x := range s.agents {
		if x.AgentID == agentID && x.ProjectID == projectID {
			return x
		}
	}
	return nil
}

// RegisterAgent creates or re-registers an agent (see model.MergeRegistration).
func (s *Store) RegisterAgent(ctx context.Context, a *model.Agent) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := model.Now()
	if x := s.findAgent(a.ProjectID, a.AgentID); x != nil {
		*x = model.MergeRegistration(*x, *a)
		x.UpdatedAt = now
		*a = cloneAgent(x)
		return false, nil
	}
	c := *a
	c.CreatedAt, c.UpdatedAt, c.LastActiveTime = now, now, model.Norm(a.LastActiveTime)
	if c.LastActiveTime.IsZero() {
		c.LastActiveTime = now
	}
	c.Paths = jcopy(append([]model.AgentPath{}, a.Paths...))
	s.agents = append(s.agents, &c)
	*a = cloneAgent(&c)
	return true, nil
}

// GetAgent returns one agent of the project.
func (s *Store) GetAgent(ctx context.Context, projectID, agentID string) (*model.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findAgent(projectID, agentID)
	if x == nil {
		return nil, nf("agent " + agentID)
	}
	c := cloneAgent(x)
	return &c, nil
}

// UpdateAgent replaces the host fields, status and last active time.
func (s *Store) UpdateAgent(ctx context.Context, a *model.Agent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findAgent(a.ProjectID, a.AgentID)
	if x == nil {
		return nf("agent " + a.AgentID)
	}
	x.HostName, x.HostIP, x.HostOS, x.HostNickname = a.HostName, a.HostIP, a.HostOS, a.HostNickname
	x.AgentVersion, x.AgentType, x.Status = a.AgentVersion, a.AgentType, a.Status
	x.LastActiveTime, x.UpdatedAt = model.Norm(a.LastActiveTime), model.Now()
	*a = cloneAgent(x)
	return nil
}

// DeleteAgent removes an agent.
func (s *Store) DeleteAgent(ctx context.Context, projectID, agentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !remove(&s.agents, func(x *model.Agent) bool { return x.AgentID == agentID && x.ProjectID == projectID }) {
		return nf("agent " + agentID)
	}
	return nil
}

// ListAgents lists agents of the project in registration order.
func (s *Store) ListAgents(ctx context.Context, f model.AgentFilter) ([]model.Agent, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := filter(s.agents, func(x *model.Agent) bool {
		return x.ProjectID == f.ProjectID && (f.AgentID == "" || x.AgentID == f.AgentID) && (f.Status == "" || x.Status == f.Status)
	})
	return values(page(m, f.Page), cloneAgent), len(m), nil
}

// AddAgentPaths adds backup paths.
func (s *Store) AddAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*model.Agent, error) {
	return s.editPaths(projectID, agentID, func(x *model.Agent) error {
		x.Paths = model.AddPaths(x.Paths, agentID, dirs)
		return nil
	})
}

// RemoveAgentPaths marks backup paths removed; ErrNotFound if none is known.
func (s *Store) RemoveAgentPaths(ctx context.Context, projectID, agentID string, dirs []string) (*model.Agent, error) {
	return s.editPaths(projectID, agentID, func(x *model.Agent) error {
		paths, n := model.RemovePaths(x.Paths, dirs)
		if n == 0 {
			return fmt.Errorf("%w: no such path on agent %s", model.ErrNotFound, agentID)
		}
		x.Paths = paths
		return nil
	})
}

func (s *Store) editPaths(projectID, agentID string, edit func(*model.Agent) error) (*model.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.findAgent(projectID, agentID)
	if x == nil {
		return nil, nf("agent " + agentID)
	}
	if err := edit(x); err != nil {
		return nil, err
	}
	x.UpdatedAt = model.Now()
	c := cloneAgent(x)
	return &c, nil
}

// ---- credentials and idempotency ----

// CreateToken stores the token's hash.
func (s *Store) CreateToken(ctx context.Context, token string, t *model.Token) error {
	if err := t.CheckScope(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Hash = model.HashToken(token)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = model.Now()
	}
	t.CreatedAt, t.ExpiresAt = model.Norm(t.CreatedAt), model.Norm(t.ExpiresAt)
	if _, ok := s.tokens[t.Hash]; ok {
		return conflict("token")
	}
	s.tokens[t.Hash] = *t
	return nil
}

// GetToken looks a token up by its hash; an expired one is not found.
func (s *Store) GetToken(ctx context.Context, token string) (*model.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[model.HashToken(token)]
	if !ok || t.Expired(model.Now()) {
		return nil, nf("token")
	}
	return &t, nil
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := model.HashToken(token)
	if _, ok := s.tokens[h]; !ok {
		return nf("token")
	}
	delete(s.tokens, h)
	return nil
}

// CreateAccessKey stores an AK/SK.
func (s *Store) CreateAccessKey(ctx context.Context, a *model.AccessKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = model.Now()
	}
	a.CreatedAt = model.Norm(a.CreatedAt)
	if _, ok := s.aks[a.AccessKeyID]; ok {
		return conflict("access key " + a.AccessKeyID)
	}
	s.aks[a.AccessKeyID] = *a
	return nil
}

// GetAccessKey returns an AK/SK.
func (s *Store) GetAccessKey(ctx context.Context, id string) (*model.AccessKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.aks[id]
	if !ok {
		return nil, nf("access key " + id)
	}
	return &a, nil
}

// DeleteAccessKey removes an AK.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.aks[id]; !ok {
		return nf("access key " + id)
	}
	delete(s.aks, id)
	return nil
}

// CreateServiceAccount stores an EnOS service account.
func (s *Store) CreateServiceAccount(ctx context.Context, a *model.ServiceAccount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = model.Now()
	}
	a.CreatedAt = model.Norm(a.CreatedAt)
	if _, ok := s.sas[k(a.OrgID, a.AccountID)]; ok {
		return conflict("service account " + a.AccountID)
	}
	s.sas[k(a.OrgID, a.AccountID)] = *a
	return nil
}

// GetServiceAccount returns one service account.
func (s *Store) GetServiceAccount(ctx context.Context, orgID, accountID string) (*model.ServiceAccount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.sas[k(orgID, accountID)]
	if !ok {
		return nil, nf("service account " + accountID)
	}
	return &a, nil
}

// UpdateServiceAccountKey replaces a service account's public key.
func (s *Store) UpdateServiceAccountKey(ctx context.Context, orgID, accountID, publicKeyPEM string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.sas[k(orgID, accountID)]
	if !ok {
		return nf("service account " + accountID)
	}
	a.PublicKeyPEM = publicKeyPEM
	s.sas[k(orgID, accountID)] = a
	return nil
}

// DeleteServiceAccount removes one service account.
func (s *Store) DeleteServiceAccount(ctx context.Context, orgID, accountID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sas[k(orgID, accountID)]; !ok {
		return nf("service account " + accountID)
	}
	delete(s.sas, k(orgID, accountID))
	return nil
}

// PutIdempotency records a response; ErrConflict if the key exists.
func (s *Store) PutIdempotency(ctx context.Context, r *model.IdempotencyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = model.Now()
	}
	r.CreatedAt = model.Norm(r.CreatedAt)
	if _, ok := s.idem[k(r.Scope, r.Key)]; ok {
		return conflict("idempotency key " + r.Key)
	}
	c := *r
	c.Body = append([]byte{}, r.Body...)
	s.idem[k(r.Scope, r.Key)] = c
	return nil
}

// GetIdempotency returns the recorded response.
func (s *Store) GetIdempotency(ctx context.Context, scope, key string) (*model.IdempotencyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.idem[k(scope, key)]
	if !ok {
		return nil, nf("idempotency key " + key)
	}
	r.Body = append([]byte{}, r.Body...)
	return &r, nil
}

// PurgeIdempotency deletes records created before t.
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, r := range s.idem {
		if r.CreatedAt.Before(before) {
			delete(s.idem, key)
			n++
		}
	}
	return n, nil
}

// ---- per-project CAs ----

// projectCA is a stored per-project CA.
type projectCA struct{ cert, key string }

// GetOrCreateProjectCA returns the project's CA, creating it on first use.
// create runs without the mutex held (key generation is slow), as in the SQL
// adapters; when callers race, the first to store wins and the others
// return the winner's CA.
func (s *Store) GetOrCreateProjectCA(ctx context.Context, projectID string, create func() (certPEM, keyPEM string, err error)) (string, string, error) {
	s.mu.Lock()
	ca, ok := s.projectCAs[projectID]
	s.mu.Unlock()
	if ok {
		return ca.cert, ca.key, nil
	}
	cert, key, err := create()
	if err != nil {
		return "", "", fmt.Errorf("store: create project CA: %w", err)
	}
	if err := model.CheckProjectCA(cert, key); err != nil {
		return "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ca, ok := s.projectCAs[projectID]; ok {
		return ca.cert, ca.key, nil
	}
	s.projectCAs[projectID] = projectCA{cert, key}
	return cert, key, nil
}
