package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/internal/corpus"
)

const templatesPath = "/v5/iot/" + projA + "/provisioning-templates"

func templateNamed(t *testing.T, name string) map[string]any {
	raw, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "iotda.provisioning-template.create", "ok-doc-example-custom-parameters.json"))
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body))
	body["template_name"] = name
	return body
}

func TestIoTDATemplateLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		doc, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "iotda.provisioning-template.create", "ok-doc-example-parameter-ref.json"))
		require.NoError(t, err)
		r := e.do("POST", templatesPath, e.tokenA, doc, "Instance-Id", "inst-1")
		require.Equal(t, http.StatusCreated, r.status, string(r.raw))
		assert.Regexp(t, `^[0-9a-f]{24}$`, r.body["template_id"])
		assert.Regexp(t, `^\d{8}T\d{6}Z$`, r.body["create_time"])
		assert.Equal(t, "myTemplate", r.body["template_name"])
		id := r.body["template_id"].(string)

		dup := e.do("POST", templatesPath, e.tokenA, doc, "Instance-Id", "inst-1")
		assert.Equal(t, http.StatusConflict, dup.status, string(dup.raw))

		show := e.do("GET", templatesPath+"/"+id, e.tokenA, nil, "Instance-Id", "inst-1")
		require.Equal(t, http.StatusOK, show.status, string(show.raw))
		assert.NotNil(t, show.body["template_body"])
		// Templates are scoped to their instance.
		assert.Equal(t, http.StatusNotFound, e.do("GET", templatesPath+"/"+id, e.tokenA, nil, "Instance-Id", "inst-2").status)

		upd := e.do("PUT", templatesPath+"/"+id, e.tokenA, map[string]any{"description": "updated"}, "Instance-Id", "inst-1")
		require.Equal(t, http.StatusOK, upd.status, string(upd.raw))
		assert.Equal(t, "updated", upd.body["description"])

		del := e.do("DELETE", templatesPath+"/"+id, e.tokenA, nil, "Instance-Id", "inst-1")
		assert.Equal(t, http.StatusNoContent, del.status, string(del.raw))
		assert.Equal(t, http.StatusNotFound, e.do("GET", templatesPath+"/"+id, e.tokenA, nil, "Instance-Id", "inst-1").status)
	})
}

func TestIoTDATemplateQuotaUnderConcurrency(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		var wg sync.WaitGroup
		statuses := make([]int, 20)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.do("POST", templatesPath, e.tokenA, templateNamed(t, fmt.Sprintf("tpl-%02d", i)), "Instance-Id", "inst-q").status
			}()
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			if s == http.StatusCreated {
				created++
			} else {
				assert.Equal(t, http.StatusBadRequest, s)
			}
		}
		assert.Equal(t, 10, created, "an instance can have at most 10 templates")
		over := e.do("POST", templatesPath, e.tokenA, templateNamed(t, "one-more"), "Instance-Id", "inst-q")
		assert.Equal(t, "IOTDA.014016", over.body["error_code"], string(over.raw))
		assert.Contains(t, over.body["error_msg"], "10")
		// Another instance has its own quota.
		other := e.do("POST", templatesPath, e.tokenA, templateNamed(t, "elsewhere"), "Instance-Id", "inst-other")
		assert.Equal(t, http.StatusCreated, other.status, string(other.raw))

		// Marker paging walks all ten exactly once.
		seen := map[string]bool{}
		marker := ""
		for page := 0; page < 5; page++ {
			path := templatesPath + "?limit=4"
			if marker != "" {
				path += "&marker=" + marker
			}
			r := e.do("GET", path, e.tokenA, nil, "Instance-Id", "inst-q")
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			items := r.body["templates"].([]any)
			for _, it := range items {
				seen[it.(map[string]any)["template_id"].(string)] = true
			}
			marker, _ = r.body["page"].(map[string]any)["marker"].(string)
			if len(items) < 4 {
				break
			}
		}
		assert.Len(t, seen, 10)
	})
}

func TestIoTDARejectsUndeclaredRef(t *testing.T) {
	e := newEnv(t, "sqlite")
	body := templateNamed(t, "bad-ref")
	body["template_body"].(map[string]any)["resources"].(map[string]any)["device"].(map[string]any)["node_id"] =
		map[string]any{"ref": "iotda::certificate::serial_number"}
	params := body["template_body"].(map[string]any)["parameters"].(map[string]any)
	delete(params, "iotda::certificate::serial_number")
	r := e.do("POST", templatesPath, e.tokenA, body)
	assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	assert.Equal(t, "IOTDA.000006", r.body["error_code"])
	assert.Contains(t, r.body["error_msg"], "ref-undeclared")
}
