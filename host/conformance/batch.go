package conformance

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/onboardhq/onboard/abi"
)

// failedItems is the set of batch items the engine rejects on their own
// (every batch array of the body).
func failedItems(v *abi.Result) map[int]bool {
	out := map[int]bool{}
	for _, b := range v.Batches {
		for _, f := range b.Failed {
			out[f.Index] = true
		}
	}
	return out
}

// failedAt is the set of failed items of the batch array at pointer.
func failedAt(v *abi.Result, pointer string) map[int]bool {
	out := map[int]bool{}
	for _, b := range v.Batches {
		if b.Pointer == pointer {
			for _, f := range b.Failed {
				out[f.Index] = true
			}
		}
	}
	return out
}

var cesItemCode = regexp.MustCompile(`^invocationmgr\.[0-9]{4}$`)

// perItem checks the per-item results of a batch response to body: one
// result per item, in order; items the engine rejects are answered with an
// error, the others (EnOS) with code 0.
func (r *runner) perItem(op string, body []byte, p *reply) error {
	v := r.verdict(op, body)
	switch op {
	case "enos.device.batch-create":
		var req struct {
			DeviceList []json.RawMessage `json:"deviceList"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return fmt.Errorf("kit: %w", err)
		}
		failed := failedAt(v, "/deviceList")
		n := len(req.DeviceList)
		data, _ := list(p.obj, "data")
		total, _ := num(p.obj, "totalSize")
		if len(data) != n || total != n {
			return fmt.Errorf("per-item results: %d devices sent, data has %d results, totalSize %d", n, len(data), total)
		}
		success := 0
		for i, it := range data {
			code, ok := num(it, "code")
			switch {
			case !ok:
				return fmt.Errorf("per-item results: data[%d] has no code", i)
			case failed[i] && code == 0:
				return fmt.Errorf("per-item results: device %d breaks a rule but data[%d] has code 0", i, i)
			case !failed[i] && code != 0:
				return fmt.Errorf("per-item results: device %d is valid (and its keys unique) but data[%d] has code %d: %s", i, i, code, str(it, "msg"))
			}
			if code == 0 {
				success++
			}
		}
		if got, _ := num(p.obj, "successSize"); got != success {
			return fmt.Errorf("per-item results: successSize %d, but %d items have code 0", got, success)
		}
	case "ces.agent-invocation.batch-create":
		var req map[string]json.RawMessage
		if err := json.Unmarshal(body, &req); err != nil {
			return fmt.Errorf("kit: %w", err)
		}
		var typ string
		_ = json.Unmarshal(req["invocation_type"], &typ)
		field := cesItems(typ)
		var items []json.RawMessage
		_ = json.Unmarshal(req[field], &items)
		got, _ := list(p.obj, "invocations")
		if len(got) != len(items) {
			return fmt.Errorf("per-item results: %s has %d items, invocations has %d results", field, len(items), len(got))
		}
		for i := range failedAt(v, "/"+field) {
			if st, code := str(got[i], "ret_status"), str(got[i], "error_code"); st != "error" || !cesItemCode.MatchString(code) {
				return fmt.Errorf("per-item results: %s[%d] breaks a rule but invocations[%d] has ret_status %q, error_code %q", field, i, i, st, code)
			}
		}
	}
	return nil
}

// cesPerItem: one bad instance id among good ones costs only its own item.
func (r *runner) cesPerItem() {
	const op = "ces.agent-invocation.batch-create"
	r.check(op+"/per-item-results", func() error {
		good1, good2 := "conform-"+r.run+"-i1", "conform-"+r.run+"-i2"
		body := fmt.Appendf(nil, `{"instance_ids":[%q,"conform!bad",%q],"invocation_type":"INSTALL","invocation_target":"telescope"}`, good1, good2)
		p, err := r.mixedBatch(op, "/instance_ids", body)
		if err != nil {
			return err
		}
		got, _ := list(p.obj, "invocations")
		for i, want := range map[int]string{0: good1, 2: good2} {
			if st, id := str(got[i], "ret_status"), str(got[i], "instance_id"); st != "successful" || id != want {
				return fmt.Errorf("invocations[%d]: want ret_status successful for %s, got %q for %q: %s", i, want, st, id, p)
			}
		}
		return nil
	})
}

// mixedBatch sends a batch in which exactly one item under pointer breaks
// a rule: the batch must succeed with a result per item.
func (r *runner) mixedBatch(op, pointer string, body []byte) (*reply, error) {
	if v := r.verdict(op, body); !v.Accepted() || len(failedAt(v, pointer)) != 1 {
		return nil, fmt.Errorf("kit: the mixed batch is not rejected per item by the engine")
	}
	p, err := r.do(request{op: op, body: body})
	if err != nil {
		return nil, err
	}
	if err := r.wantSuccess(op, p); err != nil {
		return nil, err
	}
	return p, r.perItem(op, body, p)
}

// enosPerItem: one bad device among good ones costs only its own item.
func (r *runner) enosPerItem() {
	const op = "enos.device.batch-create"
	r.check(op+"/per-item-results", func() error {
		pk := "conform-" + r.run
		body := fmt.Appendf(nil, `{"deviceList":[
 {"productKey":%q,"deviceName":{"defaultValue":"d1"},"timezone":"+08:00","deviceKey":%q},
 {"productKey":%q,"deviceName":{"defaultValue":"d2"},"timezone":"noon"},
 {"productKey":%q,"deviceName":{"defaultValue":"d3"},"timezone":"+00:00","deviceKey":%q}]}`,
			pk, r.name(), pk, pk, r.name())
		p, err := r.mixedBatch(op, "/deviceList", body)
		if err != nil {
			return err
		}
		if n, _ := num(p.obj, "successSize"); n != 2 {
			return fmt.Errorf("successSize %d, want 2: %s", n, p)
		}
		return nil
	})
	r.check(op+"/duplicate-device-key", func() error {
		key := r.name()
		body := fmt.Appendf(nil, `{"deviceList":[{"productKey":%q,"deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceKey":%q}]}`,
			"conform-"+r.run, key)
		for i, want := range []int{0, 11702} {
			p, err := r.do(request{op: op, body: body})
			if err != nil {
				return err
			}
			if err := r.wantSuccess(op, p); err != nil {
				return err
			}
			data, _ := list(p.obj, "data")
			if len(data) != 1 {
				return fmt.Errorf("per-item results: want 1 result, got %s", p)
			}
			if code, _ := num(data[0], "code"); code != want {
				return fmt.Errorf("request %d with deviceKey %s: want item code %d, got %d: %s", i+1, key, want, code, p)
			}
		}
		return nil
	})
}
