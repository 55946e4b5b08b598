package conformance

import (
	"bytes"
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

	// enosProductLimit is the documented 10,000 devices per product (11739).
	enosProductLimit = 10000
	// defaultEnOSBatchLimit is the documented default of devices per batch
	// in an organization (99400 beyond).
	defaultEnOSBatchLimit = 1000
)

// enosKeys: the productKey and deviceKey strings of the devices the engine
// accepts (each run writes its own devices: deviceKey is unique per org,
// and a product holds at most 10,000 devices).
func enosKeys(body []byte, failed map[int]bool) (productKeys, deviceKeys []string) {
	var req struct {
		DeviceList []json.RawMessage `json:"deviceList"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil, nil
	}
	for i, raw := range req.DeviceList {
		var d struct {
			ProductKey any `json:"productKey"`
			DeviceKey  any `json:"deviceKey"`
		}
		if failed[i] || json.Unmarshal(raw, &d) != nil {
			continue
		}
		if s, ok := d.ProductKey.(string); ok {
			productKeys = append(productKeys, s)
		}
		if s, ok := d.DeviceKey.(string); ok {
			deviceKeys = append(deviceKeys, s)
		}
	}
	return productKeys, deviceKeys
}

// enosBody makes a batch of the corpus this run's own: fresh deviceKeys of
// the same lengths, and the target's product (Target.EnOSProduct) or fresh
// product keys, in the items the engine accepts.
func (r *runner) enosBody(body []byte, failed map[int]bool) []byte {
	pks, dks := enosKeys(body, failed)
	if r.t.EnOSProduct == "" {
		return r.replaceStrings(body, append(pks, dks...))
	}
	body = r.replaceStrings(body, dks)
	return replaceTokens(body, pks, func(string) string { return r.t.EnOSProduct })
}

// product is the product key for the devices of one check.
func (r *runner) product() string {
	if r.t.EnOSProduct != "" {
		return r.t.EnOSProduct
	}
	return "conform" + r.run + randomID(4)
}

func (r *runner) batchLimit() int {
	if r.t.EnOSBatchLimit > 0 {
		return r.t.EnOSBatchLimit
	}
	return defaultEnOSBatchLimit
}

// devicesBody is a batch of n minimal devices under productKey, with fresh
// deviceKeys unless generated (the server then makes them up).
func (r *runner) devicesBody(productKey string, n int, generated, requireSecret bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"deviceList":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"productKey":%q,"deviceName":{"defaultValue":"conform %d"},"timezone":"+08:00"`, productKey, i)
		if !generated {
			fmt.Fprintf(&b, `,"deviceKey":"c%s"`, randomID(15))
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, `],"requireSecret":%t}`, requireSecret)
	return b.Bytes()
}

// enosDevice is a device created for the checks that need one.
type enosDevice struct{ assetID, productKey, deviceKey string }

