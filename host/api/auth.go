package api

import (
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// authenticate establishes who is calling and refuses a scope that is not
// theirs: a credential for project A gets 403 on project B's routes.
func (c *call) authenticate() error {
	if c.svc == "enos" {
		return c.authenticateEnOS()
	}
	return c.authenticateHuawei()
}

// credentialHeaders are the headers authentication reads; each must come
// at most once (singleHeaders), or a proxy and onboard could each see a
// different credential.
var credentialHeaders = []string{"Authorization", "X-Auth-Token", sdkDateHeader, sdkContentHeader}

// maxCredentialLen bounds a token or access key onboard looks up: what it
// issues is far shorter, and a longer value is no credential of its own.
const maxCredentialLen = 512

// credentialText reports whether v can be a credential onboard issued:
// visible ASCII only. Anything else is refused before the store sees it
// (PostgreSQL refuses invalid UTF-8 in a query parameter with an error).
func credentialText(v string) bool {
	if v == "" || len(v) > maxCredentialLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

func (c *call) authenticateHuawei() error {
	ctx := c.r.Context()
	var project string
	token, authz := c.r.Header.Get("X-Auth-Token"), c.r.Header.Get("Authorization")
	switch {
	case token != "" && authz != "":
		return newError(c.svc, kindAuth, "Incorrect IAM authentication information: send one credential, X-Auth-Token or an Authorization header, not both")
	case token != "":
		unknown := newError(c.svc, kindAuth, "Incorrect IAM authentication information: the X-Auth-Token is unknown or expired")
		if !credentialText(token) {
			return unknown
		}
		tok, err := c.s.cfg.Store.GetToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) || (err == nil && tok.ProjectID == "") {
			return unknown
		}
		if err != nil {
			return storeError(c.svc, err, "token")
		}
		project = tok.ProjectID
	case strings.HasPrefix(authz, sdkAlgorithm+" "):
		p, err := c.verifySignature(authz)
		if err != nil {
			return err
		}
		project = p
	case authz != "":
		return newError(c.svc, kindAuth, "Incorrect IAM authentication information: unsupported Authorization scheme; send X-Auth-Token or sign with SDK-HMAC-SHA256")
	default:
		return newError(c.svc, kindAuth, "Incorrect IAM authentication information: send X-Auth-Token or an SDK-HMAC-SHA256 signed request")
	}
	if want := c.r.PathValue("project_id"); want != project {
		return newError(c.svc, kindForbidden, "the credential is for another project than %s", quoteValue(want))
	}
	c.project = project
	return nil
}

// verifySignature checks an AK/SK signed request and returns its project.
// The signature covers the body onboard received: its SHA-256 is computed
// here, never taken from the unsigned X-Sdk-Content-Sha256.
func (c *call) verifySignature(authz string) (string, error) {
	refuse := func(format string, args ...any) error {
		return newError(c.svc, kindAuth, "Incorrect IAM authentication information: "+format, args...)
	}
	a, err := parseSDKAuthorization(authz)
	if err != nil {
		return "", refuse("%v", err)
	}
	date := c.r.Header.Get(sdkDateHeader)
	t, err := time.Parse(sdkDateFormat, date)
	if err != nil {
		return "", refuse("%s must be a UTC time like 20060102T150405Z", sdkDateHeader)
	}
	if skew := c.s.cfg.Now().Sub(t); skew > MaxClockSkew || skew < -MaxClockSkew {
		return "", refuse("%s is %s away from the server's clock (at most %s): check the client's clock", sdkDateHeader, skew.Round(time.Second), MaxClockSkew)
	}
	for _, h := range requiredSignedHeaders {
		if !slices.Contains(a.signedHeaders, h) {
			return "", refuse("SignedHeaders must include %s", h)
		}
	}
	bodyHash, err := payloadHash(c.r.Header.Get(sdkContentHeader), c.body)
	if err != nil {
		return "", refuse("%v", err)
	}
	if !credentialText(a.access) {
		return "", refuse("unknown access key")
	}
	key, err := c.s.cfg.Store.GetAccessKey(c.r.Context(), a.access)
	if errors.Is(err, store.ErrNotFound) {
		return "", refuse("unknown access key")
	}
	if err != nil {
		return "", storeError(c.svc, err, "access key")
	}
	want := sdkSignature(c.r, bodyHash, a.signedHeaders, date, key.SecretKey)
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return "", refuse("the signature does not match; sign the method, path, query, signed headers and body with the secret key")
	}
	return key.ProjectID, nil
}

// authenticateEnOS checks "Authorization: Bearer TOKEN" for a token bound
// to an org and a service account, and that orgId is that org.
func (c *call) authenticateEnOS() error {
	raw, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return newError(c.svc, kindAuth, "missing credentials: send Authorization: Bearer <token> issued for the org's service account")
	}
	unknown := newError(c.svc, kindAuth, "the bearer token is unknown, expired, or not an EnOS service account token")
	if !credentialText(raw) {
		return unknown
	}
	tok, err := c.s.cfg.Store.GetToken(c.r.Context(), raw)
	if errors.Is(err, store.ErrNotFound) || (err == nil && tok.OrgID == "") {
		return unknown
	}
	if err != nil {
		return storeError(c.svc, err, "token")
	}
	// A missing orgId is the params schema's to refuse (the engine runs
	// after authentication); a different one is another org's route.
	if org := c.r.URL.Query().Get("orgId"); org != "" && org != tok.OrgID {
		return newError(c.svc, kindForbidden, "the token is for another organization than orgId %s", quoteValue(org))
	}
	c.org, c.account = tok.OrgID, tok.AccountID
	return c.enosDeviceAccess()
}
