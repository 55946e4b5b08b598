package api

import (
	"crypto/subtle"
	"errors"
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

func (c *call) authenticateHuawei() error {
	ctx := c.r.Context()
	var project string
	switch authz := c.r.Header.Get("Authorization"); {
	case c.r.Header.Get("X-Auth-Token") != "":
		tok, err := c.s.cfg.Store.GetToken(ctx, c.r.Header.Get("X-Auth-Token"))
		if errors.Is(err, store.ErrNotFound) || (err == nil && tok.ProjectID == "") {
			return newError(c.svc, kindAuth, "Incorrect IAM authentication information: the X-Auth-Token is unknown or expired")
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
		return newError(c.svc, kindForbidden, "the credential is for another project than %q", want)
	}
	c.project = project
	return nil
}

// verifySignature checks an AK/SK signed request and returns its project.
func (c *call) verifySignature(authz string) (string, error) {
	a, err := parseSDKAuthorization(authz)
	if err != nil {
		return "", newError(c.svc, kindAuth, "Incorrect IAM authentication information: %v", err)
	}
	date := c.r.Header.Get(sdkDateHeader)
	t, err := time.Parse(sdkDateFormat, date)
	if err != nil {
		return "", newError(c.svc, kindAuth, "Incorrect IAM authentication information: %s must be a UTC time like 20060102T150405Z", sdkDateHeader)
	}
	if skew := c.s.cfg.Now().Sub(t); skew > MaxClockSkew || skew < -MaxClockSkew {
		return "", newError(c.svc, kindAuth, "Incorrect IAM authentication information: %s is %s away from the server's clock (at most %s): check the client's clock", sdkDateHeader, skew.Round(time.Second), MaxClockSkew)
	}
	if !signedHeadersInclude(a.signedHeaders, "x-sdk-date") {
		return "", newError(c.svc, kindAuth, "Incorrect IAM authentication information: SignedHeaders must include x-sdk-date")
	}
	key, err := c.s.cfg.Store.GetAccessKey(c.r.Context(), a.access)
	if errors.Is(err, store.ErrNotFound) {
		return "", newError(c.svc, kindAuth, "Incorrect IAM authentication information: unknown access key")
	}
	if err != nil {
		return "", storeError(c.svc, err, "access key")
	}
	want := sdkSignature(c.r, c.body, a.signedHeaders, date, key.SecretKey)
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return "", newError(c.svc, kindAuth, "Incorrect IAM authentication information: the signature does not match; sign the method, path, query, signed headers and body with the secret key")
	}
	return key.ProjectID, nil
}

func signedHeadersInclude(hs []string, name string) bool {
	for _, h := range hs {
		if h == name {
			return true
		}
	}
	return false
}

// authenticateEnOS checks "Authorization: Bearer TOKEN" for a token bound
// to an org and a service account, and that orgId is that org.
func (c *call) authenticateEnOS() error {
	raw, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return newError(c.svc, kindAuth, "missing credentials: send Authorization: Bearer <token> issued for the org's service account")
	}
	tok, err := c.s.cfg.Store.GetToken(c.r.Context(), raw)
	if errors.Is(err, store.ErrNotFound) || (err == nil && tok.OrgID == "") {
		return newError(c.svc, kindAuth, "the bearer token is unknown, expired, or not an EnOS service account token")
	}
	if err != nil {
		return storeError(c.svc, err, "token")
	}
	org := c.r.URL.Query().Get("orgId")
	if org == "" {
		return newError(c.svc, kindInvalid, "query parameter orgId is required")
	}
	if org != tok.OrgID {
		return newError(c.svc, kindForbidden, "the token is for another organization than orgId %q", org)
	}
	c.org, c.account = tok.OrgID, tok.AccountID
	return nil
}
