package abi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Unescape decodes as encoding/json does, for every string a scanner lets
// through (valid escapes), including broken surrogates.
func TestUnescapeAgainstEncodingJSON(t *testing.T) {
	for _, content := range []string{``, `plain`, `\"\\\/\b\f\n\r\t`, `\u0000\u001f\u00e9\u00E9\u2028`,
		`\ud83d\ude00`, `\ud800`, `\udc00`, `\ud800\u0041`, `\ud800\ud800\udc00`, `a\ud83dx`, `\ud83d\n`,
		`é😀`, strings.Repeat(`\"`, 20), `x\u0041y`} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(`"`+content+`"`), &want), content)
		assert.Equal(t, want, string(Unescape(nil, []byte(content))), content)
		assert.Equal(t, "pre"+want, string(Unescape([]byte("pre"), []byte(content))), "appends to dst")
	}
}

// What AppendString writes, Unescape reads back (for valid UTF-8).
func TestAppendStringRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a\"b\\c\n\r\t\x00\x1f\x7f", "<>&", "é😀\u2028\u2029", strings.Repeat("0123456789", 10) + "\""} {
		q := AppendString(nil, s)
		require.True(t, len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"', "%s", q)
		assert.Equal(t, s, string(Unescape(nil, q[1:len(q)-1])), "%q", s)
	}
}

func TestResolveInput(t *testing.T) {
	in, err := ResolveInput(json.RawMessage(` {"resources": {}} `), map[string]string{"CN": "dev-1"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"template_body":{"resources":{}},"subject":{"CN":"dev-1"}}`, string(in))
	_, err = ResolveInput(json.RawMessage(`{`), nil)
	assert.Error(t, err, "a template body that is not JSON")
}

// The subject alone reads as the subject of ResolveInput, whatever a
// certificate holds (quotes, controls, invalid UTF-8, HTML characters).
func TestResolveSubjectInput(t *testing.T) {
	subject := map[string]string{"CN": "dev-\"1\"\n\x00", "O": "a<b>&c", "OU": "bad \xff utf-8", "C": "\u2028", "ST": ""}
	whole, err := ResolveInput(json.RawMessage(`{}`), subject)
	require.NoError(t, err)
	var a, b struct {
		Subject map[string]string `json:"subject"`
	}
	require.NoError(t, json.Unmarshal(whole, &a))
	require.NoError(t, json.Unmarshal(ResolveSubjectInput(subject), &b))
	assert.Equal(t, a.Subject, b.Subject)
	assert.Equal(t, `{"subject":{}}`, string(ResolveSubjectInput(nil)))
	assert.Equal(t, `{"template_id":"t\"1","template_version":"v"}`, string(ResolveParams(`t"1`, "v")))
}
