package engine_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
)

// extTemplate wraps an expression for node_id in an extended template that
// declares CN, OU (default "ou-default") and conditions over them.
func extTemplate(nodeID string) string {
	return `{"onboard::extensions":"v1",
	"parameters":{"iotda::certificate::common_name":{"type":"String"},
		"iotda::certificate::organizational_unit":{"type":"String","onboard::default":"ou-default"}},
	"onboard::conditions":{
		"IsLab":{"onboard::equals":[{"ref":"iotda::certificate::organizational_unit"},"lab"]},
		"IsA":{"onboard::equals":[{"onboard::select":{"index":0,"from":{"onboard::split":{"separator":"-","value":{"ref":"iotda::certificate::common_name"}}}}},"a"]},
		"LabOrA":{"onboard::or":[{"onboard::condition":"IsLab"},{"onboard::condition":"IsA"}]},
		"LabAndA":{"onboard::and":[{"onboard::condition":"IsLab"},{"onboard::condition":"IsA"}]},
		"NotLab":{"onboard::not":{"onboard::condition":"IsLab"}}},
	"onboard::mappings":{"M":{"a":{"f":"from-map"}}},
	"resources":{"device":{"node_id":` + nodeID + `,"product_id":"p1"}}}`
}

func TestTemplateExpressions(t *testing.T) {
	e := newEngine(t)
	ifc := func(cond string) string {
		return `{"onboard::if":{"condition":"` + cond + `","then":"yes","else":"no"}}`
	}
	for _, tc := range []struct {
		name, nodeID, subject string
		want, rule            string // want: resolved node_id; rule: expected violation
	}{
		{"literal", `"n1"`, `{"CN":"a-1"}`, "n1", ""},
		{"ref", `{"ref":"iotda::certificate::common_name"}`, `{"CN":"a-1"}`, "a-1", ""},
		{"default", `{"ref":"iotda::certificate::organizational_unit"}`, `{"CN":"a-1"}`, "ou-default", ""},
		{"subject beats default", `{"ref":"iotda::certificate::organizational_unit"}`, `{"CN":"a-1","OU":"x"}`, "x", ""},
		{"join", `{"onboard::join":{"separator":"/","values":["x",{"ref":"iotda::certificate::common_name"},""]}}`, `{"CN":"a-1"}`, "x/a-1/", ""},
		{"join split", `{"onboard::join":{"separator":"+","values":{"onboard::split":{"separator":"-","value":"a-b-c"}}}}`, `{}`, "a+b+c", ""},
		{"select last", `{"onboard::select":{"index":-1,"from":{"onboard::split":{"separator":"-","value":"a-b-c"}}}}`, `{}`, "c", ""},
		{"select first of literal list", `{"onboard::select":{"index":0,"from":["x","y"]}}`, `{}`, "x", ""},
		{"select out of range", `{"onboard::select":{"index":-4,"from":{"onboard::split":{"separator":"-","value":"a-b-c"}}}}`, `{}`, "", "select-range"},
		{"sub short form", `{"onboard::sub":"${iotda::certificate::common_name}.${!literal}"}`, `{"CN":"a-1"}`, "a-1.${literal}", ""},
		{"variable names cannot shadow parameters", `{"onboard::sub":{"template":"${iotda::certificate::common_name}|${v}","variables":{"v":"w","iotda::certificate::common_name":"z"}}}`, `{"CN":"a-1"}`, "", "propertyNames"},
		{"sub variables", `{"onboard::sub":{"template":"${v}-${v}","variables":{"v":{"ref":"iotda::certificate::common_name"}}}}`, `{"CN":"a-1"}`, "a-1-a-1", ""},
		{"sub missing parameter", `{"onboard::sub":"${iotda::certificate::common_name}"}`, `{}`, "", "missing-parameter"},
		{"if true", ifc("IsA"), `{"CN":"a-1"}`, "yes", ""},
		{"if false", ifc("IsA"), `{"CN":"b-1"}`, "no", ""},
		{"or", ifc("LabOrA"), `{"CN":"b-1","OU":"lab"}`, "yes", ""},
		{"or neither", ifc("LabOrA"), `{"CN":"b-1"}`, "no", ""},
		{"and", ifc("LabAndA"), `{"CN":"a-1","OU":"lab"}`, "yes", ""},
		{"and one", ifc("LabAndA"), `{"CN":"a-1"}`, "no", ""},
		{"not", ifc("NotLab"), `{"CN":"a-1"}`, "yes", ""},
		{"if evaluates only its branch", `{"onboard::if":{"condition":"IsA","then":"ok","else":{"onboard::find_in_map":{"map":"M","key":{"ref":"iotda::certificate::common_name"},"field":"f"}}}}`, `{"CN":"a-1"}`, "ok", ""},
		{"map", `{"onboard::find_in_map":{"map":"M","key":{"onboard::select":{"index":0,"from":{"onboard::split":{"separator":"-","value":{"ref":"iotda::certificate::common_name"}}}}},"field":"f"}}`, `{"CN":"a-1"}`, "from-map", ""},
		{"map default", `{"onboard::find_in_map":{"map":"M","key":{"ref":"iotda::certificate::common_name"},"field":"f","default":"d"}}`, `{"CN":"b-1"}`, "d", ""},
		{"map miss", `{"onboard::find_in_map":{"map":"M","key":{"ref":"iotda::certificate::common_name"},"field":"f"}}`, `{"CN":"b-1"}`, "", "mapping-miss"},
		{"map missing field", `{"onboard::find_in_map":{"map":"M","key":"a","field":"g"}}`, `{}`, "", "mapping-miss"},
		{"unicode survives", `{"ref":"iotda::certificate::common_name"}`, `{"CN":"设备-1 \"q\""}`, "设备-1 \"q\"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"template_body":` + extTemplate(tc.nodeID) + `,"subject":` + tc.subject + `}`
			res, _ := run(t, e, abi.OpResolve, []byte(body))
			if tc.rule != "" {
				require.False(t, res.Valid)
				require.NotEmpty(t, res.Violations)
				assert.Equal(t, tc.rule, res.Violations[0].Rule, "%v", res.Violations)
				return
			}
			require.True(t, res.Valid, "%v", res.Violations)
			assert.Equal(t, tc.want, res.Device.NodeID)
		})
	}
}

