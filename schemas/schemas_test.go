package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
)

const metaSchema2020 = "https://json-schema.org/draft/2020-12/schema"

// The keyword subset the engine compiles; anything else is rejected.
var allowedKeywords = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "$ref": true, "$comment": true,
	"title": true, "description": true, "default": true, "examples": true,
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"propertyNames": true, "minProperties": true, "maxProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minLength": true, "maxLength": true, "pattern": true, "enum": true, "const": true,
	"minimum": true, "maximum": true, "oneOf": true, "anyOf": true, "allOf": true,
	"if": true, "then": true, "else": true, "not": true,
	"x-onboard-per-item": true,
}

var (
	schemaValued      = []string{"additionalProperties", "propertyNames", "items", "not", "if", "then", "else"}
	schemaArrayValued = []string{"oneOf", "anyOf", "allOf"}
	schemaMapValued   = []string{"properties", "$defs"}
	jsonTypes         = []string{"object", "array", "string", "integer", "number", "boolean", "null"}
	defsRef           = regexp.MustCompile(`^([a-z0-9.-]+\.json)?#/\$defs/([A-Za-z0-9_]+)$`)
)

var operationIDs = []string{
	"cbr.agent.add-path",
	"cbr.agent.check",
	"cbr.agent.delete",
	"cbr.agent.list",
	"cbr.agent.register",
	"cbr.agent.remove-path",
	"cbr.agent.show",
	"cbr.agent.update",
	"ces.agent-invocation.batch-create",
	"ces.agent-invocation.list",
	"ces.agent-invocation.onboard-report",
	"enos.device.batch-create",
	"enos.device.get",
	"enos.device.list",
	"ief.product.create",
	"ief.product.delete",
	"ief.product.list",
	"ief.product.show",
	"iotda.device-ca.delete",
	"iotda.device-ca.list",
	"iotda.device-ca.onboard-revoke",
	"iotda.device-ca.show",
	"iotda.device-ca.update",
	"iotda.device-ca.upload",
	"iotda.device-ca.verify",
	"iotda.provisioning-template.create",
	"iotda.provisioning-template.delete",
	"iotda.provisioning-template.list",
	"iotda.provisioning-template.onboard-preview",
	"iotda.provisioning-template.show",
	"iotda.provisioning-template.update",
}

// createOperationIDs are the seeds' operations, which carry the full
// negative corpus; the other operations of each resource need fewer.
var createOperationIDs = []string{
	"cbr.agent.register",
	"ces.agent-invocation.batch-create",
	"enos.device.batch-create",
	"ief.product.create",
	"iotda.provisioning-template.create",
}

// services in catalogue order: one catalogue file each.
var services = []string{"ief", "iotda", "enos", "ces", "cbr"}

// Rules the engine reports that a JSON Schema oracle decoding with
// encoding/json cannot see (it accepts duplicates, replaces bad UTF-8,
// nests 10,000 deep and accepts \u0000, which PostgreSQL cannot store).
var engineOnlyRules = map[string]bool{"duplicate-key": true, "utf8": true, "depth": true, "nul": true, "ref-undeclared": true,
	// onboard template extensions, checked when a template is stored.
	"sub-syntax": true, "condition-undeclared": true, "condition-cycle": true,
	"mapping-undeclared": true, "mapping-miss": true, "select-range": true}

var knownRules = map[string]bool{
	"json": true, "utf8": true, "depth": true, "nul": true, "duplicate-key": true, "ref-undeclared": true,
	"sub-syntax": true, "condition-undeclared": true, "condition-cycle": true,
	"mapping-undeclared": true, "mapping-miss": true, "select-range": true,
	"type": true, "required": true, "minLength": true, "maxLength": true, "pattern": true,
	"enum": true, "const": true, "minItems": true, "maxItems": true, "additionalProperties": true,
	"propertyNames": true, "oneOf": true, "anyOf": true, "minimum": true, "maximum": true,
	"uniqueItems": true, "minProperties": true, "maxProperties": true, "not": true,
}

func schemaFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") && !strings.HasPrefix(p, "catalogue/") {
			files = append(files, p)
		}
		return err
	})
	require.NoError(t, err)
	require.Len(t, files, 37)
	return files
}

// decode decodes like the oracle: encoding/json, numbers kept exact.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func newCompiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = false
	for _, f := range schemaFiles(t) {
		b, err := FS.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, c.AddResource(BaseURI+f, bytes.NewReader(b)), f)
	}
	return c
}

func compile(t *testing.T, c *jsonschema.Compiler, rel string) *jsonschema.Schema {
	t.Helper()
	s, err := c.Compile(BaseURI + rel)
	require.NoError(t, err, rel)
	return s
}

func TestSchemasCompileAndMatchMetaSchema(t *testing.T) {
	c := newCompiler(t)
	meta, err := c.Compile(metaSchema2020)
	require.NoError(t, err)
	for _, f := range schemaFiles(t) {
		compile(t, c, f)
		b, _ := FS.ReadFile(f)
		doc, err := decode(b)
		require.NoError(t, err, f)
		assert.NoError(t, meta.Validate(doc), f)
		m := doc.(map[string]any)
		assert.Equal(t, metaSchema2020, m["$schema"], f)
		assert.Equal(t, BaseURI+f, m["$id"], f)
		assert.NotEmpty(t, m["title"], f)
		assert.NotEmpty(t, m["description"], f)
	}
}

// walkSchema calls fn for every subschema with its JSON pointer.
func walkSchema(ptr string, v any, fn func(ptr string, s map[string]any)) {
	s, ok := v.(map[string]any)
	if !ok {
		return
	}
	fn(ptr, s)
	esc := func(k string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(k) }
	for _, k := range schemaValued {
		if sub, ok := s[k]; ok {
			walkSchema(ptr+"/"+k, sub, fn)
		}
	}
	for _, k := range schemaArrayValued {
		if arr, ok := s[k].([]any); ok {
			for i, sub := range arr {
				walkSchema(fmt.Sprintf("%s/%s/%d", ptr, k, i), sub, fn)
			}
		}
	}
	for _, k := range schemaMapValued {
		if m, ok := s[k].(map[string]any); ok {
			for name, sub := range m {
				walkSchema(ptr+"/"+k+"/"+esc(name), sub, fn)
			}
		}
	}
}

// checkSubset reports every violation of the engine's keyword subset in
// the document at file (a path in FS; "" for a document that must be
// self-contained).
func checkSubset(file string, root map[string]any) []string {
	var bad []string
	walkSchema("", root, func(ptr string, s map[string]any) {
		for k, v := range s {
			at := ptr + "/" + k
			if !allowedKeywords[k] {
				bad = append(bad, "forbidden keyword at "+at)
				continue
			}
			switch k {
			case "type":
				if !typeSet(v) {
					bad = append(bad, "type must be a type name or an array of distinct type names at "+at)
				}
			case "$ref":
				str, _ := v.(string)
				if m := defsRef.FindStringSubmatch(str); m == nil || (m[1] != "" && file == "") {
					bad = append(bad, "$ref outside #/$defs/ or another document's #/$defs/ at "+at)
				} else if !defExists(file, root, m[1], m[2]) {
					bad = append(bad, "dangling $ref at "+at)
				}
			case "additionalProperties":
				if b, ok := v.(bool); ok && b {
					bad = append(bad, "additionalProperties must be false or a schema at "+at)
				}
			case "x-onboard-per-item":
				if v != true || s["type"] != "array" {
					bad = append(bad, "x-onboard-per-item must be true on an array schema at "+at)
				}
			case "pattern":
				str, _ := v.(string)
				if err := checkPattern(str); err != nil {
					bad = append(bad, err.Error()+" at "+at)
				}
			}
		}
	})
	return bad
}

