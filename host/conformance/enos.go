package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

const (
	enosCreate = "enos.device.batch-create"
	enosGet    = "enos.device.get"
	enosSearch = "enos.device.list"
)

// enosKeys: the productKey and deviceKey of the devices the engine accepts
// (each run writes its own devices: deviceKey is unique per org, and a
// product holds at most 10,000 devices).
func enosKeys(body []byte, failed map[int]bool) []string {
	var req struct {
		DeviceList []json.RawMessage `json:"deviceList"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	var out []string
	for i, raw := range req.DeviceList {
		var d struct {
			ProductKey any `json:"productKey"`
			DeviceKey  any `json:"deviceKey"`
		}
		if failed[i] || json.Unmarshal(raw, &d) != nil {
			continue
		}
		for _, v := range []any{d.ProductKey, d.DeviceKey} {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// enosDevice is a device created for the checks that need one.
type enosDevice struct{ assetID, productKey, deviceKey string }

func (r *runner) newDevice(header map[string]string) (*enosDevice, *reply, error) {
	body := r.replaceStrings(okCase(enosCreate, "ok-minimal"), enosKeys(okCase(enosCreate, "ok-minimal"), nil))
	p, err := r.do(request{op: enosCreate, body: body, header: header})
	if err != nil {
		return nil, nil, fmt.Errorf("setup: create: %w", err)
	}
	if err := r.wantSuccess(enosCreate, p); err != nil {
		return nil, p, fmt.Errorf("setup: create: %w", err)
	}
	data, _ := list(p.obj, "data")
	if len(data) == 0 || str(data[0], "data", "assetId") == "" {
		return nil, p, fmt.Errorf("setup: create: no assetId in the response: %s", p)
	}
	return &enosDevice{str(data[0], "data", "assetId"), str(data[0], "data", "productKey"), str(data[0], "data", "deviceKey")}, p, nil
}

func (r *runner) enos() {
	var shared *enosDevice
	var sharedErr error
	device := func() (*enosDevice, error) {
		if shared == nil && sharedErr == nil {
			shared, _, sharedErr = r.newDevice(nil)
		}
		return shared, sharedErr
	}

	for _, c := range cases(enosCreate) {
		r.check(enosCreate+"/"+c.name, func() error {
			body := c.body
			v := r.verdict(enosCreate, c.body)
			failed := failedItems(v)
			perItem := c.valid || (v.Accepted() && len(failed) > 0)
			if perItem {
				body = r.replaceStrings(body, enosKeys(body, failed))
			}
			p, err := r.do(request{op: enosCreate, body: body})
			if err != nil {
				return err
			}
			if !perItem {
				return r.wantInvalid(enosCreate, p)
			}
			if err := r.wantSuccess(enosCreate, p); err != nil {
				return err
			}
			return r.perItem(enosCreate, body, p)
		})
	}
	for _, c := range cases(enosSearch) {
		r.check(enosSearch+"/"+c.name, func() error {
			p, err := r.do(request{op: enosSearch, body: c.body})
			if err != nil {
				return err
			}
			if c.valid {
				return r.wantSuccess(enosSearch, p)
			}
			return r.wantInvalid(enosSearch, p)
		})
	}
	r.check(enosSearch+"/ok-finds-created", func() error {
		d, err := device()
		if err != nil {
			return err
		}
		body := fmt.Appendf(nil, `{"expression":"productKey = '%s'","pagination":{"pageNo":1,"pageSize":10}}`, d.productKey)
		p, err := r.do(request{op: enosSearch, body: body})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(enosSearch, p); err != nil {
			return err
		}
		if !slices.Contains(idsOf(p.obj, "assetId", "data"), d.assetID) {
			return fmt.Errorf("search by productKey %s does not find device %s: %s", d.productKey, d.assetID, p)
		}
		if n, _ := num(p.obj, "pagination", "totalSize"); n != 1 {
			return fmt.Errorf("search by productKey %s: totalSize %d, want 1: %s", d.productKey, n, p)
		}
		return nil
	})
	r.queryChecks(enosSearch, func() (request, error) {
		return request{op: enosSearch, body: okCase(enosSearch, "ok-empty")}, nil
	})

	get := func(q url.Values) (*reply, error) { return r.do(request{op: enosGet, query: q}) }
	r.check(enosGet+"/ok", func() error {
		d, err := device()
		if err != nil {
			return err
		}
		p, err := get(url.Values{"assetId": {d.assetID}})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(enosGet, p); err != nil {
			return err
		}
		if got := str(p.obj, "data", "assetId"); got != d.assetID {
			return fmt.Errorf("asked for assetId %s, got %q: %s", d.assetID, got, p)
		}
		return nil
	})
	r.check(enosGet+"/ok-by-device-key", func() error {
		d, err := device()
		if err != nil {
			return err
		}
		p, err := get(url.Values{"productKey": {d.productKey}, "deviceKey": {d.deviceKey}})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(enosGet, p); err != nil {
			return err
		}
		if got := str(p.obj, "data", "assetId"); got != d.assetID {
			return fmt.Errorf("asked for deviceKey %s, got assetId %q (want %s): %s", d.deviceKey, got, d.assetID, p)
		}
		return nil
	})
	r.check(enosGet+"/not-found", func() error {
		p, err := get(url.Values{"assetId": {r.missing()}})
		if err != nil {
			return err
		}
		return r.wantError(enosGet, p, 0, http.StatusOK, http.StatusNotFound)
	})
	r.queryChecks(enosGet, func() (request, error) {
		d, err := device()
		if err != nil {
			return request{}, err
		}
		return request{op: enosGet, query: url.Values{"assetId": {d.assetID}}}, nil
	})

	r.enosPerItem()

	for _, op := range []string{enosCreate, enosGet, enosSearch} {
		r.check(op+"/auth-missing-credentials", func() error {
			q := request{op: op, cred: asNone, body: okCase(op, "")}
			if op == enosGet {
				q.query = url.Values{"assetId": {r.missing()}}
			}
			p, err := r.do(q)
			if err != nil {
				return err
			}
			return r.wantError(op, p, 0, http.StatusUnauthorized)
		})
	}
	r.check(enosCreate+"/auth-bad-credential", func() error {
		p, err := r.do(request{op: enosCreate, cred: asBad, body: okCase(enosCreate, "ok-minimal")})
		if err != nil {
			return err
		}
		return r.wantError(enosCreate, p, 0, http.StatusUnauthorized)
	})
	r.check(enosCreate+"/isolation-foreign-org", func() error {
		body := r.replaceStrings(okCase(enosCreate, "ok-minimal"), enosKeys(okCase(enosCreate, "ok-minimal"), nil))
		p, err := r.do(request{op: enosCreate, body: body, query: url.Values{"orgId": {"conform-" + r.run + "-other-org"}}})
		if err != nil {
			return err
		}
		return r.wantError(enosCreate, p, 0, http.StatusForbidden, http.StatusOK)
	})

	r.check(enosCreate+"/idempotency-replay", func() error {
		header := map[string]string{"Idempotency-Key": r.name()}
		body := r.replaceStrings(okCase(enosCreate, "ok-minimal"), enosKeys(okCase(enosCreate, "ok-minimal"), nil))
		first, err := r.do(request{op: enosCreate, body: body, header: header})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(enosCreate, first); err != nil {
			return fmt.Errorf("first request: %w", err)
		}
		second, err := r.do(request{op: enosCreate, body: body, header: header})
		if err != nil {
			return err
		}
		if second.status != first.status || !sameJSON(first.body, second.body) {
			return fmt.Errorf("the retry with the same Idempotency-Key got another response:\nfirst:  %s\nretry:  %s", first, second)
		}
		data, _ := list(first.obj, "data")
		if len(data) != 1 {
			return fmt.Errorf("per-item results: want 1 result, got %s", first)
		}
		pk := str(data[0], "data", "productKey")
		p, err := r.do(request{op: enosSearch, body: fmt.Appendf(nil, `{"expression":"productKey = '%s'"}`, pk)})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(enosSearch, p); err != nil {
			return fmt.Errorf("search after the retry: %w", err)
		}
		if n, _ := num(p.obj, "pagination", "totalSize"); n != 1 {
			return fmt.Errorf("after a create and its retry, product %s has %d devices (want 1): %s", pk, n, p)
		}
		return nil
	})
	r.check(enosCreate+"/idempotency-key-reuse", func() error {
		header := map[string]string{"Idempotency-Key": r.name()}
		if _, _, err := r.newDevice(header); err != nil {
			return err
		}
		body := r.replaceStrings(okCase(enosCreate, "ok-short-device-key"), enosKeys(okCase(enosCreate, "ok-short-device-key"), nil))
		p, err := r.do(request{op: enosCreate, body: body, header: header})
		if err != nil {
			return err
		}
		return r.wantError(enosCreate, p, 0, http.StatusUnprocessableEntity)
	})
}