// A template opts in explicitly; without the marker the IoTDA tables hold
// exactly, and the engine says how to opt in.
func TestTemplateExtensionsNeedTheMarker(t *testing.T) {
	e := newEngine(t)
	body := extTemplate(`"n1"`)
	plain := strings.Replace(body, `"onboard::extensions":"v1",`, "", 1)
	res, _ := run(t, e, "iotda.provisioning-template.create", []byte(`{"template_name":"t","template_body":`+body+`}`))
	assert.True(t, res.Valid, "%v", res.Violations)
	res, _ = run(t, e, "iotda.provisioning-template.create", []byte(`{"template_name":"t","template_body":`+plain+`}`))
	require.False(t, res.Valid)
	first := res.Violations[0]
	assert.Equal(t, "extensions-not-enabled", first.Rule, "the hint comes first: it explains the unknown members after it")
	assert.Contains(t, first.Message, `"onboard::extensions": "v1"`)
	assert.Greater(t, len(res.Violations), 1)
	// A plain IoTDA template never gets the hint.
	res, _ = run(t, e, "iotda.provisioning-template.create", []byte(`{"template_name":"t","template_body":{"parameters":{},"resources":{"device":{"node_id":{"ref":"x"},"product_id":"p"}}}}`))
	require.False(t, res.Valid)
	for _, v := range res.Violations {
		assert.NotEqual(t, "extensions-not-enabled", v.Rule)
	}
}

