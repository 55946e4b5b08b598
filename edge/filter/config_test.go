package filter_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/edge/filter"
)

func TestParseConfigRefusesWhatItDoesNotKnow(t *testing.T) {
	c, err := filter.ParseConfig([]byte(`{"services":["cbr","enos"],"body_limit":2048,"report_only":true,
		"forward_normalized":["cbr.agent.register"],"operation_header":"X-Op"}`))
	require.NoError(t, err)
	assert.Equal(t, filter.Config{Services: []string{"cbr", "enos"}, BodyLimit: 2048, ReportOnly: true,
		ForwardNormalized: []string{"cbr.agent.register"}, OperationHeader: "X-Op"}, c)
	_, err = filter.ParseConfig(nil)
	require.NoError(t, err, "no configuration is the default one")

	for bad, msg := range map[string]string{
		`{"service":["cbr"]}`:                                               `unknown field "service"`,
		`{"services":["cbrr"]}`:                                             `unknown service "cbrr" (known: ief, iotda, enos, ces, cbr)`,
		`{"body_limit":-1}`:                                                 "body_limit must be positive",
		`{"body_limit":"1MiB"}`:                                             "body_limit",
		`{"forward_normalized":["cbr.agent.nope"]}`:                         `unknown operation "cbr.agent.nope"`,
		`{"forward_normalized":["cbr.agent.list"]}`:                         "takes no request body",
		`{"services":["enos"],"forward_normalized":["cbr.agent.register"]}`: "which services does not enable",
		`{"operation_header":"X Op"}`:                                       "is not a header name",
		`{} {}`:                                                             "more follows",
		`[`:                                                                 "configuration",
	} {
		_, err := filter.ParseConfig([]byte(bad))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), msg, bad)
		assert.Contains(t, err.Error(), "onboard filter: configuration", "the message says whose configuration is wrong")
	}
}

func TestReportOnlyForwardsWithTheVerdict(t *testing.T) {
	f, err := filter.New(filter.Config{ReportOnly: true, VerdictHeader: "X-V"})
	require.NoError(t, err)
	h := http.Header{"Content-Type": {"application/json"}}
	call, v := f.Head(filter.Request{Method: "POST", URI: "/v3/p1/agents", Header: h.Values, ContentLength: -1})
	require.Nil(t, v)
	v = call.Body([]byte(`{"agent":{}}`))
	require.True(t, v.Forward)
	assert.Contains(t, v.SetHeaders, [2]string{"X-V", "invalid 400 BackupService.0001"})
	assert.Contains(t, v.Log, "report-only")
	assert.Nil(t, v.Body)
}

func TestUnmatchedAndDisabledPassUntouched(t *testing.T) {
	f, err := filter.New(filter.Config{Services: []string{"enos"}})
	require.NoError(t, err)
	for _, uri := range []string{"/v3/p1/agents", "/elsewhere", "/connect-service/v2.4/devices/"} {
		call, v := f.Head(filter.Request{Method: "POST", URI: uri, Header: http.Header{}.Values, ContentLength: -1})
		assert.Nil(t, call, uri)
		assert.Equal(t, &filter.Verdict{Forward: true}, v, uri)
	}
}

func TestForwardNormalized(t *testing.T) {
	f, err := filter.New(filter.Config{ForwardNormalized: []string{"ces.agent-invocation.batch-create"}})
	require.NoError(t, err)
	h := http.Header{"Content-Type": {"application/json"}}
	call, v := f.Head(filter.Request{Method: "POST", URI: "/v3/p1/agent-invocations/batch-create", Header: h.Values, ContentLength: -1})
	require.Nil(t, v)
	body := []byte(`{"instance_ids":["1"],"invocation_type":"INSTALL"}`)
	v = call.Body(body)
	require.True(t, v.Forward, string(v.Body))
	var sent map[string]any
	require.NoError(t, json.Unmarshal(v.Body, &sent), string(v.Body))
	assert.Equal(t, "telescope", sent["invocation_target"], "the documented default is spliced in")
	assert.Contains(t, v.SetHeaders, [2]string{"Content-Length", strconv.Itoa(len(v.Body))})
}

// The body limit is the operation's, as serve applies it: a full-size
// EnOS batch (1.3 MB, under batchCreate's catalogue limit) is not a 413 at
// the edge under the default 1 MiB, while a body over the catalogue's
// limit is, and other operations keep the configured limit.
func TestBodyLimitIsTheOperations(t *testing.T) {
	f, err := filter.New(filter.Config{})
	require.NoError(t, err)
	head := func(method, uri string, n int64) (*filter.Call, *filter.Verdict) {
		return f.Head(filter.Request{Method: method, URI: uri, Header: http.Header{}.Values, ContentLength: n})
	}
	batch := "/connect-service/v2.4/devices?action=batchCreate&orgId=o1"
	call, v := head("POST", batch, 1_300_000)
	require.Nil(t, v, "a full-size batch passes the head")
	assert.Greater(t, call.BodyLimit(), int64(filter.DefaultBodyLimit))
	_, v = head("POST", batch, call.BodyLimit()+1)
	require.NotNil(t, v)
	assert.Equal(t, http.StatusRequestEntityTooLarge, v.Status)
	_, v = head("POST", "/v3/p1/agents", filter.DefaultBodyLimit+1)
	require.NotNil(t, v)
	assert.Equal(t, http.StatusRequestEntityTooLarge, v.Status)
}
