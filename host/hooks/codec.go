package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/onboardhq/onboard/sdk"
)

// The host's side of the hook messages, written out: encoding/json's
// reflection cost about as much per call as the rest of the host's work.
// The output decodes (with encoding/json) to exactly the same values as
// json.Marshal's; it differs only in escaping no HTML characters and not
// compacting the request, which the guest reads either way.

// appendRequest appends req as JSON to dst. The request member must be
// valid JSON, as json.Marshal requires too.
func appendRequest(dst []byte, req *sdk.HookRequest) ([]byte, error) {
	dst = append(dst, `{"hook":`...)
	dst = appendString(dst, req.Hook)
	dst = append(dst, `,"operation":`...)
	dst = appendString(dst, req.Operation)
	if req.Project != "" {
		dst = append(dst, `,"project":`...)
		dst = appendString(dst, req.Project)
	}
	if req.Org != "" {
		dst = append(dst, `,"org":`...)
		dst = appendString(dst, req.Org)
	}
	if len(req.Request) > 0 {
		if !json.Valid(req.Request) {
			return dst, fmt.Errorf("hooks: the request to pass to the hook is not valid JSON")
		}
		dst = append(dst, `,"request":`...)
		dst = append(dst, req.Request...)
	}
	if d := req.Device; d != nil {
		dst = append(dst, `,"device":`...)
		dst = appendDevice(dst, d)
	}
	if len(req.Certificate) > 0 {
		dst = append(dst, `,"certificate":{`...)
		keys := make([]string, 0, len(req.Certificate))
		for k := range req.Certificate {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, req.Certificate[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendDevice appends d as json.Marshal would (a nil slice is null).
func appendDevice(dst []byte, d *sdk.Device) []byte {
	dst = append(dst, `{"device_name":`...)
	dst = appendString(dst, d.DeviceName)
	dst = append(dst, `,"node_id":`...)
	dst = appendString(dst, d.NodeID)
	dst = append(dst, `,"product_id":`...)
	dst = appendString(dst, d.ProductID)
	dst = append(dst, `,"tags":`...)
	if d.Tags == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, t := range d.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"tag_key":`...)
			dst = appendString(dst, t.Key)
			dst = append(dst, `,"tag_value":`...)
			dst = appendString(dst, t.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"policy_ids":`...)
	if d.PolicyIDs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, p := range d.PolicyIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, p)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json does but for
// the HTML escapes: invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// decodeResponse reads a hook's output: exactly one valid HookResponse.
// The answers package sdk writes for an allow or a plain deny are read
// directly; anything else goes through encoding/json, strictly.
func decodeResponse(out []byte) (sdk.HookResponse, error) {
	if resp, ok := fastResponse(out); ok {
		return resp, nil
	}
	var resp sdk.HookResponse
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil || dec.More() {
		return resp, fmt.Errorf("%w: output is not a HookResponse (%s): %q", ErrFailed, errText(err, "trailing data"), clip(out))
	}
	if err := resp.Check(); err != nil {
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return resp, nil
}

var (
	allowJSON  = []byte(`{"decision":"allow"}`)
	denyPrefix = []byte(`{"decision":"deny","reason":"`)
)

// fastResponse reads {"decision":"allow"} and {"decision":"deny",
// "reason":"…"} with a reason that needs no unescaping, followed by
// nothing but spaces (the Extism path pads its output with them).
func fastResponse(out []byte) (sdk.HookResponse, bool) {
	out = bytes.TrimRight(out, " ")
	if bytes.Equal(out, allowJSON) {
		return sdk.Allow(), true
	}
	if !bytes.HasPrefix(out, denyPrefix) || !bytes.HasSuffix(out, []byte(`"}`)) {
		return sdk.HookResponse{}, false
	}
	reason := out[len(denyPrefix) : len(out)-2]
	for _, c := range reason {
		if c < 0x20 || c == '"' || c == '\\' {
			return sdk.HookResponse{}, false
		}
	}
	if !utf8.Valid(reason) {
		return sdk.HookResponse{}, false
	}
	return sdk.Deny(string(reason)), true
}
