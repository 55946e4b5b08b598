package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Huawei Cloud AK/SK request signing (SDK-HMAC-SHA256), as the official
// SDKs send it:
//
//	Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=h1;h2, Signature=hex
//	X-Sdk-Date: 20060102T150405Z
//
// The signature is hex(HMAC-SHA256(SK, "SDK-HMAC-SHA256\n" + date + "\n" +
// hex(SHA-256(canonical request)))), and the canonical request is
//
//	METHOD \n canonical URI (each segment escaped, trailing "/") \n
//	canonical query (keys as sent, sorted; values sorted) \n
//	canonical headers ("name:value\n" for each signed header) \n
//	signed headers joined by ";" \n hex(SHA-256(body))
//
// The body's hash is the one onboard computes over the bytes it received.
// The SDKs may send it in X-Sdk-Content-Sha256, which is not signed; a
// value there that differs from the body, or UNSIGNED-PAYLOAD (which the
// SDKs send for non-JSON bodies, and onboard takes none), is refused:
// otherwise a captured request could carry any other body for as long as
// its date is accepted.
//
// SignedHeaders must name x-sdk-date, so a captured request cannot be
// replayed with a fresh date. It need not name host: the official Go SDK
// (huaweicloud-sdk-go-v3 v0.1.207) signs user-agent, x-project-id and
// x-sdk-date only, and host/api/sdkcompat pins that down. When host is
// signed it is checked like any other header.
const (
	sdkAlgorithm     = "SDK-HMAC-SHA256"
	sdkDateHeader    = "X-Sdk-Date"
	sdkContentHeader = "X-Sdk-Content-Sha256"
	sdkDateFormat    = "20060102T150405Z"
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	// MaxClockSkew is how far X-Sdk-Date may be from the server's clock:
	// beyond it a captured request can no longer be replayed.
	MaxClockSkew = 15 * time.Minute
)

// requiredSignedHeaders must be among SignedHeaders.
var requiredSignedHeaders = []string{"x-sdk-date"}

var errBadAuthorization = errors.New("the Authorization header is not SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=… (each once)")

type sdkAuthorization struct {
	access        string
	signedHeaders []string
	signature     string
}

func parseSDKAuthorization(h string) (sdkAuthorization, error) {
	var a sdkAuthorization
	rest, ok := strings.CutPrefix(h, sdkAlgorithm+" ")
	if !ok {
		return a, errBadAuthorization
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			// Each member once: a second Access or Signature must not
			// decide which one counts.
			return a, errBadAuthorization
		}
		seen[k] = true
		switch k {
		case "Access":
			a.access = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		default:
			return a, errBadAuthorization
		}
	}
	if a.access == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return a, errBadAuthorization
	}
	return a, nil
}

// payloadHash is the body hash of the canonical request: hex(SHA-256) of
// the body received. declared is X-Sdk-Content-Sha256 as sent ("" when
// absent); a client that sends it signs with its text, so when it matches
// the body (in either case of hex) it is used as sent.
func payloadHash(declared string, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch {
	case declared == "":
		return actual, nil
	case strings.EqualFold(declared, unsignedPayload):
		return "", fmt.Errorf("%s: %s is not accepted: onboard verifies the body, so sign its SHA-256 (send no %s, or the body's hash)", sdkContentHeader, unsignedPayload, sdkContentHeader)
	case !strings.EqualFold(declared, actual):
		return "", fmt.Errorf("%s does not match the SHA-256 of the body received: sign the body you send", sdkContentHeader)
	}
	return declared, nil
}

// sdkSignature computes the signature of r, whose body hashes to
// bodyHash, for sk.
func sdkSignature(r *http.Request, bodyHash string, signedHeaders []string, date, sk string) string {
	var cr strings.Builder
	cr.WriteString(r.Method + "\n")
	cr.WriteString(canonicalURI(r.URL.Path) + "\n")
	cr.WriteString(canonicalQuery(r) + "\n")
	for _, name := range signedHeaders {
		var values []string
		if strings.EqualFold(name, "host") {
			values = []string{r.Host}
		} else {
			values = append(values, r.Header.Values(name)...)
		}
		sort.Strings(values)
		for _, v := range values {
			cr.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	cr.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n" + bodyHash)
	sum := sha256.Sum256([]byte(cr.String()))
	toSign := sdkAlgorithm + "\n" + date + "\n" + hex.EncodeToString(sum[:])
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(toSign))
	return hex.EncodeToString(mac.Sum(nil))
}

func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = sdkEscape(s)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	return uri
}

// canonicalQuery keeps each key's case, as the official SDK's signer does:
// lower-casing here made every request with a capital in a query key
// (?Instance-Id=…) fail its signature check.
func canonicalQuery(r *http.Request) string {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := q[k]
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, sdkEscape(k)+"="+sdkEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// sdkEscape percent-encodes everything but A-Z a-z 0-9 - _ . ~ (upper-case
// hex), the signers' rule.
func sdkEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// SignRequest signs r the way the SDKs do (used by onboard's own clients:
// the conformance kit and tests). It sets X-Sdk-Date and Authorization,
// signing host, content-type (when set) and x-sdk-date, and the SHA-256 of
// body, which must be the body r sends.
func SignRequest(r *http.Request, body []byte, ak, sk string, now time.Time) {
	date := now.UTC().Format(sdkDateFormat)
	r.Header.Set(sdkDateHeader, date)
	signed := []string{"host", "x-sdk-date"}
	if r.Header.Get("Content-Type") != "" {
		signed = []string{"content-type", "host", "x-sdk-date"}
	}
	sum := sha256.Sum256(body)
	sig := sdkSignature(r, hex.EncodeToString(sum[:]), signed, date, sk)
	r.Header.Set("Authorization", sdkAlgorithm+" Access="+ak+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
}
