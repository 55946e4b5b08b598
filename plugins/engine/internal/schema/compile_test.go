package schema

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
)

// docs is a loader over an in-memory set of documents.
type docs map[string]string

func (d docs) load(name string) ([]byte, error) {
	if s, ok := d[name]; ok {
		return []byte(s), nil
	}
	return nil, errors.New("no document " + name)
}

func TestCompileWithFollowsReferencesIntoOtherDocuments(t *testing.T) {
	set := docs{
		// b refers back to a and on to c: each document is loaded once.
		"dir/b.json":     `{"$defs":{"Pair":{"type":"object","properties":{"name":{"$ref":"a.json#/$defs/Name"},"n":{"$ref":"sub/c.json#/$defs/Small"}},"additionalProperties":false}}}`,
		"dir/sub/c.json": `{"$defs":{"Small":{"type":"integer","maximum":3}}}`,
	}
	a := `{"$defs":{"Name":{"type":"string","maxLength":3}},"type":"array","items":{"$ref":"b.json#/$defs/Pair"}}`
	set["dir/a.json"] = a
	doc, err := CompileWith("dir/a.json", []byte(a), set.load)
	require.NoError(t, err)
	var v Validator
	assert.True(t, v.Valid(doc.Root, []byte(`[{"name":"abc","n":3}]`)))
	v.Validate(doc.Root, []byte(`[{"name":"abcd","n":4}]`))
	require.Len(t, v.Violations, 2)
	assert.Equal(t, "maxLength", v.Violations[0].Rule)
	assert.Equal(t, "/0/name", v.Violations[0].Pointer)
	assert.Equal(t, "maximum", v.Violations[1].Rule)
}