func typeSet(v any) bool {
	if str, ok := v.(string); ok {
		return slices.Contains(jsonTypes, str)
	}
	arr, ok := v.([]any)
	seen := map[string]bool{}
	for _, e := range arr {
		str, _ := e.(string)
		if !slices.Contains(jsonTypes, str) || seen[str] {
			return false
		}
		seen[str] = true
	}
	return ok && len(arr) > 0
}

// defExists reports whether $defs/name exists in root (other == "") or in
// the document other, resolved against file's directory.
func defExists(file string, root map[string]any, other, name string) bool {
	if other != "" {
		b, err := FS.ReadFile(path.Join(path.Dir(file), other))
		if err != nil {
			return false
		}
		doc, err := decode(b)
		if err != nil {
			return false
		}
		root, _ = doc.(map[string]any)
	}
	defs, _ := root["$defs"].(map[string]any)
	_, ok := defs[name]
	return ok
}

// Patterns must mean the same in ECMA-262 and RE2: anchored, no escapes
// of letters or digits (\d, \w, \b ...), no (? groups, no backreferences.
var unportable = regexp.MustCompile(`\\[A-Za-z0-9]|\(\?|\{,`)

func checkPattern(p string) error {
	if !strings.HasPrefix(p, "^") || !strings.HasSuffix(p, "$") {
		return fmt.Errorf("pattern %q not anchored", p)
	}
	if unportable.MatchString(p) {
		return fmt.Errorf("pattern %q uses a construct outside the portable subset", p)
	}
	if _, err := regexp.Compile(p); err != nil {
		return fmt.Errorf("pattern %q: %v", p, err)
	}
	return nil
}

func checkDescriptions(root map[string]any) []string {
	var bad []string
	walkSchema("", root, func(ptr string, s map[string]any) {
		for _, k := range []string{"properties", "$defs"} {
			m, _ := s[k].(map[string]any)
			for name, sub := range m {
				d, _ := sub.(map[string]any)["description"].(string)
				if strings.TrimSpace(d) == "" {
					bad = append(bad, "no description at "+ptr+"/"+k+"/"+name)
				}
			}
		}
	})
	return bad
}

func TestKeywordSubset(t *testing.T) {
	for _, f := range schemaFiles(t) {
		b, _ := FS.ReadFile(f)
		doc, err := decode(b)
		require.NoError(t, err, f)
		for _, msg := range checkSubset(f, doc.(map[string]any)) {
			t.Errorf("%s: %s", f, msg)
		}
	}
	// The checker itself must catch what it is there to catch.
	assert.Len(t, checkSubset("", map[string]any{"properties": map[string]any{
		"format": map[string]any{"type": "string", "format": "uuid"},
		"x":      map[string]any{"type": []any{"string", "string"}, "$ref": "other.json#/$defs/A"},
		"y":      map[string]any{"type": []any{}, "$ref": "#/$defs/Missing"},
	}}), 5)
	assert.Len(t, checkSubset("iotda/x.json", map[string]any{"properties": map[string]any{
		"ok":  map[string]any{"type": []any{"string", "object"}, "$ref": "provisioning-template.create.request.json#/$defs/ParameterName"},
		"bad": map[string]any{"$ref": "provisioning-template.create.request.json#/$defs/Missing"},
	}}), 1)
}

func TestPropertiesHaveDescriptions(t *testing.T) {
	for _, f := range schemaFiles(t) {
		b, _ := FS.ReadFile(f)
		doc, _ := decode(b)
		for _, msg := range checkDescriptions(doc.(map[string]any)) {
			t.Errorf("%s: %s", f, msg)
		}
	}
}