func (r *runner) newDevice(header map[string]string) (*enosDevice, *reply, error) {
	body := r.enosBody(okCase(enosCreate, "ok-minimal"), nil)
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

// requireSecret reports whether a batch asks for secrets.
func requireSecret(body []byte) bool {
	var req struct {
		RequireSecret bool `json:"requireSecret"`
	}
	_ = json.Unmarshal(body, &req)
	return req.RequireSecret
}

// enosBatchReply judges a batchCreate reply to body: success, and each
// item's exact code (want names the items that must be refused).
func (r *runner) enosBatchReply(body []byte, p *reply, want map[int]int) error {
	if code, _ := num(p.obj, "code"); code == enosNoPublicKey && requireSecret(body) {
		if err := r.wantEnOSCode(p, enosNoPublicKey); err != nil {
			return err
		}
		if r.t.EnOSPrivateKey != nil {
			return fmt.Errorf("requireSecret got 11858 (no RSA public key), but the service account has one (Target.EnOSPrivateKey): %s", p)
		}
		return skipf("requireSecret got 11858: the service account has no RSA public key; register one and give its private key (Target.EnOSPrivateKey) to check the secrets")
	}
	if err := r.wantSuccess(enosCreate, p); err != nil {
		return err
	}
	if err := r.perItem(enosCreate, body, p, want); err != nil {
		return err
	}
	return r.enosEcho(body, p)
}

// wantEnOSCode: an EnOS error reply with a code the documentation fixes
// (in the envelope, with HTTP 200 or an error status).
func (r *runner) wantEnOSCode(p *reply, code int) error {
	if err := wantJSON(p); err != nil {
		return err
	}
	got, ok := num(p.obj, "code")
	switch {
	case !ok:
		return fmt.Errorf("want EnOS code %d, got %s", code, p)
	case got != code:
		return fmt.Errorf("want EnOS code %d, got %d: %s", code, got, p)
	case p.status != http.StatusOK && p.status != http.StatusBadRequest:
		return fmt.Errorf("EnOS code %d with HTTP %d (want 200 or 400): %s", code, p.status, p)
	case str(p.obj, "msg") == "":
		return fmt.Errorf("EnOS code %d without msg: %s", code, p)
	}
	return nil
}

// enosEcho: what the first and last created devices were sent comes back
// from get, member for member (the fields the get response declares).
func (r *runner) enosEcho(body []byte, p *reply) error {
	req, err := decode(body)
	if err != nil {
		return nil
	}
	sent, _ := list(req, "deviceList")
	data, _ := list(p.obj, "data")
	for _, i := range slices.Compact([]int{0, len(data) - 1}) {
		if i < 0 || i >= len(sent) {
			continue
		}
		if code, _ := num(data[i], "code"); code != enosOK {
			continue
		}
		asset := str(data[i], "data", "assetId")
		g, err := r.do(request{op: enosGet, query: url.Values{"assetId": {asset}}})
		if err != nil {
			return err
		}
		if err := r.wantSuccess(enosGet, g); err != nil {
			return fmt.Errorf("get of created device %s: %w", asset, err)
		}
		if err := r.echo(enosGet, sent[i], g.obj, "data"); err != nil {
			return fmt.Errorf("device %d (assetId %s) as get returns it: %w", i, asset, err)
		}
	}
	return nil
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
				body = r.enosBody(body, failed)
			}
			p, err := r.do(request{op: enosCreate, body: body})
			if err != nil {
				return err
			}
			if !perItem {
				return r.wantInvalid(enosCreate, p)
			}
			return r.enosBatchReply(body, p, nil)
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
		// A shared product (Target.EnOSProduct) holds more devices than a
		// page: look through the pages.
		var p *reply
		for page := 1; ; page++ {
			if p, err = r.searchPage(d.productKey, page); err != nil {
				return err
			}
			if slices.Contains(idsOf(p.obj, "assetId", "data"), d.assetID) {
				break
			}
			if n, _ := num(p.obj, "pagination", "totalSize"); page*searchPageSize >= n {
				return fmt.Errorf("search by productKey %s does not find device %s: %s", d.productKey, d.assetID, p)
			}
		}
		if n, _ := num(p.obj, "pagination", "totalSize"); n != 1 && r.t.EnOSProduct == "" {
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
		return r.wantError(enosGet, p, NotFound)
	})
	r.queryChecks(enosGet, func() (request, error) {
		d, err := device()
		if err != nil {
			return request{}, err
		}
		return request{op: enosGet, query: url.Values{"assetId": {d.assetID}}}, nil
	})

	r.enosPerItem()
	r.enosSecrets()
	r.enosLimits()

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
			return r.wantError(op, p, Unauthenticated)
		})
	}
	r.check(enosCreate+"/auth-bad-credential", func() error {
		p, err := r.do(request{op: enosCreate, cred: asBad, body: okCase(enosCreate, "ok-minimal")})
		if err != nil {
			return err
		}
		return r.wantError(enosCreate, p, Unauthenticated)
	})
	r.check(enosCreate+"/isolation-foreign-org", func() error {
		body := r.enosBody(okCase(enosCreate, "ok-minimal"), nil)
		p, err := r.do(request{op: enosCreate, body: body, query: url.Values{"orgId": {"conform-" + r.run + "-other-org"}}})
		if err != nil {
			return err
		}
		return r.wantError(enosCreate, p, Forbidden)
	})

	r.check(enosCreate+"/idempotency-replay", func() error {
		header := map[string]string{"Idempotency-Key": r.name()}
		pk := r.product()
		body := r.devicesBody(pk, 1, true, false) // a generated deviceKey: a second run would make another device
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
		if r.t.EnOSProduct != "" {
			return nil // a shared product: its devices cannot be counted
		}
		p, err := r.search(pk)
		if err != nil {
			return err
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
		body := r.enosBody(okCase(enosCreate, "ok-short-device-key"), nil)
		p, err := r.do(request{op: enosCreate, body: body, header: header})
		if err != nil {
			return err
		}
		return r.wantError(enosCreate, p, IdempotencyReuse)
	})
}

