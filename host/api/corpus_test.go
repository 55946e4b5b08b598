package api_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/schemas"
)

var update = flag.Bool("update", false, "rewrite the HTTP golden files in testdata/golden/http")

// The create operations the corpus covers over HTTP, with their expected
// statuses. Each case runs in a project (or org) of its own, so cases never
// see each other's resources or quotas.
var corpusOps = []string{"ief.product.create", "iotda.provisioning-template.create",
	"enos.device.batch-create", "ces.agent-invocation.batch-create", "cbr.agent.register"}

// perItemArrays are the batch arrays whose items the APIs judge one by one:
// a bad item there is a per-item result inside a success, not a 400.
var perItemArrays = regexp.MustCompile(`^/(deviceList|instance_ids|invocation_ids|remote_install_meta)/\d+(/|$)`)

// volatile are response members that differ on every run: ids, times,
// generated keys and secrets. Goldens hold "<masked>" in their place.
var volatile = map[string]bool{"id": true, "template_id": true, "created_at": true, "updated_at": true,
	"create_time": true, "update_time": true, "last_active_time": true, "requestId": true, "assetId": true,
	"deviceKey": true, "invocation_id": true, "private_key": true, "certificate": true, "ca": true,
	"package": true, "identifier": true, "deviceSecret": true, "sessionKey": true, "project_id": true}

func mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if volatile[k] && val != nil && val != "" {
				x[k] = "<masked>"
			} else {
				x[k] = mask(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = mask(x[i])
		}
	}
	return v
}

// TestCorpusOverHTTP sends every request case of the five create
// operations to the real server (Wasm engine, SQLite and PostgreSQL) and
// compares status and masked body with testdata/golden/http.
func TestCorpusOverHTTP(t *testing.T) {
	cases, err := corpus.Requests()
	require.NoError(t, err)
	native, err := engine.New()
	require.NoError(t, err)
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnOSEnv(t, kind, 0)
			pub, err := x509.MarshalPKIXPublicKey(&enosKey().PublicKey)
			require.NoError(t, err)
			pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
			n := 0
			for _, c := range cases {
				if !contains(corpusOps, c.Op) {
					continue
				}
				n++
				t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
					op, _ := schemas.Lookup(c.Op)
					var r response
					if op.Service == "enos" {
						org := fmt.Sprintf("o-corpus-%d", n)
						tok := enosAccount(t, e.store, org, "sa", pubPEM)
						enosProducts(t, e.store, org, caseProductKeys(c.Body)...)
						r = e.enos("POST", "action=batchCreate&orgId="+org, tok, c.Body)
					} else {
						project := fmt.Sprintf("corpus-%d", n)
						tok := "tok-" + project
						require.NoError(t, e.store.CreateToken(context.Background(), tok,
							&store.Token{ProjectID: project, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
						r = e.do("POST", strings.Replace(op.Route, "{project_id}", project, 1), tok, c.Body)
					}
					checkCorpusStatus(t, op, c, r)
					if r.status == op.SuccessStatus {
						res := native.Run(op.ID+abi.ResponseSuffix, nil, r.raw)
						assert.Contains(t, string(res), `"valid":true`, "the response breaks its own schema: %s", res)
					}
					goldenHTTP(t, c, r)
				})
			}
			require.Greater(t, n, 100, "the corpus should drive well over a hundred requests")
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkCorpusStatus(t *testing.T, op schemas.Operation, c corpus.Case, r response) {
	// A syntax error inside an item still makes the whole body unreadable.
	syntax := map[string]bool{"json": true, "utf8": true, "depth": true, "duplicate-key": true}
	perItem := !c.Valid && perItemArrays.MatchString(c.Pointer) && !syntax[c.Rule]
	switch {
	case c.Valid || perItem:
		require.Equal(t, op.SuccessStatus, r.status, string(r.raw))
	default:
		require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	}
	if op.Service == "enos" {
		if c.Valid || perItem {
			require.EqualValues(t, 0, r.body["code"], string(r.raw))
		} else {
			require.EqualValues(t, 99400, r.body["code"], string(r.raw))
		}
	} else if !c.Valid && !perItem {
		assert.NotEmpty(t, r.body["error_code"])
		assert.Contains(t, r.body["error_msg"], c.Rule, "the message names the broken rule")
	}
	if perItem {
		assert.Contains(t, string(r.raw), strings.SplitN(strings.TrimPrefix(c.Pointer, "/"), "/", 2)[0])
	}
}

// goldenHTTP compares the status and masked body with the golden file;
// -update rewrites it.
func goldenHTTP(t *testing.T, c corpus.Case, r response) {
	var body any
	if len(r.raw) > 0 {
		require.NoError(t, json.Unmarshal(r.raw, &body))
	}
	got, err := json.MarshalIndent(map[string]any{"status": r.status, "body": mask(body)}, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join(corpus.Dir(), "golden", "http", c.Op, c.Name+".json")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test ./host/api -run TestCorpusOverHTTP -update")
	if !bytes.Equal(want, got) {
		assert.Equal(t, string(want), string(got), "golden %s differs (-update to accept)", path)
	}
}

// caseProductKeys are the productKeys a batch case names, so that its
// devices go under products that exist ("" when the body is not JSON).
func caseProductKeys(body []byte) []string {
	var req struct {
		DeviceList []struct {
			ProductKey any `json:"productKey"`
		} `json:"deviceList"`
	}
	_ = json.Unmarshal(body, &req)
	var keys []string
	for _, d := range req.DeviceList {
		if k, ok := d.ProductKey.(string); ok && k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