func TestCatalogue(t *testing.T) {
	ops, err := Catalogue()
	require.NoError(t, err)
	var ids []string
	c := newCompiler(t)
	for _, op := range ops {
		ids = append(ids, op.ID)
		assert.True(t, strings.HasPrefix(op.ID, op.Service+"."), "%s: id must start with its service", op.ID)
		assert.Contains(t, []string{"GET", "POST", "PUT", "DELETE"}, op.Method, op.ID)
		assert.True(t, strings.HasPrefix(op.Route, "/"), op.ID)
		for _, rel := range []string{op.RequestSchema, op.ResponseSchema} {
			if rel == "" {
				continue
			}
			_, err := fs.Stat(FS, rel)
			require.NoError(t, err, op.ID)
			assert.True(t, strings.HasPrefix(rel, op.Service+"/"), "%s: schema %s outside its service", op.ID, rel)
			compile(t, c, rel)
		}
		if op.Method == "GET" || op.Method == "DELETE" {
			assert.Empty(t, op.RequestSchema, "%s: %s takes no body", op.ID, op.Method)
		} else {
			assert.NotEmpty(t, op.RequestSchema, "%s: %s needs a request schema", op.ID, op.Method)
		}
		assert.Contains(t, []int{200, 201, 204}, op.SuccessStatus, op.ID)
		assert.Equal(t, op.SuccessStatus == 204, op.ResponseSchema == "", "%s: exactly the 204 operations have no response schema", op.ID)
		params, err := decode(op.Params)
		require.NoError(t, err, op.ID)
		pm := params.(map[string]any)
		assert.Equal(t, "object", pm["type"], op.ID)
		assert.Equal(t, false, pm["additionalProperties"], "%s: unknown parameters must be rejected", op.ID)
		assert.Empty(t, checkSubset("", pm), op.ID)
		assert.Empty(t, checkDescriptions(pm), op.ID)
		url := BaseURI + "params/" + op.ID + ".json"
		require.NoError(t, c.AddResource(url, bytes.NewReader(op.Params)))
		ps, err := c.Compile(url)
		require.NoError(t, err, op.ID)
		good := map[string]any{}
		for _, name := range regexp.MustCompile(`\{([A-Za-z_]+)\}`).FindAllStringSubmatch(op.Route, -1) {
			assert.Contains(t, pm["required"], name[1], "%s: route parameter %s", op.ID, name[1])
			good[name[1]] = "ed202955e111444e8ced21a1bd75fc59"
		}
		// Query values arrive as strings: every parameter is a string (or a
		// const/enum of strings).
		props, _ := pm["properties"].(map[string]any)
		for name, p := range props {
			pt, _ := p.(map[string]any)["type"]
			_, isConst := p.(map[string]any)["const"]
			assert.True(t, pt == "string" || isConst, "%s: parameter %s must be a string", op.ID, name)
		}
		for k, v := range op.Query {
			good[k] = v
			assert.Contains(t, props, k, "%s: fixed query parameter %s must be declared", op.ID, k)
		}
		got, ok := Lookup(op.ID)
		assert.True(t, ok)
		assert.Equal(t, op.Route, got.Route)
		if op.Service == "enos" {
			require.NotEmpty(t, op.Query["action"], op.ID)
			good["orgId"] = "o1"
			if op.ID == "enos.device.get" {
				good["assetId"] = "a1"
			}
			assert.NoError(t, ps.Validate(good), op.ID)
			delete(good, "orgId")
			assert.Error(t, ps.Validate(good), op.ID)
			good["orgId"] = "o1"
			good["action"] = "somethingElse"
			assert.Error(t, ps.Validate(good), "%s: action is fixed", op.ID)
		} else {
			// IoTDA verify is selected by ?action_id=verify, as the SDK sends it.
			if op.ID != "iotda.device-ca.verify" {
				assert.Empty(t, op.Query, op.ID)
			}
			assert.NoError(t, ps.Validate(good), op.ID)
			bad := maps.Clone(good)
			bad["project_id"] = strings.Repeat("p", 65)
			assert.Error(t, ps.Validate(bad), op.ID)
		}
		unknown := maps.Clone(good)
		unknown["nope"] = "1"
		assert.Error(t, ps.Validate(unknown), "%s: unknown parameter", op.ID)
	}
	sort.Strings(ids)
	assert.Equal(t, operationIDs, ids)
	_, ok := Lookup("nope")
	assert.False(t, ok)
	// Operations sharing a method and route differ by their fixed query.
	seen := map[string]string{}
	for _, op := range ops {
		key := op.Method + " " + op.Route + " " + op.Query["action"]
		assert.NotContains(t, seen, key, "%s and %s are indistinguishable", op.ID, seen[key])
		seen[key] = op.ID
	}
}

