package openapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
