package sqlcore

import (
	"context"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// CreateToken stores the hash of token, never the token itself.
func (s *Store) CreateToken(ctx context.Context, token string, t *store.Token) (err error) {
	defer s.observe(ctx, "CreateToken", time.Now(), &err)
	if err := t.CheckScope(); err != nil {
		return err
	}
	t.Hash = store.HashToken(token)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt, t.ExpiresAt = norm(t.CreatedAt), norm(t.ExpiresAt)
	_, err = s.exec(ctx, `INSERT INTO tokens (token_hash, project_id, org_id, account_id, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		t.Hash, t.ProjectID, t.OrgID, t.AccountID, t.UserID, toMicro(t.CreatedAt), toMicro(t.ExpiresAt))
	return s.writeErr(err)
}

// GetToken looks a token up by its hash. An expired token is not found, so
// no caller can forget the check; the clock is the host's, not
// the database's, so every adapter agrees.
func (s *Store) GetToken(ctx context.Context, token string) (_ *store.Token, err error) {
	defer s.observe(ctx, "GetToken", time.Now(), &err)
	var t store.Token
	var ct, et int64
	err = s.q(ctx).QueryRow(ctx, `SELECT token_hash, project_id, org_id, account_id, user_id, created_at, expires_at FROM tokens
	WHERE token_hash = $1 AND (expires_at = 0 OR expires_at > $2)`,
		store.HashToken(token), toMicro(now())).Scan(&t.Hash, &t.ProjectID, &t.OrgID, &t.AccountID, &t.UserID, &ct, &et)
	if err != nil {
		return nil, notFound(err, "token")
	}
	t.CreatedAt, t.ExpiresAt = fromMicro(ct), fromMicro(et)
	return &t, nil
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, token string) (err error) {
	defer s.observe(ctx, "DeleteToken", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM tokens WHERE token_hash = $1`, store.HashToken(token))
	return mustAffect(n, err, "token")
}

// CreateAccessKey stores an AK with its SK sealed.
func (s *Store) CreateAccessKey(ctx context.Context, k *store.AccessKey) (err error) {
	defer s.observe(ctx, "CreateAccessKey", time.Now(), &err)
	sk, err := s.seal.Seal(k.SecretKey)
	if err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	k.CreatedAt = norm(k.CreatedAt)
	_, err = s.exec(ctx, `INSERT INTO access_keys (access_key_id, project_id, secret_key, created_at) VALUES ($1,$2,$3,$4)`,
		k.AccessKeyID, k.ProjectID, sk, toMicro(k.CreatedAt))
	return s.writeErr(err)
}

// GetAccessKey returns an AK with its SK in plain text (for signature checks).
func (s *Store) GetAccessKey(ctx context.Context, id string) (_ *store.AccessKey, err error) {
	defer s.observe(ctx, "GetAccessKey", time.Now(), &err)
	var k store.AccessKey
	var sk string
	var ct int64
	err = s.q(ctx).QueryRow(ctx, `SELECT access_key_id, project_id, secret_key, created_at FROM access_keys WHERE access_key_id = $1`, id).
		Scan(&k.AccessKeyID, &k.ProjectID, &sk, &ct)
	if err != nil {
		return nil, notFound(err, "access key "+id)
	}
	k.CreatedAt = fromMicro(ct)
	if k.SecretKey, err = s.seal.Open(sk); err != nil {
		return nil, err
	}
	return &k, nil
}

// DeleteAccessKey removes an AK.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteAccessKey", time.Now(), &err)
	n, err := s.exec(ctx, `DELETE FROM access_keys WHERE access_key_id = $1`, id)
	return mustAffect(n, err, "access key "+id)
}

