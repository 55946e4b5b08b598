// Package openapi generates onboard's OpenAPI 3.1 description from the
// operations catalogue and the schema documents (never by hand). It lives
// outside package schemas so the engine, which embeds schemas, stays free
// of net/http.
package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/onboardhq/onboard/schemas"
)

// Generate generates the OpenAPI 3.1 description of every operation from the
// catalogue and the schema documents, so the API reference can never drift
// from what the engine enforces. OpenAPI 3.1 speaks JSON Schema 2020-12, so
// the documents go in unchanged except that each one's $defs are hoisted
// into components and its local "#/$defs/X" references rewritten to them.
func Generate(version string) ([]byte, error) {
	ops, err := schemas.Catalogue()
	if err != nil {
		return nil, err
	}
	components := map[string]any{}
	paths := map[string]map[string]any{}
	for _, op := range ops {
		item := paths[op.Route]
		if item == nil {
			item = map[string]any{}
			paths[op.Route] = item
		}
		method := strings.ToLower(op.Method)
		if len(op.Query) > 0 {
			// OpenAPI keys operations by path and method; EnOS tells its
			// operations apart by ?action=, so those get a path key with the
			// fixed query appended (OpenAPI allows query-like literal paths
			// only as documentation; the action parameter is also declared).
			item = paths[op.Route+"?"+fixedQuery(op.Query)]
			if item == nil {
				item = map[string]any{}
				paths[op.Route+"?"+fixedQuery(op.Query)] = item
			}
		}
		o, err := operation(op, components)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", op.ID, err)
		}
		item[method] = o
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "onboard registration APIs",
			"version": version,
			"description": "Device and agent registration APIs served by onboard: IEF products, IoTDA pre-provisioning " +
				"templates, EnOS devices, CES agent invocations and CBR agents. Generated from the operations catalogue " +
				"and the JSON Schemas the validation engine enforces.",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": components, "securitySchemes": securitySchemes()},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func fixedQuery(q map[string]string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+q[k])
	}
	return strings.Join(parts, "&")
}

func securitySchemes() map[string]any {
	return map[string]any{
		"token": map[string]any{"type": "apiKey", "in": "header", "name": "X-Auth-Token",
			"description": "Huawei-style token issued by `onboard token create --project ID`."},
		"aksk": map[string]any{"type": "apiKey", "in": "header", "name": "Authorization",
			"description": "SDK-HMAC-SHA256 request signing with an access key from `onboard key create` (X-Sdk-Date within 15 minutes)."},
		"bearer": map[string]any{"type": "http", "scheme": "bearer",
			"description": "EnOS service account token issued by `onboard token create --org ORG --account ACCOUNT`."},
	}
}

func operation(op schemas.Operation, components map[string]any) (map[string]any, error) {
	o := map[string]any{
		"operationId": op.ID,
		"tags":        []string{op.Service},
		"summary":     op.ID,
	}
	if op.Service == "enos" {
		o["security"] = []any{map[string]any{"bearer": []string{}}}
	} else {
		o["security"] = []any{map[string]any{"token": []string{}}, map[string]any{"aksk": []string{}}}
	}
	params, err := parameters(op)
	if err != nil {
		return nil, err
	}
	o["parameters"] = params
	if op.RequestSchema != "" {
		ref, err := component(op.RequestSchema, components)
		if err != nil {
			return nil, err
		}
		o["requestBody"] = map[string]any{"required": true,
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": ref}}}}
	}
	status := fmt.Sprint(op.SuccessStatus)
	success := map[string]any{"description": http.StatusText(op.SuccessStatus)}
	if op.ResponseSchema != "" {
		ref, err := component(op.ResponseSchema, components)
		if err != nil {
			return nil, err
		}
		success["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": ref}}}
	}
	errBody := map[string]any{"type": "object", "properties": map[string]any{
		"error_code": map[string]any{"type": "string"}, "error_msg": map[string]any{"type": "string"}}}
	if op.Service == "enos" {
		errBody = map[string]any{"type": "object", "properties": map[string]any{
			"code": map[string]any{"type": "integer"}, "msg": map[string]any{"type": "string"}, "requestId": map[string]any{"type": "string"}}}
	}
	errResp := func(text string) map[string]any {
		return map[string]any{"description": text, "content": map[string]any{"application/json": map[string]any{"schema": errBody}}}
	}
	o["responses"] = map[string]any{status: success,
		"400": errResp("the request breaks a documented rule; the message lists every violation with its JSON pointer"),
		"401": errResp("missing or bad credentials"), "403": errResp("the credential is for another project or org"),
		"413": errResp("the body exceeds the configured limit")}
	return o, nil
}

// parameters turns the operation's params schema into OpenAPI parameters:
// names in the route are path parameters, the rest query parameters.
func parameters(op schemas.Operation) ([]any, error) {
	var ps struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if len(op.Params) > 0 {
		if err := json.Unmarshal(op.Params, &ps); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(ps.Properties))
	for n := range ps.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	required := map[string]bool{}
	for _, r := range ps.Required {
		required[r] = true
	}
	out := []any{}
	for _, n := range names {
		var s map[string]any
		if err := json.Unmarshal(ps.Properties[n], &s); err != nil {
			return nil, err
		}
		in := "query"
		if strings.Contains(op.Route, "{"+n+"}") {
			in = "path"
		}
		p := map[string]any{"name": n, "in": in, "required": in == "path" || required[n], "schema": s}
		if d, ok := s["description"]; ok {
			p["description"] = d
		}
		out = append(out, p)
	}
	return out, nil
}

// component adds the schema document at file (and its $defs) to
// components once and returns the reference to it. References into other
// documents' $defs add those documents too.
func component(file string, components map[string]any) (string, error) {
	base := componentName(file)
	ref := "#/components/schemas/" + base
	if _, done := components[base]; done {
		return ref, nil
	}
	b, err := schemas.FS.ReadFile(file)
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	others := map[string]bool{}
	rewrite := func(v any) any { return rewriteRefs(v, file, others) }
	if defs, ok := doc["$defs"].(map[string]any); ok {
		for name, d := range defs {
			components[base+"."+name] = rewrite(d)
		}
		delete(doc, "$defs")
	}
	delete(doc, "$schema")
	delete(doc, "$id")
	components[base] = rewrite(doc)
	for other := range others {
		if _, err := component(other, components); err != nil {
			return "", err
		}
	}
	return ref, nil
}

func componentName(file string) string {
	return strings.NewReplacer("/", ".", ".json", "").Replace(file)
}

// rewriteRefs points "#/$defs/X" and "other.json#/$defs/X" at components
// and records the other documents in others.
func rewriteRefs(v any, file string, others map[string]bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "$ref" && strings.Contains(s, "#/$defs/") {
				target, def, _ := strings.Cut(s, "#/$defs/")
				doc := file
				if target != "" {
					doc = path.Join(path.Dir(file), target)
					others[doc] = true
				}
				x[k] = "#/components/schemas/" + componentName(doc) + "." + def
				continue
			}
			x[k] = rewriteRefs(val, file, others)
		}
	case []any:
		for i := range x {
			x[i] = rewriteRefs(x[i], file, others)
		}
	}
	return v
}

// DocsHTML is the API reference page: it renders /openapi.json in the
// browser, so it has nothing of its own to keep in sync.
//
//go:embed docs.html
var DocsHTML []byte