// The catalogue is one file per service, loaded in a fixed order; each
// file holds only its service's operations and ids are unique across files.
func TestCatalogueFiles(t *testing.T) {
	var want []string
	for _, svc := range services {
		want = append(want, "catalogue/"+svc+".json")
	}
	assert.Equal(t, want, catalogueFiles)
	entries, err := fs.ReadDir(FS, "catalogue")
	require.NoError(t, err)
	var onDisk []string
	for _, e := range entries {
		onDisk = append(onDisk, "catalogue/"+e.Name())
	}
	assert.ElementsMatch(t, want, onDisk, "every catalogue file must be loaded")
	ops, err := Catalogue()
	require.NoError(t, err)
	seen := map[string]string{}
	i := 0
	for _, f := range catalogueFiles {
		svc := strings.TrimSuffix(path.Base(f), ".json")
		b, err := FS.ReadFile(f)
		require.NoError(t, err)
		var part []Operation
		require.NoError(t, json.Unmarshal(b, &part), f)
		require.NotEmpty(t, part, f)
		for _, op := range part {
			assert.Equal(t, svc, op.Service, "%s: %s belongs in catalogue/%s.json", f, op.ID, op.Service)
			if prev, dup := seen[op.ID]; dup {
				t.Errorf("%s: id %s already in %s", f, op.ID, prev)
			}
			seen[op.ID] = f
			// Catalogue() keeps the file order.
			if assert.Less(t, i, len(ops)) {
				assert.Equal(t, op.ID, ops[i].ID)
			}
			i++
		}
	}
	assert.Equal(t, len(ops), i)
}

// Hooks run on the operations that create a resource, as the catalogue
// records them; a 200/201 POST is not enough (searches, verify, check and
// previews are POSTs too).
func TestCatalogueHookPoints(t *testing.T) {
	ops, err := Catalogue()
	require.NoError(t, err)
	var withHook []string
	for _, op := range ops {
		if op.Hook != "" {
			assert.Equal(t, abi.BeforeCreate, op.Hook, op.ID)
			assert.Equal(t, "POST", op.Method, op.ID)
			withHook = append(withHook, op.ID)
		}
	}
	assert.Equal(t, []string{"ief.product.create", "iotda.provisioning-template.create", "iotda.device-ca.upload",
		"enos.device.batch-create", "ces.agent-invocation.batch-create", "cbr.agent.register"}, withHook)

	_, err = parseCatalogueFile("catalogue/x.json", []byte(`[{"id":"x.create","hook":"before-provision"}]`))
	assert.Error(t, err, "the bootstrap's hook point is not an operation's")
}

// A catalogue member Operation does not name (a misspelt "hook") would be
// ignored by the loader: every member must be a field of Operation.
func TestCatalogueMembersAreKnown(t *testing.T) {
	known := map[string]bool{}
	ty := reflect.TypeOf(Operation{})
	for i := range ty.NumField() {
		known[strings.Split(ty.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	for _, f := range catalogueFiles {
		b, err := FS.ReadFile(f)
		require.NoError(t, err)
		var ops []map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &ops), f)
		for _, op := range ops {
			for member := range op {
				assert.True(t, known[member], "%s: %s: unknown member %q", f, op["id"], member)
			}
		}
	}
}

func opSchema(t *testing.T, c *jsonschema.Compiler, id string, response bool) *jsonschema.Schema {
	t.Helper()
	op, ok := Lookup(id)
	require.True(t, ok, id)
	if response {
		return compile(t, c, op.ResponseSchema)
	}
	return compile(t, c, op.RequestSchema)
}

func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), p)
}

