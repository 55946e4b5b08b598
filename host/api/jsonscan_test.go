package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/internal/corpus"
)

func TestMemberArrayLen(t *testing.T) {
	for _, tc := range []struct {
		body string
		n    int
		ok   bool
	}{
		{`{"deviceList":[]}`, 0, true},
		{` { "deviceList" : [ 1 , 2 ,3 ] } `, 3, true},
		{`{"a":{"deviceList":[1]},"b":[[1,2],{"x":"]"}],"deviceList":[{"k":[1,2]},"x,y",null,true,-1.5e3]}`, 5, true},
		{`{"deviceList":["\"],", "\\"]}`, 2, true},
		{`{"device\u004cist":[1,2]}`, 2, true},
		{`{"deviceList":[1],"deviceList":[1,2]}`, 1, true},
		{`{"deviceList":[1,2]`, 2, true}, // unclosed object: the array is counted, the engine refuses the rest

		{``, 0, false},
		{`[]`, 0, false},
		{`{}`, 0, false},
		{`{"other":[1]}`, 0, false},
		{`{"deviceList":{}}`, 0, false},
		{`{"deviceList":null}`, 0, false},
		{`{"deviceList":[1,]}`, 0, false},
		{`{"deviceList":[,1]}`, 0, false},
		{`{"deviceList":[1 2]}`, 0, false},
		{`{"deviceList":[1,2`, 0, false},
		{`{"deviceList":["abc]}`, 0, false},
		{`{"x":1 "deviceList":[1]}`, 0, false},
		{`{"x":,"deviceList":[1]}`, 0, false},
		{`{"x" 1,"deviceList":[1]}`, 0, false},
		{`{"x":{"deviceList":[1]}`, 0, false},
	} {
		n, ok := memberArrayLen([]byte(tc.body), "deviceList")
		assert.Equal(t, tc.ok, ok, tc.body)
		assert.Equal(t, tc.n, n, tc.body)
	}
}

// On every valid JSON body of the corpus, and an escaped duplicate key, the
// count agrees with encoding/json's tokenizer (first member first).
func TestMemberArrayLenMatchesDecoding(t *testing.T) {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	bodies := [][]byte{[]byte(`{"device\u004cist":["\"]",{"a":[]}],"deviceList":[]}`)}
	for _, c := range cases {
		if c.Op == "enos.device.batch-create" {
			bodies = append(bodies, c.Body)
		}
	}
	counted := 0
	for _, body := range bodies {
		if !json.Valid(body) {
			continue
		}
		want, wantOK := referenceArrayLen(body, "deviceList")
		n, ok := memberArrayLen(body, "deviceList")
		assert.Equal(t, wantOK, ok, "%s", body)
		assert.Equal(t, want, n, "%s", body)
		if ok {
			counted++
		}
	}
	require.Greater(t, counted, 20)
}

// referenceArrayLen is memberArrayLen by encoding/json, for valid JSON.
func referenceArrayLen(body []byte, name string) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return 0, false
		}
		if key != name {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return 0, false
			}
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return 0, false
		}
		n := 0
		for dec.More() {
			var item json.RawMessage
			if dec.Decode(&item) != nil {
				return 0, false
			}
			n++
		}
		return n, true
	}
	return 0, false
}
