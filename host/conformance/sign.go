package conformance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

// The kit's own Huawei Cloud AK/SK signer (SDK-HMAC-SHA256), written from
// the algorithm of the official SDKs (huaweicloud-sdk-go-v3
// core/auth/signer) so that the kit links no server code:
//
//	canonical request = method "\n" canonical URI "\n" canonical query "\n"
//	                    canonical headers "\n" signed headers "\n" hex(SHA-256(body))
//	string to sign    = "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" + hex(SHA-256(canonical request))
//	Authorization     = "SDK-HMAC-SHA256 Access=AK, SignedHeaders=h1;h2, Signature=" +
//	                    hex(HMAC-SHA256(SK, string to sign))
//
// The canonical URI escapes every path segment (all but A-Z a-z 0-9 - _ .
// ~, upper-case hex) and ends in "/". The canonical query sorts the keys
// (which keep their case, as the SDK sends them) and each key's values, as
// "k=v" pairs joined by "&", both escaped. The canonical headers are one
// "name:value\n" per signed header and value (trimmed; a repeated header's
// values sorted). The signed headers are every header the request carries,
// lower-cased and sorted, but Content-Type and names with "_" (the SDK's
// rule), plus host, which the API gateway's signers sign and a hardened
// server requires. The body hash is over the bytes sent: never
// UNSIGNED-PAYLOAD.
const (
	sdkAlgorithm  = "SDK-HMAC-SHA256"
	sdkDateHeader = "X-Sdk-Date"
	sdkDateFormat = "20060102T150405Z"
)

// signRequest sets X-Sdk-Date and Authorization on req, whose body is
// body. Headers set after it are not signed.
func signRequest(req *http.Request, body []byte, ak, sk string, now time.Time) {
	date := now.UTC().Format(sdkDateFormat)
	req.Header.Set(sdkDateHeader, date)
	signed := signedHeaders(req.Header)
	sig := signature(req, body, signed, date, sk)
	req.Header.Set("Authorization", sdkAlgorithm+" Access="+ak+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
}

// signedHeaders is every header name of h, lower-cased and sorted, but
// content-type and names with "_", plus host.
func signedHeaders(h http.Header) []string {
	names := []string{"host"}
	for name := range h {
		lower := strings.ToLower(name)
		if lower == "content-type" || lower == "host" || strings.Contains(lower, "_") {
			continue
		}
		names = append(names, lower)
	}
	sort.Strings(names)
	return names
}

// signature is the hex HMAC of req's string to sign, for the given signed
// headers (lower-case names).
func signature(req *http.Request, body []byte, signed []string, date, sk string) string {
	sum := sha256.Sum256(body)
	var cr strings.Builder
	cr.WriteString(req.Method + "\n")
	cr.WriteString(canonicalURI(req.URL.Path) + "\n")
	cr.WriteString(canonicalQuery(req) + "\n")
	for _, name := range signed {
		values := req.Header.Values(name)
		if name == "host" {
			values = []string{hostOf(req)}
		}
		values = append([]string(nil), values...)
		sort.Strings(values)
		for _, v := range values {
			cr.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	cr.WriteString("\n" + strings.Join(signed, ";") + "\n" + hex.EncodeToString(sum[:]))
	crSum := sha256.Sum256([]byte(cr.String()))
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(sdkAlgorithm + "\n" + date + "\n" + hex.EncodeToString(crSum[:])))
	return hex.EncodeToString(mac.Sum(nil))
}

// hostOf is the Host header net/http will send.
func hostOf(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	return uri
}

func canonicalQuery(req *http.Request) string {
	q := req.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes every byte but A-Z a-z 0-9 - _ . ~, in upper-case
// hex.
func escape(s string) string {
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
