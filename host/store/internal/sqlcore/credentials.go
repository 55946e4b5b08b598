package sqlcore

import (
	"context"
	"time"

	"github.com/onboardhq/onboard/host/store/internal/model"
)

// CreateToken stores the hash of token, never the token itself.
func (s *Store) CreateToken(ctx context.Context, token string, t *model.Token) error {
	if err := t.CheckScope(); err != nil {
		return err
	}
	t.Hash = model.HashToken(token)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = model.Now()
	}
	t.CreatedAt, t.ExpiresAt = model.Norm(t.CreatedAt), model.Norm(t.ExpiresAt)
	_, err := s.db.Exec(ctx, `INSERT INTO tokens (token_hash, project_id, org_id, account_id, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		t.Hash, t.ProjectID, t.OrgID, t.AccountID, t.UserID, model.ToMicro(t.CreatedAt), model.ToMicro(t.ExpiresAt))
	return s.writeErr(err)
}

// GetToken looks a token up by its hash. An expired token is not found, so
// no caller can forget the check; the clock is the host's (model.Now), not
// the database's, so every adapter agrees.
func (s *Store) GetToken(ctx context.Context, token string) (*model.Token, error) {
	var t model.Token
	var ct, et int64
	err := s.db.QueryRow(ctx, `SELECT token_hash, project_id, org_id, account_id, user_id, created_at, expires_at FROM tokens
	WHERE token_hash = $1 AND (expires_at = 0 OR expires_at > $2)`,
		model.HashToken(token), model.ToMicro(model.Now())).Scan(&t.Hash, &t.ProjectID, &t.OrgID, &t.AccountID, &t.UserID, &ct, &et)
	if err != nil {
		return nil, notFound(err, "token")
	}
	t.CreatedAt, t.ExpiresAt = model.FromMicro(ct), model.FromMicro(et)
	return &t, nil
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, token string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM tokens WHERE token_hash = $1`, model.HashToken(token))
	return mustAffect(n, err, "token")
}

// CreateAccessKey stores an AK with its SK sealed.
func (s *Store) CreateAccessKey(ctx context.Context, k *model.AccessKey) error {
	sk, err := s.seal.Seal(k.SecretKey)
	if err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = model.Now()
	}
	k.CreatedAt = model.Norm(k.CreatedAt)
	_, err = s.db.Exec(ctx, `INSERT INTO access_keys (access_key_id, project_id, secret_key, created_at) VALUES ($1,$2,$3,$4)`,
		k.AccessKeyID, k.ProjectID, sk, model.ToMicro(k.CreatedAt))
	return s.writeErr(err)
}

// GetAccessKey returns an AK with its SK in plain text (for signature checks).
func (s *Store) GetAccessKey(ctx context.Context, id string) (*model.AccessKey, error) {
	var k model.AccessKey
	var sk string
	var ct int64
	err := s.db.QueryRow(ctx, `SELECT access_key_id, project_id, secret_key, created_at FROM access_keys WHERE access_key_id = $1`, id).
		Scan(&k.AccessKeyID, &k.ProjectID, &sk, &ct)
	if err != nil {
		return nil, notFound(err, "access key "+id)
	}
	k.CreatedAt = model.FromMicro(ct)
	if k.SecretKey, err = s.seal.Open(sk); err != nil {
		return nil, err
	}
	return &k, nil
}

// DeleteAccessKey removes an AK.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM access_keys WHERE access_key_id = $1`, id)
	return mustAffect(n, err, "access key "+id)
}

// CreateServiceAccount stores an EnOS service account and its RSA public key.
func (s *Store) CreateServiceAccount(ctx context.Context, a *model.ServiceAccount) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = model.Now()
	}
	a.CreatedAt = model.Norm(a.CreatedAt)
	_, err := s.db.Exec(ctx, `INSERT INTO service_accounts (org_id, account_id, public_key_pem, created_at) VALUES ($1,$2,$3,$4)`,
		a.OrgID, a.AccountID, a.PublicKeyPEM, model.ToMicro(a.CreatedAt))
	return s.writeErr(err)
}

// GetServiceAccount returns one service account of the org.
func (s *Store) GetServiceAccount(ctx context.Context, orgID, accountID string) (*model.ServiceAccount, error) {
	var a model.ServiceAccount
	var ct int64
	err := s.db.QueryRow(ctx, `SELECT org_id, account_id, public_key_pem, created_at FROM service_accounts WHERE org_id = $1 AND account_id = $2`,
		orgID, accountID).Scan(&a.OrgID, &a.AccountID, &a.PublicKeyPEM, &ct)
	if err != nil {
		return nil, notFound(err, "service account "+accountID)
	}
	a.CreatedAt = model.FromMicro(ct)
	return &a, nil
}

// UpdateServiceAccountKey replaces the RSA public key of a service account
// (rotation by an operator); device secrets returned afterwards are
// encrypted with the new key.
func (s *Store) UpdateServiceAccountKey(ctx context.Context, orgID, accountID, publicKeyPEM string) error {
	n, err := s.db.Exec(ctx, `UPDATE service_accounts SET public_key_pem = $1 WHERE org_id = $2 AND account_id = $3`,
		publicKeyPEM, orgID, accountID)
	return mustAffect(n, err, "service account "+accountID)
}

// DeleteServiceAccount removes one service account.
func (s *Store) DeleteServiceAccount(ctx context.Context, orgID, accountID string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM service_accounts WHERE org_id = $1 AND account_id = $2`, orgID, accountID)
	return mustAffect(n, err, "service account "+accountID)
}

// PutIdempotency records a response; ErrConflict if (scope, key) exists,
// which tells the caller another request owns the key.
func (s *Store) PutIdempotency(ctx context.Context, r *model.IdempotencyRecord) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = model.Now()
	}
	r.CreatedAt = model.Norm(r.CreatedAt)
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO idempotency (scope, idem_key, request_hash, status, content_type, body, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		r.Scope, r.Key, r.RequestHash, int64(r.Status), r.ContentType, body, model.ToMicro(r.CreatedAt))
	return s.writeErr(err)
}

// GetIdempotency returns the recorded response for (scope, key).
func (s *Store) GetIdempotency(ctx context.Context, scope, key string) (*model.IdempotencyRecord, error) {
	r := model.IdempotencyRecord{Scope: scope, Key: key}
	var st, ct int64
	err := s.db.QueryRow(ctx, `SELECT request_hash, status, content_type, body, created_at FROM idempotency WHERE scope = $1 AND idem_key = $2`, scope, key).
		Scan(&r.RequestHash, &st, &r.ContentType, &r.Body, &ct)
	if err != nil {
		return nil, notFound(err, "idempotency key "+key)
	}
	r.Status, r.CreatedAt = int(st), model.FromMicro(ct)
	return &r, nil
}

// PurgeIdempotency deletes records created before t and returns how many.
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (int, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM idempotency WHERE created_at < $1`, model.ToMicro(before))
	return int(n), err
}
