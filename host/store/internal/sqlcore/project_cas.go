package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// GetOrCreateProjectCA returns the project's CA, creating it on first use.
//
// create runs outside any transaction: generating a key takes long enough
// that holding SQLite's single writer (or a PostgreSQL lock) across it would
// stall every other writer. Racing callers may therefore each create a CA;
// the project_id primary key with ON CONFLICT DO NOTHING keeps the first one
// inserted, and every caller returns what the table holds afterwards, so all
// of them (in every process) hand out the same CA.
func (s *Store) GetOrCreateProjectCA(ctx context.Context, projectID string, create func() (certPEM, keyPEM string, err error)) (_, _ string, err error) {
	defer s.observe(ctx, "GetOrCreateProjectCA", time.Now(), &err)
	if cert, key, err := s.readProjectCA(ctx, s.q(ctx), projectID); !errors.Is(err, store.ErrNotFound) {
		return cert, key, err // found, or a real failure
	}
	cert, key, err := create()
	if err != nil {
		return "", "", fmt.Errorf("store: create project CA: %w", err)
	}
	if err := checkProjectCA(cert, key); err != nil {
		return "", "", err
	}
	sealed, err := s.seal.Seal(key)
	if err != nil {
		return "", "", err
	}
	// The insert and the read share a transaction so the read sees the row
	// the insert kept, whichever caller inserted it. The lock key keeps
	// PostgreSQL's racers of one project queued instead of waiting on each
	// other's uncommitted insert.
	err = s.tx(ctx, []string{"project_ca/" + projectID}, func(q Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO project_cas (project_id, cert_pem, key_pem, created_at) VALUES ($1,$2,$3,$4)
	ON CONFLICT (project_id) DO NOTHING`, projectID, cert, sealed, nowMicro()); err != nil {
			return err
		}
		cert, key, err = s.readProjectCA(ctx, q, projectID)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return cert, key, nil
}

// readProjectCA returns the stored CA with its key opened.
func (s *Store) readProjectCA(ctx context.Context, q Querier, projectID string) (string, string, error) {
	var cert, sealed string
	if err := q.QueryRow(ctx, `SELECT cert_pem, key_pem FROM project_cas WHERE project_id = $1`, projectID).Scan(&cert, &sealed); err != nil {
		return "", "", notFound(err, "project CA "+projectID)
	}
	key, err := s.seal.Open(sealed)
	if err != nil {
		return "", "", err
	}
	return cert, key, nil
}
