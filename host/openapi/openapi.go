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
	"slices"
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
	// Operations sharing a route and method (EnOS, told apart by ?action=)
	// become one OpenAPI operation: OpenAPI keys operations by path and
	// method, and a query string in a path key names no real path.
	type group struct {
		route, method string
		ops           []schemas.Operation
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, op := range ops {
		key := op.Method + " " + op.Route
		g := byKey[key]
		if g == nil {
			g = &group{route: op.Route, method: strings.ToLower(op.Method)}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.ops = append(g.ops, op)
	}
	for _, g := range groups {
		item := paths[g.route]
		if item == nil {
			item = map[string]any{}
			paths[g.route] = item
		}
		var variants []map[string]any
		for _, op := range g.ops {
			o, err := operation(op, components)
			if err != nil {
				return nil, fmt.Errorf("openapi: %s: %w", op.ID, err)
			}
			variants = append(variants, o)
		}
		if len(variants) == 1 {
			item[g.method] = variants[0]
			continue
		}
		item[g.method] = merged(g.ops, variants)
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

// merged is the one operation of several catalogue operations that share a
// route and method. Each one's own description stays in
// x-onboard-operations (an Operation object plus x-onboard-query, its fixed
// query values); the merged operation takes the union of their parameters,
// the discriminating query parameter as an enum, and oneOf their bodies.
func merged(ops []schemas.Operation, variants []map[string]any) map[string]any {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
		variants[i]["x-onboard-query"] = op.Query
		variants[i]["summary"] = op.ID + " (" + fixedQuery(op.Query) + ")"
	}
	first := variants[0]
	o := map[string]any{
		"operationId":          commonPrefix(ids) + "." + strings.ToLower(ops[0].Method),
		"tags":                 first["tags"],
		"security":             first["security"],
		"summary":              "one of " + strings.Join(ids, ", ") + ", chosen by the query",
		"x-onboard-operations": variants,
	}
	// Parameters: the union by place and name; a fixed query value becomes
	// an enum; a parameter is required only if every operation requires it.
	var params []map[string]any
	requiredBy := map[int]int{}
	seen := map[string]int{}
	for i, v := range variants {
		for _, p := range v["parameters"].([]any) {
			pm := p.(map[string]any)
			name := pm["name"].(string)
			key := pm["in"].(string) + " " + name
			j, ok := seen[key]
			if !ok {
				j = len(params)
				seen[key] = j
				params = append(params, pm)
				if _, fixed := ops[i].Query[name]; fixed {
					params[j] = map[string]any{"name": name, "in": "query", "required": true,
						"schema":      map[string]any{"type": "string", "enum": []string{}},
						"description": "selects the operation (see x-onboard-operations)"}
				}
			}
			if value, fixed := ops[i].Query[name]; fixed {
				en := params[j]["schema"].(map[string]any)
				en["enum"] = append(en["enum"].([]string), value)
				requiredBy[j]++
			} else if pm["required"] == true {
				requiredBy[j]++
			}
		}
	}
	out := make([]any, len(params))
	for j, pm := range params {
		if pm["required"] == true && requiredBy[j] < len(variants) {
			cp := map[string]any{}
			for k, v := range pm {
				cp[k] = v
			}
			cp["required"] = false
			pm = cp
		}
		out[j] = pm
	}
	o["parameters"] = out
	// Bodies and answers: anyOf, not oneOf — the operations' schemas may
	// overlap (EnOS answers all have code and data), and the query, not the
	// body, says which one applies.
	var bodies []any
	answers := map[string][]any{}
	responses := map[string]any{}
	for _, v := range variants {
		if rb, ok := v["requestBody"].(map[string]any); ok {
			bodies = append(bodies, jsonSchema(rb))
		}
		for code, r := range v["responses"].(map[string]any) {
			rm := r.(map[string]any)
			if code < "300" {
				if rm["content"] != nil {
					answers[code] = append(answers[code], jsonSchema(rm))
				} else if responses[code] == nil {
					responses[code] = rm
				}
			} else if responses[code] == nil {
				responses[code] = rm
			}
		}
	}
	if len(bodies) > 0 {
		o["requestBody"] = map[string]any{"required": len(bodies) == len(variants),
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"anyOf": bodies}}}}
	}
	for code, schemas := range answers {
		responses[code] = map[string]any{"description": "the chosen operation's answer",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"anyOf": schemas}}}}
	}
	o["responses"] = responses
	return o
}

// jsonSchema is the application/json schema of a request body or response.
func jsonSchema(bodyOrResponse map[string]any) any {
	return bodyOrResponse["content"].(map[string]any)["application/json"].(map[string]any)["schema"]
}

func commonPrefix(ids []string) string {
	parts := strings.Split(ids[0], ".")
	n := len(parts)
	for _, id := range ids[1:] {
		other := strings.Split(id, ".")
		i := 0
		for i < n && i < len(other) && other[i] == parts[i] {
			i++
		}
		n = i
	}
	return strings.Join(parts[:n], ".")
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
	forbidden, tooLarge := "the credential is for another project or org", "the body exceeds the configured limit"
	if op.Service == "enos" {
		forbidden += ", or its service account is not registered or lacks the Device Management Service policy (99403)"
	}
	if l := op.BodyLimit; l != nil {
		tooLarge = fmt.Sprintf("the body exceeds %d bytes, or the configured limit if larger. %s", l.Bytes, l.Basis)
	}
	o["responses"] = map[string]any{status: success,
		"400": errResp("the request breaks a documented rule; the message lists every violation with its JSON pointer"),
		"401": errResp("missing or bad credentials"), "403": errResp(forbidden),
		"413": errResp(tooLarge)}
	if op.RequestSchema != "" {
		o["responses"].(map[string]any)["415"] = errResp("the body is not application/json in UTF-8")
	}
	busy := errResp("the request's admission lane (read, write or bulk) is full; nothing of the request was read or written")
	busy["headers"] = map[string]any{"Retry-After": map[string]any{"description": "seconds to wait before retrying",
		"schema": map[string]any{"type": "integer", "minimum": 1}}}
	o["responses"].(map[string]any)["429"] = busy
	return o, nil
}

// parameters turns the operation's params schema into OpenAPI parameters:
// names in the route are path parameters, the operation's Headers header
// parameters, the rest query parameters.
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
		switch {
		case strings.Contains(op.Route, "{"+n+"}"):
			in = "path"
		case slices.Contains(op.Headers, n):
			in = "header"
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
