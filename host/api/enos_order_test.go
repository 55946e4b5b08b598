package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnOSSearchNewestFirstPages: newest first, read by the store from
// the end of the org's index, pages through the devices in reverse
// creation order, with the org's total, whatever the product.
func TestEnOSSearchNewestFirstPages(t *testing.T) {
	forEachEnOSStore(t, 0, func(t *testing.T, e *enosEnv) {
		for _, k := range []string{"key-1", "key-2", "key-3", "key-4", "key-5"} {
			pk := "pk-a"
			if k == "key-3" {
				pk = "pk-b"
			}
			r := e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice(pk, k)))
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			require.EqualValues(t, 1, r.body["successSize"], string(r.raw))
		}
		page := func(order string, no int) ([]string, any) {
			r := e.enos("POST", "action=search&orgId="+enosOrgA, e.bare, map[string]any{"pagination": map[string]any{"pageNo": no, "pageSize": 2,
				"sorters": []any{map[string]any{"field": "createTime", "order": order}}}})
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			var keys []string
			for _, d := range r.body["data"].([]any) {
				keys = append(keys, d.(map[string]any)["deviceKey"].(string))
			}
			return keys, r.body["pagination"].(map[string]any)["totalSize"]
		}
		for _, c := range []struct {
			order string
			no    int
			want  []string
		}{
			{"DESC", 1, []string{"key-5", "key-4"}}, {"DESC", 2, []string{"key-3", "key-2"}}, {"DESC", 3, []string{"key-1"}}, {"DESC", 4, nil},
			{"ASC", 1, []string{"key-1", "key-2"}}, {"ASC", 3, []string{"key-5"}},
		} {
			keys, total := page(c.order, c.no)
			assert.Equal(t, c.want, keys, "%s page %d", c.order, c.no)
			assert.EqualValues(t, 5, total, "%s page %d: the org's total sums its products", c.order, c.no)
		}
	})
}
