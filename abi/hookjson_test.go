package abi

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeRequestMatchesEncodingJSON(t *testing.T) {
	in := HookRequest{Hook: BeforeProvision, Operation: "op", Project: "p\"1\\", Org: "é\u2028",
		Request:     json.RawMessage(`{"a":[1,2.5e3,{"b":null}],"c":"\u00e9\"","d":true,"e":false}`),
		Device:      &Device{DeviceName: "d", Tags: []Tag{{Key: "k", Value: "v"}}, PolicyIDs: []string{"x"}},
		Certificate: map[string]string{"CN": "dev \U0001F600 \t", "O": "acme"}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	var got HookRequest
	require.NoError(t, DecodeRequest(append(b, "   "...), &got))
	assert.Equal(t, in, got)
	// Escaped surrogate pairs, as another PDK's host might send them.
	require.NoError(t, DecodeRequest([]byte(`{"hook":"\ud83d\ude00\u00e9","request":null,"certificate":null,"x":[{}]}`), &got))
	assert.Equal(t, "\U0001F600é", got.Hook)

	for _, bad := range []string{``, `[]`, `{"hook":1}`, `{"hook":"x"`, `{"hook":"x"} x`, `{"request":tru}`, `{"a":"\x01"}`, `{"request":[1,]}`} {
		assert.Error(t, DecodeRequest([]byte(bad), &HookRequest{}), bad)
	}
}

func TestAppendResponse(t *testing.T) {
	for _, r := range []HookResponse{{Decision: DecisionAllow}, {Decision: DecisionDeny, Reason: "no \"way\"\n\x01 é \u2028"},
		{Decision: DecisionAllow, Patch: json.RawMessage(`{"a":1}`)}} {
		var back HookResponse
		require.NoError(t, json.Unmarshal(AppendResponse(nil, r), &back))
		assert.Equal(t, r, back)
	}
}

func TestLookup(t *testing.T) {
	doc := []byte(`{"agent":{"host_name":"SN-1","n":42,"list":["a",{"x~/y":"deep"}]},"z":null}`)
	for ptr, want := range map[string]string{"/agent/host_name": "SN-1", "/agent/n": "42", "/agent/list/0": "a", "/agent/list/1/x~0~1y": "deep"} {
		v, ok := Lookup(doc, ptr)
		assert.True(t, ok, ptr)
		assert.Equal(t, want, v, ptr)
	}
	for _, ptr := range []string{"", "agent", "/nope", "/agent/list/2", "/agent/list/-1", "/z", "/agent"} {
		_, ok := Lookup(doc, ptr)
		assert.False(t, ok, ptr)
	}
}

func TestDecodeConfig(t *testing.T) {
	want := map[string]string{"ranges": "1000-1999", "q": "a\"b\u00e9", "empty": ""}
	b, err := json.Marshal(want)
	require.NoError(t, err)
	got, err := DecodeConfig(b)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = DecodeConfig([]byte(` {} `))
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, bad := range []string{``, `null`, `{"a":1}`, `{"a":"b"} x`, `["a"]`} {
		_, err := DecodeConfig([]byte(bad))
		assert.Error(t, err, bad)
	}
}

// A guest decodes its configuration once while it stays the same.
func TestDecodeConfigInAGuest(t *testing.T) {
	defer func(g bool) { guest = g }(guest)
	guest = true
	a, err := DecodeConfig([]byte(`{"k":"v"}`))
	require.NoError(t, err)
	again, err := DecodeConfig([]byte(`{"k":"v"}`))
	require.NoError(t, err)
	assert.Equal(t, reflect.ValueOf(a).Pointer(), reflect.ValueOf(again).Pointer(), "the same map")
	other, err := DecodeConfig([]byte(`{"k":"w"}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "w"}, other)
	_, err = DecodeConfig([]byte(`{"k":1}`))
	require.Error(t, err)
	last, err := DecodeConfig([]byte(`{"k":"w"}`))
	require.NoError(t, err)
	assert.Equal(t, reflect.ValueOf(other).Pointer(), reflect.ValueOf(last).Pointer(), "an error keeps the last map")
}

func TestAppendError(t *testing.T) {
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal(AppendError(nil, "bad \"input\"\n"), &e))
	assert.Equal(t, "bad \"input\"\n", e.Error)
}

// AppendRequest writes what json.Marshal writes, up to escaping and the
// request's whitespace: both decode to the same message.
func TestAppendRequestMatchesMarshal(t *testing.T) {
	odd := "<é>&\"\\\n\x01\x7f\xff\u2028😀"
	device := &Device{DeviceName: "dev-1", NodeID: "n1", ProductID: "p0", Tags: []Tag{{Key: "site", Value: "a"}}, PolicyIDs: []string{}}
	for _, req := range []HookRequest{
		{},
		{Hook: BeforeCreate, Operation: "cbr.agent.register", Project: "p1", Request: json.RawMessage(`{"agent":{"host_name":"SN-1"}}`)},
		{Hook: odd, Operation: odd, Org: odd, Request: json.RawMessage(` [1, {"a" : "<b>"} ] `)},
		{Hook: BeforeProvision, Operation: "iotda.device.onboard-bootstrap", Project: "p1", Device: device,
			Certificate: map[string]string{"O": "acme", "CN": odd, odd: "x", "serialNumber": "SN-1"}},
		{Hook: BeforeProvision, Device: &Device{}, Certificate: map[string]string{}},
		{Hook: BeforeProvision, Device: &Device{Tags: []Tag{{Key: odd}}, PolicyIDs: []string{odd, ""}}},
	} {
		want, err := json.Marshal(req)
		require.NoError(t, err)
		got, err := AppendRequest(nil, &req)
		require.NoError(t, err)
		var w, g HookRequest
		require.NoError(t, json.Unmarshal(want, &w))
		require.NoError(t, json.Unmarshal(got, &g), "%s", got)
		if w.Request != nil {
			assert.JSONEq(t, string(w.Request), string(g.Request))
			w.Request, g.Request = nil, nil
		}
		assert.Equal(t, w, g, "%s", got)
		var m1, m2 map[string]any
		require.NoError(t, json.Unmarshal(want, &m1))
		require.NoError(t, json.Unmarshal(got, &m2))
		assert.Equal(t, m1, m2, "the same members, nulls and absences")
		// And the guest's decoder reads it as encoding/json does.
		var d HookRequest
		require.NoError(t, DecodeRequest(got, &d), "%s", got)
		ref, err := refDecode(got)
		require.NoError(t, err)
		assert.Equal(t, ref, d, "%s", got)
	}
	_, err := AppendRequest(nil, &HookRequest{Request: json.RawMessage(`{"a":`)})
	assert.Error(t, err)
}

// The host refuses what a plug-in must not answer, and reads a lean
// call's error answer as the guest's error.
func TestDecodeResponse(t *testing.T) {
	for _, out := range []string{"this is not JSON", `{"decision":"maybe"}`, `{"decision":"allow","x":1}`,
		`{"decision":"allow"} {}`, `{"decision":"allow","patch":[1]}`, `{"error":""}`} {
		_, err := DecodeResponse([]byte(out))
		assert.Error(t, err, out)
	}
	resp, err := DecodeResponse([]byte(`{"decision":"deny","reason":"r"} `))
	require.NoError(t, err)
	assert.Equal(t, HookResponse{Decision: DecisionDeny, Reason: "r"}, resp)
	_, err = DecodeResponse(AppendError(nil, "hook input: bad \"x\""))
	assert.EqualError(t, err, `hook input: bad "x"`)
}

// The answers read without encoding/json are read as encoding/json reads
// them; the others still go through it.
func TestFastResponse(t *testing.T) {
	for _, out := range []string{`{"decision":"allow"}`, `{"decision":"allow"}   `, `{"decision":"deny","reason":"no"}`,
		`{"decision":"deny","reason":""}`, `{"decision":"deny","reason":"é 😀 <x>"}  `} {
		fast, ok := fastResponse([]byte(out))
		require.True(t, ok, out)
		slow, err := DecodeResponse([]byte(out + "\n"))
		require.NoError(t, err)
		assert.Equal(t, slow, fast, out)
	}
	for _, out := range []string{`{"decision":"deny","reason":"a\"b"}`, `{"decision":"deny","reason":"a\nb"}`, "{\"decision\":\"deny\",\"reason\":\"\xff\"}",
		`{"decision":"deny","reason":"x"} {}`, `{"decision":"allow","patch":{}}`, `{"decision":"deny","reason":"x","patch":{}}`, ` {"decision":"allow"}`} {
		_, ok := fastResponse([]byte(out))
		assert.False(t, ok, out)
	}
	resp, err := DecodeResponse([]byte(`{"decision":"deny","reason":"a\"b"}`))
	require.NoError(t, err)
	assert.Equal(t, HookResponse{Decision: DecisionDeny, Reason: `a"b`}, resp)
}
