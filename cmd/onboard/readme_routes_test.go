package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/schemas"
)

// README's Routes table lists every operation of the catalogue with its
// method and route, so a newcomer finds every route, not only the creates.
func TestReadmeListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "..", "README.md"))
	require.NoError(t, err)
	readme := string(b)
	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	var missing []string
	for _, op := range ops {
		route := op.Route
		var q []string
		for _, k := range slices.Sorted(maps.Keys(op.Query)) {
			q = append(q, k+"="+op.Query[k])
		}
		if len(q) > 0 {
			route += "?" + strings.Join(q, "&")
		}
		row := fmt.Sprintf("| `%s` | `%s %s` | %d |", op.ID, op.Method, route, op.SuccessStatus)
		if !strings.Contains(readme, row) {
			missing = append(missing, row)
		}
	}
	require.Empty(t, missing, "add these rows to README.md's Routes table:\n%s", strings.Join(missing, "\n"))
}