// search is a search by productKey, first page of 1,000.
func (r *runner) search(productKey string) (*reply, error) { return r.searchPage(productKey, 1) }

// searchPageSize is the page size of the kit's searches.
const searchPageSize = 1000

func (r *runner) searchPage(productKey string, pageNo int) (*reply, error) {
	body := fmt.Appendf(nil, `{"expression":"productKey = '%s'","pagination":{"pageNo":%d,"pageSize":%d}}`, productKey, pageNo, searchPageSize)
	p, err := r.do(request{op: enosSearch, body: body})
	if err != nil {
		return nil, err
	}
	if err := r.wantSuccess(enosSearch, p); err != nil {
		return nil, fmt.Errorf("search by productKey %s: %w", productKey, err)
	}
	return p, nil
}

// enosPerItem: one bad device among good ones costs only its own item,
// and a taken or unassignable deviceKey costs its item with its own code.
func (r *runner) enosPerItem() {
	r.check(enosCreate+"/per-item-results", func() error {
		pk := r.product()
		body := fmt.Appendf(nil, `{"deviceList":[
 {"productKey":%q,"deviceName":{"defaultValue":"d1"},"timezone":"+08:00","deviceKey":%q},
 {"productKey":%q,"deviceName":{"defaultValue":"d2"},"timezone":"noon"},
 {"productKey":%q,"deviceName":{"defaultValue":"d3"},"timezone":"+00:00","deviceKey":%q}]}`,
			pk, "c"+randomID(15), pk, pk, "c"+randomID(15))
		p, err := r.mixedBatch(enosCreate, "/deviceList", body)
		if err != nil {
			return err
		}
		if n, _ := num(p.obj, "successSize"); n != 2 {
			return fmt.Errorf("successSize %d, want 2: %s", n, p)
		}
		return nil
	})
	// The document's prerequisite: "the product to create this device
	// under exists". Only a target that names its products can say which
	// product does not exist.
	r.check(enosCreate+"/unknown-product-11404", func() error {
		if r.t.EnOSProduct == "" {
			return skipf("no existing product (Target.EnOSProduct): give one, and a device under a product that does not exist must get 11404")
		}
		missing := "conform" + r.run + "none" + randomID(6)
		body := fmt.Appendf(nil, `{"deviceList":[
 {"productKey":%q,"deviceName":{"defaultValue":"d1"},"timezone":"+08:00","deviceKey":%q},
 {"productKey":%q,"deviceName":{"defaultValue":"d2"},"timezone":"+08:00","deviceKey":%q}]}`,
			missing, "c"+randomID(15), r.product(), "c"+randomID(15))
		p, err := r.do(request{op: enosCreate, body: body})
		if err != nil {
			return err
		}
		if err := r.enosBatchReply(body, p, map[int]int{0: enosNoProduct}); err != nil {
			return fmt.Errorf("device 0 names product %s, which does not exist: %w", missing, err)
		}
		return nil
	})
	r.check(enosCreate+"/duplicate-device-key-11702", func() error {
		key := "c" + randomID(15)
		body := fmt.Appendf(nil, `{"deviceList":[{"productKey":%q,"deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceKey":%q}]}`, r.product(), key)
		for i, want := range []map[int]int{nil, {0: enosDeviceKeyTaken}} {
			p, err := r.do(request{op: enosCreate, body: body})
			if err != nil {
				return err
			}
			if err := r.enosBatchReply(body, p, want); err != nil {
				return fmt.Errorf("request %d with deviceKey %s: %w", i+1, key, err)
			}
		}
		// One batch naming a key twice: the second is taken by the first.
		twice := fmt.Appendf(nil, `{"deviceList":[{"productKey":%q,"deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceKey":%q},
 {"productKey":%q,"deviceName":{"defaultValue":"d"},"timezone":"+08:00","deviceKey":%[2]q}]}`, r.product(), "c"+randomID(15), r.product())
		p, err := r.do(request{op: enosCreate, body: twice})
		if err != nil {
			return err
		}
		if err := r.enosBatchReply(twice, p, map[int]int{1: enosDeviceKeyTaken}); err != nil {
			return fmt.Errorf("one batch with one deviceKey twice: %w", err)
		}
		return nil
	})
	// 11714 ("Generate deviceKey failed, try again") cannot be provoked in
	// a healthy server; every reply checks its shape where it appears
	// (enosItems). Here: generated keys are answered, and unique.
	r.check(enosCreate+"/generated-device-key", func() error {
		const n = 20
		body := r.devicesBody(r.product(), n, true, false)
		p, err := r.do(request{op: enosCreate, body: body})
		if err != nil {
			return err
		}
		if err := r.enosBatchReply(body, p, nil); err != nil {
			return err
		}
		keys := map[string]bool{}
		data, _ := list(p.obj, "data")
		for _, it := range data {
			if k := str(it, "data", "deviceKey"); k != "" {
				if keys[k] {
					return fmt.Errorf("the generated deviceKey %s is given to two devices: %s", k, p)
				}
				keys[k] = true
			}
		}
		if len(keys) == 0 {
			return fmt.Errorf("none of %d devices without a deviceKey got one (all 11714): %s", n, p)
		}
		return nil
	})
}