// CreateServiceAccount stores an EnOS service account and its RSA public key.
func (s *Store) CreateServiceAccount(ctx context.Context, a *store.ServiceAccount) (err error) {
	defer s.observe(ctx, "CreateServiceAccount", time.Now(), &err)
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	a.CreatedAt, a.KeyUpdatedAt = norm(a.CreatedAt), time.Time{}
	if a.PublicKeyPEM != "" {
		a.KeyUpdatedAt = a.CreatedAt
	}
	_, err = s.exec(ctx, `INSERT INTO service_accounts (org_id, account_id, public_key_pem, created_at, key_updated_at, device_access_denied) VALUES ($1,$2,$3,$4,$5,$6)`,
		a.OrgID, a.AccountID, a.PublicKeyPEM, toMicro(a.CreatedAt), toMicro(a.KeyUpdatedAt), a.DeviceAccessDenied)
	return s.writeErr(err)
}

const serviceAccountCols = `org_id, account_id, public_key_pem, created_at, key_updated_at, device_access_denied`

func scanServiceAccount(r Row) (store.ServiceAccount, error) {
	var a store.ServiceAccount
	var ct, kt int64
	err := r.Scan(&a.OrgID, &a.AccountID, &a.PublicKeyPEM, &ct, &kt, &a.DeviceAccessDenied)
	a.CreatedAt, a.KeyUpdatedAt = fromMicro(ct), fromMicro(kt)
	return a, err
}

// GetServiceAccount returns one service account of the org.
func (s *Store) GetServiceAccount(ctx context.Context, orgID, accountID string) (_ *store.ServiceAccount, err error) {
	defer s.observe(ctx, "GetServiceAccount", time.Now(), &err)
	a, err := scanServiceAccount(s.q(ctx).QueryRow(ctx, `SELECT `+serviceAccountCols+` FROM service_accounts WHERE org_id = $1 AND account_id = $2`,
		orgID, accountID))
	if err != nil {
		return nil, notFound(err, "service account "+accountID)
	}
	return &a, nil
}

// ListServiceAccounts returns the accounts of one org, or of every org.
func (s *Store) ListServiceAccounts(ctx context.Context, orgID string) (_ []store.ServiceAccount, err error) {
	defer s.observe(ctx, "ListServiceAccounts", time.Now(), &err)
	var a args
	sql := `SELECT ` + serviceAccountCols + ` FROM service_accounts`
	if orgID != "" {
		sql += ` WHERE org_id = ` + a.add(orgID)
	}
	return list(ctx, s.q(ctx), sql+` ORDER BY org_id, account_id`, a, scanServiceAccount)
}

// UpdateServiceAccountKey replaces the RSA public key of a service account
// (rotation by an operator); device secrets returned afterwards are
// encrypted with the new key.
func (s *Store) UpdateServiceAccountKey(ctx context.Context, orgID, accountID, publicKeyPEM string) (err error) {
	defer s.observe(ctx, "UpdateServiceAccountKey", time.Now(), &err)
	n, err := s.exec(ctx, `UPDATE service_accounts SET public_key_pem = $1, key_updated_at = $2 WHERE org_id = $3 AND account_id = $4`,
		publicKeyPEM, toMicro(now()), orgID, accountID)
	return mustAffect(n, err, "service account "+accountID)
}

// SetServiceAccountDeviceAccess grants (denied false) or withdraws the
// account's access to the EnOS device APIs.
func (s *Store) SetServiceAccountDeviceAccess(ctx context.Context, orgID, accountID string, denied bool) (err error) {
	defer s.observe(ctx, "SetServiceAccountDeviceAccess", time.Now(), &err)
	n, err := s.exec(ctx, `UPDATE service_accounts SET device_access_denied = $1 WHERE org_id = $2 AND account_id = $3`, denied, orgID, accountID)
	return mustAffect(n, err, "service account "+accountID)
}

// DeleteServiceAccount removes one service account and revokes its
// tokens, in one transaction: a token must not outlive its account.
func (s *Store) DeleteServiceAccount(ctx context.Context, orgID, accountID string) (err error) {
	defer s.observe(ctx, "DeleteServiceAccount", time.Now(), &err)
	return s.tx(ctx, nil, func(q Querier) error {
		n, err := q.Exec(ctx, `DELETE FROM service_accounts WHERE org_id = $1 AND account_id = $2`, orgID, accountID)
		if err := mustAffect(n, err, "service account "+accountID); err != nil {
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM tokens WHERE org_id = $1 AND account_id = $2`, orgID, accountID)
		return err
	})
}
