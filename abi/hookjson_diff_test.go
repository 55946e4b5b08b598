package abi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The decoder against encoding/json. The reference decodes the message
// as a map of raw members (exact names, the last of a repeated one wins)
// and each known member with encoding/json; DecodeRequest must agree
// with it wherever it accepts the input, and reject whatever is not JSON.
// Where it is stricter (null for a string member or value, a top-level
// null), it rejects what the reference accepts. A null request is
// absent, not the raw "null".

func refDecode(b []byte) (HookRequest, error) {
	var req HookRequest
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return req, err
	}
	if members == nil {
		return req, fmt.Errorf("top-level null")
	}
	for name, dst := range map[string]*string{"hook": &req.Hook, "operation": &req.Operation, "project": &req.Project, "org": &req.Org} {
		if raw, ok := members[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return req, err
			}
		}
	}
	if raw, ok := members["request"]; ok && string(raw) != "null" {
		req.Request = raw
	}
	if raw, ok := members["device"]; ok {
		if err := json.Unmarshal(raw, &req.Device); err != nil {
			return req, err
		}
	}
	if raw, ok := members["certificate"]; ok {
		if err := json.Unmarshal(raw, &req.Certificate); err != nil {
			return req, err
		}
	}
	return req, nil
}

// hookCorpus is hook messages and edge cases: escapes, unicode, nesting,
// numbers, whitespace, members in any order, what a host sends.
func hookCorpus() []string {
	corpus := []string{
		`{"hook":"before-create","operation":"cbr.agent.register","project":"p1","request":{"agent":{"agent_id":"489654f2-363b-4ebf-966a-bdf079d97114","host_name":"SN-1500","host_ip":"10.10.0.2","host_os":"linux","agent_version":"1.0.0","agent_type":"native"}}}`,
		`{"hook":"before-provision","operation":"iotda.device.onboard-bootstrap","project":"p1","device":{"device_name":"dev-1","node_id":"n1","product_id":"p0","tags":[{"tag_key":"site","tag_value":"a"}],"policy_ids":[]},"certificate":{"CN":"dev-1","O":"acme","OU":"meters","serialNumber":"SN-1234"}}`,
		`{"hook":"before-create","operation":"enos.device.batch-create","org":"o1","request":{"productKey":"pk","requireSecret":false,"deviceList":[{"deviceKey":"k1","timezone":"+08:00","deviceAttributes":{"a":1,"b":2.5,"c":-3e-2,"d":true,"e":null}}]}}`,
		`{"hook":"before-create","operation":"iotda.provisioning-template.create","project":"p1","request":{"template_name":"t","template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"}},"resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"tags":[{"tag_key":"k","tag_value":{"ref":"iotda::certificate::organizational_unit"}}]}}}}}`,
		`{}`, ` { } `, "\t{\n\"hook\" :\r\"x\" , \"request\" : [ 1 , { } , [ ] ] }\n",
		`{"request":null,"certificate":null,"device":null}`,
		`{"request":{"a":1},"request":{"b":2}}`, `{"hook":"a","hook":"b"}`,
		`{"certificate":{"CN":"a"},"certificate":{"O":"b"}}`, `{"certificate":{"CN":"a","CN":"b","x-custom":"c","":""}}`,
		`{"Hook":"x","HOOK":"y","operation ":"z","unknown":{"deep":[[[[{"x":"\u00e9"}]]]]}}`,
		`{"hook":"\"\\\/\b\f\n\r\t\u0000\u001f\u00e9\u2028\ud83d\ude00"}`,
		`{"hook":"\ud800","operation":"\udc00","project":"\ud800\u0041","org":"\ud800\ud800\udc00"}`,
		`{"hook":"é😀 ","project":"` + strings.Repeat("é", 30) + `"}`,
		"{\"hook\":\"\xff\",\"operation\":\"a\xc3\",\"project\":\"\xe2\x82\",\"org\":\"\xed\xa0\x80\"}",
		"{\"certificate\":{\"\xff\":\"\xfe\"}}",
		`{"request":[0,-0,1,-1,0.5,-0.5e10,1E+2,1e-2,12345678901234567890,1234567,12345678,1.0,9e999]}`,
		`{"request":{"s":"` + strings.Repeat("a", 15) + `","t":"` + strings.Repeat("b", 16) + `","u":"` + strings.Repeat("c", 17) + `"}}`,
		`{"request":{"` + strings.Repeat("k", 16) + `":1,"` + strings.Repeat("k", 17) + `":2,"` + strings.Repeat("k", 40) + `":"` + strings.Repeat("v", 40) + `"}}`,
		`{"operation":"` + strings.Repeat("o", 31) + `","project":"` + strings.Repeat("p", 32) + `","org":"` + strings.Repeat("q", 33) + `"}`,
		`{"operation":"` + strings.Repeat("o", 39) + `","project":"` + strings.Repeat("p", 40) + `","org":"` + strings.Repeat("q", 41) + `"}`,
		`{"device":{"DEVICE_NAME":"d","node_id":"n"}}`, `{"device":{"device_name":"d","x":1}}`,
		`{"device":{"tags":null,"policy_ids":null}}`, `{"device":{"device_name":null}}`,
		`{"device":{"device_name":"a","device_name":"b"}}`, `{"device":{"tags":[{"tag_key":"k","TAG_VALUE":"v"}]}}`,
		`{"device":{}}`, `{"device":{"tags":[],"policy_ids":["a","b"]}}`,
		`{"request":"` + strings.Repeat(`\"`, 20) + `"}`, `{"a":"\u00e9\u00E9"}`,
		`{"request":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`,
		`{"request":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70) + `}`,
		`{"request":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
		// Not JSON, or not a HookRequest.
		``, ` `, `null`, `[]`, `"x"`, `{`, `}`, `{"hook":1}`, `{"hook":"x"`, `{"hook":"x"} x`, `{"hook":"x"}}`,
		`{"request":tru}`, `{"request":nul}`, `{"request":falsey}`, `{"a":"\x01"}`, "{\"a\":\"\x7f\"}", `{"request":[1,]}`, `{"request":{"a":1,}}`,
		`{"request":{"a"}}`, `{"request":{"a":}}`, `{"request":{1:2}}`, `{,}`, `{"a":1,,"b":2}`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{"request":01}`, `{"request":1.}`, `{"request":.5}`, `{"request":-}`, `{"request":1e}`, `{"request":1e+}`, `{"request":+1}`, `{"request":0x10}`,
		`{"request":"\x"}`, `{"request":"\u12"}`, `{"request":"\u12g4"}`, `{"request":"\'"}`, `{"request":"abc`, `{"hook":"\ud800\u12"}`,
		`{"request":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		`{"certificate":{"CN":1}}`, `{"certificate":{"CN":null}}`, `{"certificate":[]}`, `{"certificate":nul}`,
		`{"hook":null}`, `{"operation":true}`, `{"device":[]}`, `{"device":{"tags":{}}}`, `{"device":nul}`,
		"{\"hook\":\"x\"}\x00", `{"hook":"x"}` + "\u00a0",
	}
	// Every prefix of the first messages: truncated input at every byte.
	for _, m := range corpus[:3] {
		for i := range len(m) {
			corpus = append(corpus, m[:i])
		}
	}
	return corpus
}

func checkAgainstReference(t *testing.T, in []byte) {
	t.Helper()
	var got HookRequest
	err := DecodeRequest(in, &got)
	want, refErr := refDecode(in)
	if !json.Valid(in) {
		require.Error(t, err, "%q is not JSON", in)
	}
	if err != nil {
		return
	}
	require.NoError(t, refErr, "%q: accepted, but encoding/json refuses it", in)
	assert.Equal(t, want, got, "%q", in)
}

func TestDecodeRequestAgainstEncodingJSON(t *testing.T) {
	for _, mode := range []bool{false, true} {
		t.Run(fmt.Sprintf("guest=%v", mode), func(t *testing.T) {
			defer func(g bool) { guest = g }(guest)
			guest = mode // memos, the string arena, the pointer cache
			for _, in := range hookCorpus() {
				checkAgainstReference(t, []byte(in))
			}
			// The well-formed messages decode, twice over (the memos).
			for _, in := range hookCorpus()[:4] {
				var req HookRequest
				require.NoError(t, DecodeRequest([]byte(in), &req), in)
				require.NoError(t, DecodeRequest([]byte(in), &req), in)
			}
		})
	}
}

// Every message json.Marshal writes decodes to what it was made from.
func TestDecodeRequestRoundTrip(t *testing.T) {
	strs := []string{"", "a", "p\"1\\", "é\u2028\u2029", "\x00\x01\x1f\x7f", "<>&", "\xff\xfe", "😀", strings.Repeat("x", 100), "before-create", BeforeProvision}
	for _, s := range strs {
		in := HookRequest{Hook: s, Operation: s + "op", Project: s, Org: s,
			Request:     json.RawMessage(`{"k":` + mustMarshal(t, s) + `}`),
			Device:      &Device{DeviceName: s, NodeID: s, ProductID: s, Tags: []Tag{{Key: s, Value: s}, {}}, PolicyIDs: []string{s}},
			Certificate: map[string]string{"CN": s, s: "v"}}
		b, err := json.Marshal(in)
		require.NoError(t, err)
		want, err := refDecode(b)
		require.NoError(t, err)
		var got HookRequest
		require.NoError(t, DecodeRequest(b, &got))
		assert.Equal(t, want, got, "%q", b)
	}
}

func mustMarshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func FuzzDecodeRequest(f *testing.F) {
	for _, in := range hookCorpus() {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		defer func(g bool) { guest = g }(guest)
		for _, guest = range []bool{false, true} {
			checkAgainstReference(t, in)
			checkLookup(t, in)
			checkConfig(t, in)
		}
	})
}

// refLookup walks ptr through doc decoded by encoding/json: a string, or
// a number as written.
func refLookup(doc []byte, ptr string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || !strings.HasPrefix(ptr, "/") {
		return "", false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return "", false
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(c) {
				return "", false
			}
			v = c[i]
		default:
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// checkLookup compares Lookup with refLookup on documents encoding/json
// takes with no repeated member names (Lookup takes the first of them,
// encoding/json the last, and Lookup does not read past what it finds).
func checkLookup(t *testing.T, doc []byte) {
	t.Helper()
	if !json.Valid(doc) || hasRepeatedNames(doc) {
		return
	}
	for _, ptr := range []string{"/request", "/request/agent/host_name", "/request/0", "/request/1", "/hook", "/request/a", "/request/deviceList/0/deviceKey", "/a~1b", "/request/s"} {
		want, wantOK := refLookup(doc, ptr)
		got, ok := Lookup(doc, ptr)
		require.Equal(t, wantOK, ok, "%q %s", doc, ptr)
		require.Equal(t, want, got, "%q %s", doc, ptr)
	}
}

func hasRepeatedNames(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var stack []map[string]bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, map[string]bool{})
				expectKey = true
				continue
			case '[':
				stack = append(stack, nil)
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		case string:
			if len(stack) > 0 && stack[len(stack)-1] != nil && expectKey {
				if stack[len(stack)-1][v] {
					return true
				}
				stack[len(stack)-1][v] = true
				expectKey = false
				continue
			}
		}
		expectKey = len(stack) > 0 && stack[len(stack)-1] != nil
	}
}

func checkConfig(t *testing.T, in []byte) {
	t.Helper()
	got, err := DecodeConfig(in)
	if !json.Valid(in) {
		require.Error(t, err)
	}
	if err != nil {
		return
	}
	var want map[string]string
	require.NoError(t, json.Unmarshal(in, &want), "%q", in)
	assert.Equal(t, want, got, "%q", in)
}

func TestLookupAgainstEncodingJSON(t *testing.T) {
	defer func(g bool) { guest = g }(guest)
	for _, mode := range []bool{false, true} {
		guest = mode
		for _, in := range hookCorpus() {
			checkLookup(t, []byte(in))
		}
		checkLookup(t, []byte(`{"a/b":"slash","request":["x",{"agent":{"host_name":"SN-\u0031"}}]}`))
	}
}

func TestDecodeConfigAgainstEncodingJSON(t *testing.T) {
	for _, in := range append(hookCorpus(), `{"a":"b","c":"\u00e9","d":""}`, `{"a":"`+strings.Repeat("x", 200)+`"}`) {
		checkConfig(t, []byte(in))
	}
}

// AppendString writes what json.Marshal writes, up to escaping.
func TestAppendStringAgainstEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "allow", "a\"b\\c\n\r\t\x00\x1f\x7f", "<>&", "é😀\u2028\u2029", "\xff", "a\xc3", strings.Repeat("0123456789", 10) + "\"", strings.Repeat("é", 9)} {
		var want, got string
		require.NoError(t, json.Unmarshal(mustMarshalBytes(t, s), &want))
		require.NoError(t, json.Unmarshal(AppendString(nil, s), &got), "%q", s)
		assert.Equal(t, want, got, "%q", s)
	}
}

func mustMarshalBytes(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestEqual(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := range 100 {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte(rnd.Uint32())
		}
		require.True(t, equal(a, string(a)), n)
		require.False(t, equal(a, string(a)+"x"), n)
		for i := range n {
			b := []byte(string(a))
			b[i] ^= 1 << (i % 8)
			require.False(t, equal(a, string(b)), "n=%d i=%d", n, i)
		}
	}
}