func TestCompileRefusesWhatItCannotResolve(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		load Loader
		want string
	}{
		"no loader":       {`{"$ref":"other.json#/$defs/X"}`, nil, "must be self-contained"},
		"missing doc":     {`{"$ref":"other.json#/$defs/X"}`, docs{}.load, "no document dir/other.json"},
		"missing def":     {`{"$ref":"other.json#/$defs/Y"}`, docs{"dir/other.json": `{"$defs":{"X":{}}}`}.load, "names no definition"},
		"not into $defs":  {`{"$ref":"other.json#/properties/x"}`, docs{"dir/other.json": `{}`}.load, "only references to $defs"},
		"bad type name":   {`{"type":["string","text"]}`, nil, "type must be"},
		"repeated type":   {`{"type":["string","string"]}`, nil, "type must be"},
		"empty type list": {`{"type":[]}`, nil, "type must be"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CompileWith("dir/x.json", []byte(tc.src), tc.load)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestTypeListAcceptsEachNamedType(t *testing.T) {
	doc, err := Compile("x", []byte(`{"type":["string","object"],"maxLength":2,"maxProperties":1}`))
	require.NoError(t, err)
	var v Validator
	assert.True(t, v.Valid(doc.Root, []byte(`"ab"`)))
	assert.True(t, v.Valid(doc.Root, []byte(`{"a":1}`)))
	assert.False(t, v.Valid(doc.Root, []byte(`"abc"`)))
	assert.False(t, v.Valid(doc.Root, []byte(`{"a":1,"b":2}`)))
	v.Validate(doc.Root, []byte(`[1]`))
	require.Len(t, v.Violations, 1)
	assert.Equal(t, "type", v.Violations[0].Rule)
	assert.Contains(t, v.Violations[0].Message, "string or object")
}

// skipValid must end every value of every valid corpus body exactly where
// the parser does: rescans rely on it instead of a full syntax check.
func TestSkipValidEndsWhereTheParserDoes(t *testing.T) {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	// Brackets and quotes inside strings, escapes, multi-byte UTF-8 across
	// eight-byte words, values at the very end of the input.
	for i, body := range []string{
		`{"a":"}]\"{[","b":[1,{"c":"é\u00e9\\"}],"d":"ü}é{","e":[[[]],{}],"f":"\\"}`,
		`["0123456]","{{{{{{{{","\"\"\"",[{"x":[1,2,3,"]]]]]]]]"]}],true,null,-1.5e3]`,
		`"ends here"`, `12345678901234567890`, `{"k":"日本語の文字列です}]"}`,
	} {
		cases = append(cases, corpus.Case{Op: "inline", Name: strconv.Itoa(i), Body: []byte(body)})
	}
	checked := 0
	for _, c := range cases {
		var tree jsontree.Tree
		if tree.Parse(c.Body) != nil {
			require.NotEqual(t, "inline", c.Op, "inline case %s must be valid JSON", c.Name)
			continue
		}
		for _, n := range tree.Nodes {
			start, end := int(n.Start), int(n.End)
			if n.Kind == jsontree.String {
				start, end = start-1, end+1
			}
			require.Equal(t, end, skipValid(c.Body, start), "%s/%s at byte %d", c.Op, c.Name, start)
			checked++
		}
	}
	assert.Greater(t, checked, 10000)
}

// Past maxItems a per-item batch still counts every item (items are no
// longer judged there).
func TestPerItemTotalPastMaxItems(t *testing.T) {
	doc, err := Compile("x", []byte(`{"type":"object","properties":{"a":{"type":"array","maxItems":1,"x-onboard-per-item":true,"items":{"type":"string"}}}}`))
	require.NoError(t, err)
	var v Validator
	v.Validate(doc.Root, []byte(`{"a":[1,2,3]}`))
	require.Len(t, v.Batches, 1)
	assert.Equal(t, 3, v.Batches[0].Total)
	require.Len(t, v.Batches[0].Failed, 1, "only the item within the cap is judged")
	require.Len(t, v.Violations, 1)
	assert.Equal(t, "maxItems", v.Violations[0].Rule)
}

// AcceptsString answers as the validator does on the encoded string,
// whenever it decides.
func TestAcceptsStringAgreesWithValidate(t *testing.T) {
	schemas := []string{
		`{"type":"string"}`,
		`{"type":"string","minLength":1,"maxLength":4}`,
		`{"type":"string","pattern":"^[A-Za-z0-9_-]{1,36}$"}`,
		`{"type":"string","pattern":"^(a|b)+$"}`,
		`{"type":"string","const":"x\u00e9"}`,
		`{"type":"string","enum":["a","b","é"]}`,
		`{"type":"string","maxLength":2,"not":{"const":"ab"}}`,
		`{"type":["string","null"],"maxLength":2}`,
	}
	values := []string{"", "a", "ab", "abc", "abcde", "xé", "é", "a b", "ab\n", "bad \xff", "日本語", strings.Repeat("z", 40)}
	var v Validator
	for _, src := range schemas {
		doc, err := Compile("x", []byte(src))
		require.NoError(t, err)
		decidedOnce := false
		for _, s := range values {
			ok, decided := doc.Root.AcceptsString(s)
			if !decided {
				continue
			}
			decidedOnce = true
			assert.Equal(t, v.Valid(doc.Root, abi.AppendString(nil, s)), ok, "%s on %q", src, s)
		}
		if !strings.Contains(src, "not") && !strings.Contains(src, "null") {
			assert.True(t, decidedOnce, "%s: a plain string schema is decided", src)
		}
	}
}

// Member names are found within the two words after their quote when they
// are short and plain (object's fast path); every length around those
// words' edges, with the input ending right after the object or not, and
// names holding an escape there, must give the verdict of the slow path.
func TestMemberNamesAtTheEdgesOfTheTwoWordScan(t *testing.T) {
	for n := 1; n <= 20; n++ {
		name := strings.Repeat("k", n)
		s := `{"type":"object","properties":{"` + name + `":{"type":"integer","maximum":1}},"additionalProperties":false}`
		doc, err := CompileWith("s.json", []byte(s), docs{}.load)
		require.NoError(t, err)
		var v Validator
		for _, tail := range []string{"", strings.Repeat(" ", 20)} {
			assert.True(t, v.Valid(doc.Root, []byte(`{"`+name+`":1}`+tail)), "name of %d bytes", n)
			v.Validate(doc.Root, []byte(`{"`+name+`":2}`+tail))
			require.Len(t, v.Violations, 1, "name of %d bytes", n)
			assert.Equal(t, "/"+name, v.Violations[0].Pointer)
			v.Validate(doc.Root, []byte(`{"`+name+`x":1}`+tail))
			require.Len(t, v.Violations, 1, "name of %d bytes plus one", n)
			assert.Equal(t, "additionalProperties", v.Violations[0].Rule)
			// The same name with its last byte escaped: the slow path.
			esc := `{"` + name[:n-1] + `\u006b":1}` + tail
			assert.True(t, v.Valid(doc.Root, []byte(esc)), "escaped name of %d bytes", n)
			// An escaped quote where the name would end: the string goes
			// on, and here never ends.
			v.Validate(doc.Root, []byte(`{"`+name[:n-1]+`\":1}`+tail))
			require.NotNil(t, v.Syntax, "escaped quote after %d bytes", n-1)
			assert.Contains(t, v.Syntax.Msg, "inside a string")
			v.Validate(doc.Root, []byte(`{"`+name+`":1,"`+name+`":1}`+tail))
			require.NotNil(t, v.Syntax, "duplicate name of %d bytes", n)
			assert.Equal(t, "duplicate-key", v.Syntax.Rule)
		}
	}
}
