package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/schemas"
)

// verdict is what one path made of a request body: refused as a whole, or
// accepted with some batch items refused (by index, per batch array).
type verdict struct {
	Refused bool
	Items   map[string][]int
}

func (v verdict) String() string {
	if v.Refused {
		return "refused"
	}
	return fmt.Sprintf("accepted, items refused: %v", v.Items)
}

// invalidCodes are the codes each service answers a broken rule with:
// the request's code, and a batch item's.
var invalidCodes = map[string]struct{ request, item string }{
	"ief": {"IEF.100001", ""}, "iotda": {"IOTDA.000006", ""}, "ces": {"ces.0014", "invocationmgr.0400"},
	"cbr": {"BackupService.0001", ""}, "enos": {"99400", "99400"},
}

// TestValidateAndServeAgree runs every request case of the corpus through
// `onboard validate` and a running `onboard serve` and requires the same
// verdict: one rule, one place. The server may refuse for more than the
// shape (a resource that does not exist, a credential without a key): such
// an answer counts as the body accepted.
func TestValidateAndServeAgree(t *testing.T) {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	dataDir := t.TempDir()
	lines := startServe(t, dataDir)
	base := listening(t, lines)
	drain(lines)
	token := func(args ...string) string {
		code, out, errOut := onboard(t, "", append([]string{"token", "create", "--json", "--data-dir", dataDir}, args...)...)
		require.Equal(t, exitOK, code, errOut)
		var tok struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(out), &tok))
		return tok.Token
	}
	code, _, errOut := onboard(t, "", "account", "create", "--org", "o1", "--account", "sa1", "--data-dir", dataDir)
	require.Equal(t, exitOK, code, errOut)
	huawei, enos := token("--project", "p1"), token("--org", "o1", "--account", "sa1")
	rt, err := host.New(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close(context.Background()) })

	n := 0
	for _, c := range cases {
		op, ok := schemas.Lookup(c.Op)
		require.True(t, ok, c.Op)
		n++
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			t.Parallel() // validate's engine start-up dominates; use every core
			cli := validateVerdict(t, rt, c)
			srv := serveVerdict(t, base, op, c, huawei, enos)
			assert.Equal(t, cli, srv, "validate says %s, serve says %s", cli, srv)
			assert.Equal(t, !c.Valid, cli.Refused || len(cli.Items) > 0, "the case's own verdict")
		})
	}
	require.Greater(t, n, 400, "every request case of the corpus")
}

// validateVerdict is `onboard validate --json` past its engine start-up,
// which the cases share (starting one engine per case cost most of the
// test's time).
func validateVerdict(t *testing.T, rt *host.Runtime, c corpus.Case) verdict {
	t.Helper()
	var out, errOut bytes.Buffer
	code := validateBody(t.Context(), rt, c.Op, "", c.Path, c.Body, true, &out, &errOut)
	require.Contains(t, []int{exitOK, exitInvalid}, code, errOut.String())
	res, err := abi.DecodeResult(out.Bytes())
	require.NoError(t, err, out)
	v := verdict{Refused: !res.Accepted(), Items: map[string][]int{}}
	if v.Refused {
		v.Items = nil
		return v
	}
	for _, b := range res.Batches {
		for _, f := range b.Failed {
			v.Items[b.Pointer] = append(v.Items[b.Pointer], f.Index)
		}
	}
	return v
}

func serveVerdict(t *testing.T, base string, op schemas.Operation, c corpus.Case, huawei, enos string) verdict {
	t.Helper()
	path := op.Route
	for _, seg := range strings.Split(op.Route, "/") {
		if strings.HasPrefix(seg, "{") {
			id := "parity-missing"
			if seg == "{project_id}" {
				id = "p1"
			}
			path = strings.Replace(path, seg, id, 1)
		}
	}
	q := url.Values{}
	for k, v := range op.Query {
		q.Set(k, v)
	}
	if op.Service == "enos" {
		q.Set("orgId", "o1")
		path += "?" + q.Encode()
	} else if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := http.NewRequest(op.Method, base+path, bytes.NewReader(c.Body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if op.Service == "enos" {
		req.Header.Set("Authorization", "Bearer "+enos)
	} else {
		req.Header.Set("X-Auth-Token", huawei)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body), "%d %s", resp.StatusCode, raw)
	codes := invalidCodes[op.Service]
	code := fmt.Sprint(body["error_code"])
	if op.Service == "enos" {
		code = fmt.Sprint(body["code"])
	}
	if resp.StatusCode == http.StatusBadRequest && code == codes.request {
		return verdict{Refused: true}
	}
	// Anything else got past the shape: a 201, a 404 for a made-up id, an
	// EnOS 11858 for an account without a public key.
	v := verdict{Items: map[string][]int{}}
	if resp.StatusCode != op.SuccessStatus || codes.item == "" {
		return v
	}
	// Per-item results of the batch operations.
	var items []any
	var pointer string
	switch op.ID {
	case "ces.agent-invocation.batch-create":
		items, _ = body["invocations"].([]any)
		pointer = cesItemsPointer(c.Body)
	case "enos.device.batch-create":
		items, _ = body["data"].([]any)
		pointer = "/deviceList"
	}
	for i, it := range items {
		m, _ := it.(map[string]any)
		got := fmt.Sprint(m["error_code"])
		if op.Service == "enos" {
			got = fmt.Sprint(m["code"])
		}
		if got == codes.item {
			v.Items[pointer] = append(v.Items[pointer], i)
		}
	}
	return v
}

// cesItemsPointer is the array a CES batch's items come from, by type.
func cesItemsPointer(body []byte) string {
	var req struct {
		Type string `json:"invocation_type"`
	}
	_ = json.Unmarshal(body, &req)
	switch {
	case slices.Contains([]string{"ROLLBACK", "RETRY"}, req.Type):
		return "/invocation_ids"
	case req.Type == "REMOTE_INSTALL":
		return "/remote_install_meta"
	}
	return "/instance_ids"
}