// enosSecrets: requireSecret's secrets open with the account's private
// key; an account without a public key gets 11858 and nothing is written.
func (r *runner) enosSecrets() {
	r.check(enosCreate+"/require-secret-decrypts", func() error {
		if r.t.EnOSPrivateKey == nil {
			return skipf("no private key of the service account (Target.EnOSPrivateKey)")
		}
		body := r.devicesBody(r.product(), 2, false, true)
		p, err := r.do(request{op: enosCreate, body: body})
		if err != nil {
			return err
		}
		return r.enosBatchReply(body, p, nil) // decrypts each secret
	})
	r.check(enosCreate+"/no-device-access-99403", func() error {
		if r.t.EnOSTokenNoAccess == "" {
			return skipf("no token of a service account without the Device Management Service policy (Target.EnOSTokenNoAccess)")
		}
		body := r.devicesBody(r.product(), 1, false, false)
		p, err := r.do(request{op: enosCreate, body: body, cred: asNoAccess})
		if err != nil {
			return err
		}
		if err := r.wantError(enosCreate, p, Forbidden); err != nil {
			return fmt.Errorf("an account without the Operation Permissions: %w", err)
		}
		_, keys := enosKeys(body, nil)
		g, err := r.do(request{op: enosGet, query: url.Values{"productKey": {r.productOf(body)}, "deviceKey": {keys[0]}}})
		if err != nil {
			return err
		}
		if err := r.wantError(enosGet, g, NotFound); err != nil {
			return fmt.Errorf("after 99403 the device must not exist: %w", err)
		}
		return nil
	})
	r.check(enosCreate+"/require-secret-no-public-key-11858", func() error {
		if r.t.EnOSTokenNoKey == "" {
			return skipf("no token of a service account without an RSA public key (Target.EnOSTokenNoKey)")
		}
		body := r.devicesBody(r.product(), 2, false, true)
		p, err := r.do(request{op: enosCreate, body: body, cred: asNoKey})
		if err != nil {
			return err
		}
		if code, _ := num(p.obj, "code"); code != enosOK || p.status != http.StatusOK {
			if err := r.wantEnOSCode(p, enosNoPublicKey); err != nil {
				return err
			}
		} else if err := r.enosBatchReply(body, p, map[int]int{0: enosNoPublicKey, 1: enosNoPublicKey}); err != nil {
			return err // per item: every item 11858
		}
		_, keys := enosKeys(body, nil)
		g, err := r.do(request{op: enosGet, query: url.Values{"productKey": {r.productOf(body)}, "deviceKey": {keys[0]}}})
		if err != nil {
			return err
		}
		if err := r.wantError(enosGet, g, NotFound); err != nil {
			return fmt.Errorf("after 11858 the device must not exist: %w", err)
		}
		return nil
	})
}