// The seeds' examples, copied verbatim (EnOS: trailing comma removed for the ok copy).
func TestDocExamples(t *testing.T) {
	c := newCompiler(t)
	td := filepath.Join("..", "testdata")
	cases := []struct {
		op, file string
		response bool
		valid    bool
	}{
		{"ief.product.create", "ok-doc-example.json", false, true},
		{"ief.product.create", "ok-doc-example.json", true, true},
		{"iotda.provisioning-template.create", "ok-doc-example-parameter-ref.json", false, true},
		{"iotda.provisioning-template.create", "ok-doc-example-custom-parameters.json", false, true},
		{"iotda.provisioning-template.create", "ok-doc-example.json", true, true},
		{"enos.device.batch-create", "ok-doc-sample.json", false, true},
		{"enos.device.batch-create", "ok-doc-sample.json", true, true},
		{"ces.agent-invocation.batch-create", "ok-doc-example.json", false, true},
		// The seed's example response is a bare array; the response table
		// (and the official SDKs) say {"invocations": [...]}. The table wins.
		{"ces.agent-invocation.batch-create", "bad-doc-sample-bare-array.json", true, false},
		{"cbr.agent.register", "ok-doc-example.json", false, true},
		{"cbr.agent.register", "ok-doc-example.json", true, true},
	}
	for _, tc := range cases {
		dir := "cases"
		if tc.response {
			dir = "responses"
		}
		p := filepath.Join(td, dir, tc.op, tc.file)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		v, err := decode(b)
		require.NoError(t, err, p)
		err = opSchema(t, c, tc.op, tc.response).Validate(v)
		if tc.valid {
			assert.NoError(t, err, p)
		} else {
			assert.Error(t, err, p)
		}
	}
	// The EnOS sample as published has a trailing comma: not JSON.
	b, err := os.ReadFile(filepath.Join(td, "cases", "enos.device.batch-create", "bad-doc-sample-trailing-comma.json"))
	require.NoError(t, err)
	assert.False(t, json.Valid(b))
}

// reportsAt tells whether santhosh's error tree has a failure of keyword
// rule at the instance location ptr (an unknown member is reported on its
// parent object).
func reportsAt(err error, rule, ptr string) bool {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	want := []string{ptr}
	if rule == "additionalProperties" {
		want = []string{path.Dir("/" + strings.TrimPrefix(ptr, "/"))}
		if want[0] == "/" {
			want[0] = ""
		}
	}
	var walk func(*jsonschema.ValidationError) bool
	walk = func(e *jsonschema.ValidationError) bool {
		if slices.Contains(want, e.InstanceLocation) && strings.Contains(e.KeywordLocation+"/", "/"+rule+"/") {
			return true
		}
		return slices.ContainsFunc(e.Causes, walk)
	}
	return walk(ve)
}

