package conformance

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

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

// The EnOS per-item codes the documentation fixes.
const (
	enosOK             = 0
	enosNoProduct      = 11404 // "Product cannot be found" (EnOS Connection Service docs, not the seed)
	enosDeviceKeyTaken = 11702 // the deviceKey exists in the org
	enosKeyGenFailed   = 11714 // a generated deviceKey could not be assigned (try again)
	enosProductFull    = 11739 // 10,000 devices under the product
	enosNoPublicKey    = 11858 // requireSecret, and the account has no RSA public key
	enosInvalid        = 99400 // the request (or the item) breaks a rule
)

// perItem checks the per-item results of a batch response to body: one
// result per item, in order, each with the exact code its item must get.
// want names the code of some items (11702 for a taken deviceKey, …);
// the others get 99400 when the engine rejects them, else 0.
func (r *runner) perItem(op string, body []byte, p *reply, want map[int]int) error {
	v := r.verdict(op, body)
	switch op {
	case enosCreate:
		return r.enosItems(body, p, failedAt(v, "/deviceList"), want)
	case "ces.agent-invocation.batch-create":
		return r.cesItems(body, p, v)
	}
	return nil
}

// enosItems checks an EnOS batchCreate reply item by item.
func (r *runner) enosItems(body []byte, p *reply, failed map[int]bool, want map[int]int) error {
	var req struct {
		DeviceList    []json.RawMessage `json:"deviceList"`
		RequireSecret bool              `json:"requireSecret"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	n := len(req.DeviceList)
	data, _ := list(p.obj, "data")
	total, _ := num(p.obj, "totalSize")
	if len(data) != n || total != n {
		return fmt.Errorf("per-item results: %d devices sent, data has %d results, totalSize %d", n, len(data), total)
	}
	success := 0
	for i, it := range data {
		var sent map[string]any
		_ = json.Unmarshal(req.DeviceList[i], &sent)
		sentKey, _ := sent["deviceKey"].(string)
		code, ok := num(it, "code")
		if !ok {
			return fmt.Errorf("per-item results: data[%d] has no code", i)
		}
		expect, named := want[i]
		switch {
		case failed[i]:
			expect = enosInvalid
		case !named:
			expect = enosOK
		}
		// 11714 is a documented transient answer for an item without a
		// deviceKey of its own; a healthy server rarely gives it, so its
		// shape is what can be checked.
		transient := code == enosKeyGenFailed && expect == enosOK && sentKey == ""
		if code != expect && !transient {
			why := "valid, with a deviceKey unused in the org"
			switch {
			case failed[i]:
				why = "breaks a rule"
			case named:
				why = "must be refused"
			}
			return fmt.Errorf("per-item results: device %d %s: want code %d, got %d (%s)", i, why, expect, code, str(it, "msg"))
		}
		if code != enosOK {
			if str(it, "msg") == "" {
				return fmt.Errorf("per-item results: data[%d] has code %d and no msg", i, code)
			}
			if d, present := it.(map[string]any)["data"]; present && d != nil {
				return fmt.Errorf("per-item results: data[%d] failed with code %d but carries data %v", i, code, d)
			}
			continue
		}
		success++
		if err := r.createdItem(i, sent, it, req.RequireSecret); err != nil {
			return err
		}
	}
	if got, _ := num(p.obj, "successSize"); got != success {
		return fmt.Errorf("per-item results: successSize %d, but %d items have code 0", got, success)
	}
	return nil
}

// createdItem checks the data of a created device: the keys it was sent,
// and the secrets exactly when requireSecret asked for them.
func (r *runner) createdItem(i int, sent map[string]any, it any, requireSecret bool) error {
	d, _ := it.(map[string]any)["data"].(map[string]any)
	if d == nil {
		return fmt.Errorf("per-item results: data[%d] has code 0 and no data", i)
	}
	if str(d, "assetId") == "" || str(d, "deviceKey") == "" {
		return fmt.Errorf("per-item results: data[%d].data lacks assetId or deviceKey: %v", i, d)
	}
	for _, k := range []string{"productKey", "deviceKey"} {
		if s, ok := sent[k].(string); ok && str(d, k) != s {
			return fmt.Errorf("per-item results: device %d was sent %s %q, data[%d].data has %q", i, k, s, i, str(d, k))
		}
	}
	for _, k := range []string{"deviceSecret", "sessionKey"} {
		v, present := d[k]
		switch {
		case !requireSecret && present:
			return fmt.Errorf("per-item results: data[%d].data has %s, but requireSecret was not true", i, k)
		case requireSecret && str(d, k) == "":
			return fmt.Errorf("per-item results: requireSecret is true, but data[%d].data has no %s", i, k)
		case requireSecret && r.t.EnOSPrivateKey != nil:
			if _, err := decryptSecret(r.t.EnOSPrivateKey, v.(string)); err != nil {
				return fmt.Errorf("per-item results: data[%d].data.%s does not decrypt with the service account's private key (base64 of RSA-OAEP-SHA256): %w", i, k, err)
			}
		}
	}
	return nil
}

// decryptSecret opens base64(RSA-OAEP(SHA-256, MGF1-SHA-256, no label)).
func decryptSecret(key *rsa.PrivateKey, b64 string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	pt, err := rsa.DecryptOAEP(sha256.New(), nil, key, ct, nil)
	if err == nil && len(pt) == 0 {
		err = fmt.Errorf("it decrypts to nothing")
	}
	return pt, err
}

// cesItems: one result per item; the items the engine rejects are errors
// with the code book's per-item code.
func (r *runner) cesItems(body []byte, p *reply, v *abi.Result) error {
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
		st, code := str(got[i], "ret_status"), str(got[i], "error_code")
		if st != "error" {
			return fmt.Errorf("per-item results: %s[%d] breaks a rule but invocations[%d] has ret_status %q", field, i, i, st)
		}
		if err := r.judgeCode("ces", ItemInvalid, code); err != nil {
			return fmt.Errorf("per-item results: invocations[%d]: %w", i, err)
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
	return p, r.perItem(op, body, p, nil)
}