// Expressions nest and repeat: every intermediate value is bounded, and a
// named condition is evaluated once however often it is used.
func TestTemplateEvaluationIsBounded(t *testing.T) {
	e := newEngine(t)
	x := `{"ref":"iotda::certificate::common_name"}`
	for i := 0; i < 6; i++ {
		x = `{"onboard::sub":{"template":"${v}${v}${v}${v}${v}${v}${v}${v}","variables":{"v":` + x + `}}}`
	}
	body := `{"template_body":` + extTemplate(x) + `,"subject":{"CN":"` + strings.Repeat("c", 200) + `"}}`
	res, _ := run(t, e, abi.OpResolve, []byte(body))
	require.False(t, res.Valid)
	assert.Equal(t, "too-long", res.Violations[0].Rule)

	// The cap holds for text after the last placeholder, for ${!…}
	// literals and for a subject value itself.
	cn := strings.Repeat("c", 2048)
	join := `{"onboard::join":{"separator":"","values":[{"ref":"iotda::certificate::common_name"},{"ref":"iotda::certificate::common_name"}]}}`
	for name, nodeID := range map[string]string{
		"tail":     `{"onboard::sub":{"template":"${v}` + strings.Repeat("y", 1000) + `","variables":{"v":` + join + `}}}`,
		"literals": `{"onboard::sub":{"template":"${v}` + strings.Repeat("${!a}", 200) + `","variables":{"v":` + join + `}}}`,
	} {
		res, _ = run(t, e, abi.OpResolve, []byte(`{"template_body":`+extTemplate(nodeID)+`,"subject":{"CN":"`+cn+`"}}`))
		require.False(t, res.Valid, name)
		assert.Equal(t, "too-long", res.Violations[0].Rule, name)
	}
	res, _ = run(t, e, abi.OpResolve, []byte(`{"template_body":`+extTemplate(`{"ref":"iotda::certificate::common_name"}`)+
		`,"subject":{"CN":"`+strings.Repeat("c", 5000)+`"}}`))
	require.False(t, res.Valid)
	assert.Equal(t, "too-long", res.Violations[0].Rule)

	// 30 conditions, each the "and" of the one before twice: 2^30 visits
	// without memoising.
	conds := map[string]any{"C0": map[string]any{"onboard::equals": []any{"a", "a"}}}
	for i := 1; i < 30; i++ {
		prev := map[string]any{"onboard::condition": "C" + itoa(i-1)}
		conds["C"+itoa(i)] = map[string]any{"onboard::and": []any{prev, prev}}
	}
	tb := map[string]any{}
	require.NoError(t, json.Unmarshal([]byte(extTemplate(`{"onboard::if":{"condition":"C29","then":"deep","else":"no"}}`)), &tb))
	tb["onboard::conditions"] = conds
	b, err := json.Marshal(map[string]any{"template_body": tb, "subject": map[string]any{"CN": "a"}})
	require.NoError(t, err)
	res, _ = run(t, e, abi.OpResolve, b)
	require.True(t, res.Valid, "%v", res.Violations)
	assert.Equal(t, "deep", res.Device.NodeID)
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// FuzzResolve feeds mutated resolution cases (IoTDA and extended
// templates, with subjects) to the resolver: it must not panic, must write
// a JSON result, and a device it resolves must meet the IoTDA field rules.
func FuzzResolve(f *testing.F) {
	cases, err := corpus.Resolutions()
	require.NoError(f, err)
	for _, c := range cases {
		f.Add(c.Body)
	}
	e := newEngine(f)
	productID := regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)
	tagKey := regexp.MustCompile(`^[A-Za-z0-9_.-]{0,64}$`) // TagRef.tag_key is optional (Table 8)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := abi.DecodeResult(e.Run(abi.OpResolve, nil, body))
		require.NoError(t, err)
		if !res.Valid {
			require.NotEmpty(t, res.Violations)
			return
		}
		require.NotNil(t, res.Device)
		assert.Regexp(t, productID, res.Device.ProductID)
		for _, tag := range res.Device.Tags {
			assert.Regexp(t, tagKey, tag.Key)
		}
	})
}

// docs/templates.md's example stays true: the template is valid and
// resolves to the table under it.
func TestTemplatesDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(corpus.Dir(), "..", "docs", "templates.md"))
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```json\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, block, "docs/templates.md has no json example")
	e := newEngine(t)
	res, _ := run(t, e, "iotda.provisioning-template.create", block[1])
	require.True(t, res.Valid, "%v", res.Violations)
	var create struct {
		TemplateBody json.RawMessage `json:"template_body"`
	}
	require.NoError(t, json.Unmarshal(block[1], &create))
	for subject, want := range map[string][2]string{
		`{"C":"CN","OU":"factory-7","CN":"line-a_0001","serialNumber":"SN0001"}`: {"factory-7-line-a_0001", "cn-prod"},
		`{"CN":"line-z_0002","serialNumber":"SN0002"}`:                           {"unassigned-line-z_0002", "cn-prod"},
		`{"C":"CN","OU":"lab","CN":"line-b_0003","serialNumber":"SN0003"}`:       {"lab-line-b_0003", "other"},
	} {
		res, _ := run(t, e, abi.OpResolve, []byte(`{"template_body":`+string(create.TemplateBody)+`,"subject":`+subject+`}`))
		require.True(t, res.Valid, "%s: %v", subject, res.Violations)
		assert.Equal(t, want[0], res.Device.NodeID, subject)
		assert.Equal(t, want[1], res.Device.Tags[0].Value, subject)
		assert.Contains(t, string(doc), "`"+want[0]+"`", "the table shows the node_id")
	}
}