// failures lists the distinct failing keywords of a validation error: the
// leaves of the tree, with a failing oneOf or anyOf counted once.
func failures(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		kw := path.Base(e.KeywordLocation)
		switch {
		case kw == "additionalProperties":
			out = append(out, e.InstanceLocation+"/"+unknownMember(e.Message)+" "+kw)
			return
		case len(e.Causes) == 0 || kw == "oneOf" || kw == "anyOf":
			out = append(out, e.InstanceLocation+" "+kw)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

var unknownMemberRE = regexp.MustCompile(`'([^']*)'`)

// unknownMember extracts the member name from santhosh's
// "additionalProperties 'x' not allowed" message.
func unknownMember(msg string) string {
	m := unknownMemberRE.FindStringSubmatch(msg)
	if m == nil {
		return "?"
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(m[1])
}

func maxDepth(b []byte) int {
	depth, max, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			depth++
			max = maxInt(max, depth)
		case !inStr && (c == '}' || c == ']'):
			depth--
		}
	}
	return max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

type expectation struct {
	Pointer string `json:"pointer"`
	Rule    string `json:"rule"`
}

// TestRequestCases runs the corpus against an oracle (encoding/json +
// santhosh-tekuri/jsonschema): ok cases validate; bad cases that are JSON
// and not engine-only fail, at the pointer and keyword expect.json names.
func TestRequestCases(t *testing.T) {
	c := newCompiler(t)
	for _, id := range operationIDs {
		op, _ := Lookup(id)
		dir := filepath.Join("..", "testdata", "cases", id)
		if op.RequestSchema == "" {
			_, err := os.Stat(dir)
			assert.True(t, os.IsNotExist(err), "%s takes no body but has request cases", id)
			continue
		}
		t.Run(id, func(t *testing.T) {
			schema := opSchema(t, c, id, false)
			var expect map[string]expectation
			var engineOnly []string
			readJSONFile(t, filepath.Join(dir, "expect.json"), &expect)
			readJSONFile(t, filepath.Join(dir, "engine-only.json"), &engineOnly)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			var bads, oks int
			for _, e := range entries {
				name := e.Name()
				b, err := os.ReadFile(filepath.Join(dir, name))
				require.NoError(t, err)
				switch {
				case strings.HasPrefix(name, "ok-"):
					oks++
					v, err := decode(b)
					require.NoError(t, err, name)
					assert.NoError(t, schema.Validate(v), name)
				case strings.HasPrefix(name, "bad-"):
					bads++
					exp, ok := expect[name]
					if !assert.True(t, ok, "%s missing from expect.json", name) {
						continue
					}
					assert.True(t, knownRules[exp.Rule], "%s: unknown rule %q", name, exp.Rule)
					assert.Equal(t, engineOnlyRules[exp.Rule], slices.Contains(engineOnly, name), "%s: engine-only.json", name)
					assert.Equal(t, exp.Rule == "json", !json.Valid(b), "%s: rule json iff not valid JSON", name)
					switch exp.Rule {
					case "json":
						assert.Equal(t, "", exp.Pointer, name)
						continue
					case "utf8":
						assert.False(t, utf8.Valid(b), name)
					case "depth":
						assert.Equal(t, "", exp.Pointer, name)
						assert.Greater(t, maxDepth(b), 64, name)
					}
					v, err := decode(b)
					require.NoError(t, err, name)
					verr := schema.Validate(v)
					switch {
					case exp.Rule == "depth":
						// Deep nesting in a closed schema also breaks it; the
						// engine stops at depth while parsing.
					case engineOnlyRules[exp.Rule]:
						assert.NoError(t, verr, "%s: engine-only case must pass the oracle", name)
					default:
						if assert.Error(t, verr, name) {
							assert.True(t, reportsAt(verr, exp.Rule, exp.Pointer), "%s: oracle does not report %s at %q:\n%v", name, exp.Rule, exp.Pointer, verr)
							// One reason: every failure is at one location. Only IEF
							// name "" breaks two keywords there (minLength and the
							// pattern); expect.json then names the length rule.
							for _, f := range failures(verr) {
								assert.Equal(t, exp.Pointer, strings.SplitN(f, " ", 2)[0], "%s: a bad case must fail for one reason:\n%v", name, verr)
							}
						}
					}
				case name == "expect.json" || name == "engine-only.json":
				default:
					t.Errorf("unexpected file %s", name)
				}
			}
			assert.Len(t, expect, bads, "expect.json entries vs bad-*.json files")
			if slices.Contains(createOperationIDs, id) {
				assert.GreaterOrEqual(t, bads, 18)
			} else {
				assert.GreaterOrEqual(t, bads, 5)
			}
			assert.GreaterOrEqual(t, oks, 2)
		})
	}
}

func TestResponseCases(t *testing.T) {
	c := newCompiler(t)
	for _, id := range operationIDs {
		op, _ := Lookup(id)
		dir := filepath.Join("..", "testdata", "responses", id)
		if op.ResponseSchema == "" {
			_, err := os.Stat(dir)
			assert.True(t, os.IsNotExist(err), "%s has no response body but has response cases", id)
			continue
		}
		schema := opSchema(t, c, id, true)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err, id)
		var oks, bads int
		for _, e := range entries {
			name := e.Name()
			b, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			v, err := decode(b)
			require.NoError(t, err, name)
			switch {
			case strings.HasPrefix(name, "ok-"):
				oks++
				assert.NoError(t, schema.Validate(v), "%s/%s", id, name)
			case strings.HasPrefix(name, "bad-"):
				bads++
				assert.Error(t, schema.Validate(v), "%s/%s", id, name)
			default:
				t.Errorf("unexpected file %s/%s", id, name)
			}
		}
		assert.GreaterOrEqual(t, oks, 1, id)
		assert.GreaterOrEqual(t, bads, 1, id)
	}
}

var subjectNames = []string{"C", "O", "OU", "dnQualifier", "ST", "CN", "serialNumber"}

// Resolution cases: the template bodies are all schema-valid, so a bad case
// fails only when the certificate subject is applied.
func TestResolveCases(t *testing.T) {
	c := newCompiler(t)
	body, err := c.Compile(BaseURI + "iotda/provisioning-template.create.request.json#/$defs/TemplateBody")
	require.NoError(t, err)
	dir := filepath.Join("..", "testdata", "resolve")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var oks, bads int
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "ok-"):
			oks++
		case strings.HasPrefix(name, "bad-"):
			bads++
		default:
			t.Errorf("unexpected file %s", name)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		v, err := decode(b)
		require.NoError(t, err, name)
		m := v.(map[string]any)
		assert.Len(t, m, 2, name)
		assert.NoError(t, body.Validate(m["template_body"]), name)
		subject, ok := m["subject"].(map[string]any)
		require.True(t, ok, name)
		for k, sv := range subject {
			assert.Contains(t, subjectNames, k, name)
			assert.IsType(t, "", sv, name)
		}
	}
	assert.GreaterOrEqual(t, oks, 6)
	assert.GreaterOrEqual(t, bads, 6)
}

// Header parameters (Instance-Id, ief-instance-id) are declared in the
// params schema with a length bound, so the engine checks them like path
// and query parameters; a default content type is JSON in UTF-8.
func TestHeaderParametersAreDeclared(t *testing.T) {
	ops, err := Catalogue()
	require.NoError(t, err)
	seen := 0
	for _, op := range ops {
		var params struct {
			Properties map[string]struct {
				MaxLength *int `json:"maxLength"`
			} `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(op.Params, &params), op.ID)
		for _, h := range op.Headers {
			seen++
			p, ok := params.Properties[h]
			if assert.True(t, ok, "%s: header %s is not in params", op.ID, h) {
				assert.NotNil(t, p.MaxLength, "%s: header %s has no maxLength", op.ID, h)
			}
			assert.NotContains(t, op.Route, "{"+h+"}", "%s: %s is a path parameter", op.ID, h)
		}
		if op.DefaultContentType != "" {
			assert.NotEmpty(t, op.RequestSchema, "%s: a default content type without a body", op.ID)
			assert.Equal(t, "application/json; charset=UTF-8", op.DefaultContentType, op.ID)
		}
	}
	assert.Equal(t, 17, seen, "every IoTDA and IEF operation reads its instance header")
}
