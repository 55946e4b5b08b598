package openapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/schemas"
)

// The generated description covers every catalogue operation once, and
// every reference in it resolves inside the document.
func TestOpenAPI(t *testing.T) {
	b, err := Generate("test")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, "3.1.0", doc["openapi"])

	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	seen := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		assert.NotContains(t, path, "?", "a path key names a path, not a query")
		for _, o := range item.(map[string]any) {
			om := o.(map[string]any)
			id := om["operationId"].(string)
			assert.False(t, seen[id], "operationId %s twice", id)
			busy, ok := om["responses"].(map[string]any)["429"].(map[string]any)
			if assert.True(t, ok, "%s: every operation may be refused by its admission lane", id) {
				assert.Contains(t, busy["headers"], "Retry-After", id)
			}
			seen[id] = true
			// Operations that share a path and method are described
			// one by one in x-onboard-operations.
			variants, _ := om["x-onboard-operations"].([]any)
			for _, v := range variants {
				vid := v.(map[string]any)["operationId"].(string)
				assert.False(t, seen[vid], "operationId %s twice", vid)
				seen[vid] = true
				assert.NotEmpty(t, v.(map[string]any)["x-onboard-query"], vid)
			}
		}
	}
	for _, op := range ops {
		assert.True(t, seen[op.ID], "operation %s missing from the OpenAPI document", op.ID)
	}
	components := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				name, found := strings.CutPrefix(ref, "#/components/schemas/")
				require.True(t, found, "reference %s does not point at components", ref)
				require.Contains(t, components, name, "dangling reference %s", ref)
			}
			for _, val := range x {
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	walk(doc)
}

// A merged operation (several catalogue operations on one path and method)
// must accept every valid request and answer of each of them: its bodies
// are alternatives, not exclusive choices.
func TestMergedOperationsAcceptEachOperationsBodies(t *testing.T) {
	b, err := Generate("test")
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	const base = "https://onboard.test/openapi.json"
	require.NoError(t, c.AddResource(base, bytes.NewReader(b)))
	var doc struct {
		Paths map[string]map[string]struct {
			Variants []struct {
				OperationID string `json:"operationId"`
			} `json:"x-onboard-operations"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	reqs, err := corpus.Requests()
	require.NoError(t, err)
	resps, err := corpus.Responses()
	require.NoError(t, err)
	merged := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			if len(op.Variants) == 0 {
				continue
			}
			merged++
			at := base + "#/paths/" + esc.Replace(path) + "/" + method
			body, err := c.Compile(at + "/requestBody/content/application~1json/schema")
			require.NoError(t, err)
			answer, err := c.Compile(at + "/responses/200/content/application~1json/schema")
			require.NoError(t, err)
			for _, v := range op.Variants {
				checked := 0
				for _, set := range []struct {
					cases  []corpus.Case
					schema *jsonschema.Schema
				}{{reqs, body}, {resps, answer}} {
					for _, cs := range set.cases {
						if cs.Op != v.OperationID || !cs.Valid {
							continue
						}
						var val any
						d := json.NewDecoder(bytes.NewReader(cs.Body))
						d.UseNumber()
						require.NoError(t, d.Decode(&val))
						assert.NoError(t, set.schema.Validate(val), "%s/%s", cs.Op, cs.Name)
						checked++
					}
				}
				assert.Positive(t, checked, v.OperationID)
			}
		}
	}
	assert.Positive(t, merged, "the EnOS operations sharing POST /devices are merged")
}
