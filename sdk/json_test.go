package sdk

import (
	"encoding/json"
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
	for _, r := range []HookResponse{Allow(), Deny("no \"way\"\n\x01 é \u2028"), AllowPatch(map[string]int{"a": 1})} {
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

func TestAppendError(t *testing.T) {
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal(AppendError(nil, "bad \"input\"\n"), &e))
	assert.Equal(t, "bad \"input\"\n", e.Error)
}