func (r *runner) productOf(body []byte) string {
	pks, _ := enosKeys(body, nil)
	if len(pks) == 0 {
		return ""
	}
	return pks[0]
}

// enosLimits: a batch over the org's limit is refused whole (99400); a
// product holds at most 10,000 devices (11739, per item).
func (r *runner) enosLimits() {
	r.check(enosCreate+"/batch-over-org-limit-99400", func() error {
		pk := r.product()
		body := r.devicesBody(pk, r.batchLimit()+1, false, false)
		p, err := r.do(request{op: enosCreate, body: body})
		if err != nil {
			return err
		}
		if err := r.wantError(enosCreate, p, Invalid); err != nil {
			return fmt.Errorf("a batch of %d devices (the org's limit is %d): %w", r.batchLimit()+1, r.batchLimit(), err)
		}
		_, keys := enosKeys(body, nil)
		g, err := r.do(request{op: enosGet, query: url.Values{"productKey": {pk}, "deviceKey": {keys[0]}}})
		if err != nil {
			return err
		}
		if err := r.wantError(enosGet, g, NotFound); err != nil {
			return fmt.Errorf("the refused batch wrote its first device: %w", err)
		}
		return nil
	})
	r.check(enosCreate+"/quota-10000-per-product-11739", func() error {
		pk := r.t.EnOSQuotaProduct
		have := 0
		if pk == "" {
			pk = "conform" + r.run + "full"
		} else {
			p, err := r.search(pk)
			if err != nil {
				return err
			}
			have, _ = num(p.obj, "pagination", "totalSize")
		}
		for have < enosProductLimit {
			n := min(r.batchLimit(), enosProductLimit-have)
			body := r.devicesBody(pk, n, false, false)
			p, err := r.do(request{op: enosCreate, body: body})
			if err != nil {
				return err
			}
			if err := r.enosBatchReply(body, p, nil); err != nil {
				return fmt.Errorf("filling product %s, devices %d to %d of %d: %w", pk, have+1, have+n, enosProductLimit, err)
			}
			have += n
		}
		body := r.devicesBody(pk, 2, false, false)
		p, err := r.do(request{op: enosCreate, body: body})
		if err != nil {
			return err
		}
		if err := r.enosBatchReply(body, p, map[int]int{0: enosProductFull, 1: enosProductFull}); err != nil {
			return fmt.Errorf("product %s holds %d devices: %w", pk, enosProductLimit, err)
		}
		s, err := r.search(pk)
		if err != nil {
			return err
		}
		if n, _ := num(s.obj, "pagination", "totalSize"); n != enosProductLimit {
			return fmt.Errorf("product %s holds %d devices after the refused ones, want %d", pk, n, enosProductLimit)
		}
		return nil
	})
}
