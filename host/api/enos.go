package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"

	"github.com/onboardhq/onboard/host/store"
)

// EnOS devices: /connect-service/v2.4/devices?action=…&orgId=…, called with
// the bearer token of one of the org's service accounts. EnOS answers in its
// envelope {code, msg, requestId, data}; a batch reports every device on its
// own, so one bad or duplicate device never costs the client the others.

func init() {
	register("enos.device.batch-create", (*Server).batchCreateDevices)
	// get and list are served once their catalogue entries exist (New only
	// routes operations of the catalogue).
	register("enos.device.get", (*Server).getDevice)
	register("enos.device.list", (*Server).searchDevices)
	// The batch limit is checked before the engine too: a 1 MiB body holds
	// ~500k tiny items, which the engine would judge one by one until its
	// call timeout.
	prechecks["enos.device.batch-create"] = (*Server).checkBatchSize
}

// Lengths of generated values. EnOS asset ids are 8 alphanumerics; the
// deviceKey length is onboard's choice within the schema's 4–64.
const (
	assetIDLen      = 8
	deviceKeyLen    = 10
	deviceSecretLen = 20
	// keyAttempts bounds the writes for a generated deviceKey that collides
	// (62^10 keys: a second collision means something else is wrong).
	keyAttempts = 3
	// searchPageSize is the page size when a search gives no pagination.
	searchPageSize = 10
)

// enosEnvelope is EnOS's success envelope; responses embed it so their own
// members (successSize, pagination) sit beside it.
type enosEnvelope struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	RequestID string `json:"requestId"`
	Data      any    `json:"data"`
}

func (c *call) enosOK(data any) enosEnvelope {
	return enosEnvelope{Code: enosOK, Msg: "OK", RequestID: c.requestID, Data: data}
}

// createOption is the CreateOption struct of the request.
type createOption struct {
	ProductKey string            `json:"productKey"`
	DeviceName store.I18nString  `json:"deviceName"`
	Timezone   string            `json:"timezone"`
	Attributes map[string]any    `json:"deviceAttributes"`
	DeviceKey  string            `json:"deviceKey"`
	Desc       string            `json:"deviceDesc"`
	Tags       map[string]string `json:"deviceTags"`
}

// batchItem is the EnosBatchEachData struct: data is null for a failure.
type batchItem struct {
	Code int           `json:"code"`
	Msg  string        `json:"msg"`
	Data *createdJSON  `json:"data"`
	done *pendingWrite // the write behind a created item
}

type createdJSON struct {
	AssetID      string `json:"assetId"`
	ProductKey   string `json:"productKey"`
	DeviceKey    string `json:"deviceKey"`
	DeviceSecret string `json:"deviceSecret,omitempty"`
	SessionKey   string `json:"sessionKey,omitempty"`
}

// pendingWrite is one valid device on its way to the store.
type pendingWrite struct {
	item         int // index in deviceList
	dev          store.EnosDevice
	generatedKey bool
	sealed       *sealedSecrets // requireSecret only
}

func (s *Server) enosBatchLimit(org string) int {
	l := s.Limits()
	if n := l.EnOSBatchLimits[org]; n > 0 {
		return n
	}
	return l.EnOSBatchLimit
}

// batchWithinLimit refuses a batch of n devices over the org's limit.
func (s *Server) batchWithinLimit(c *call, n int) error {
	if limit := s.enosBatchLimit(c.org); n > limit {
		s.metrics.QuotaRejected(quotaEnOSBatchSize, 1)
		return newError(c.svc, kindInvalid, "Invalid arguments: deviceList has %d devices; organization %s creates at most %d devices per batch: split the request", n, c.org, limit)
	}
	return nil
}

// checkBatchSize counts deviceList in the raw body without decoding it. A
// body it cannot read goes on to the engine, which says what is wrong.
func (s *Server) checkBatchSize(c *call) error {
	if n, ok := memberArrayLen(c.body, "deviceList"); ok {
		return s.batchWithinLimit(c, n)
	}
	return nil
}

// batchRequest is a batch-create body. Options holds the decoded items
// whose index failed holds no verdict for.
type batchRequest struct {
	Options       []createOption
	RequireSecret bool
}

// decodeBatch decodes the body in one pass when the engine failed no item
// (the usual case); otherwise the items stay raw and only those that
// passed are decoded: an item the engine rejected may not be an object.
func decodeBatch(c *call, failed map[int]string) (*batchRequest, error) {
	if len(failed) == 0 {
		var req struct {
			DeviceList    []createOption `json:"deviceList"`
			RequireSecret bool           `json:"requireSecret"`
		}
		if err := c.request(&req); err != nil {
			return nil, err
		}
		return &batchRequest{req.DeviceList, req.RequireSecret}, nil
	}
	var req struct {
		DeviceList    []json.RawMessage `json:"deviceList"`
		RequireSecret bool              `json:"requireSecret"`
	}
	if err := c.request(&req); err != nil {
		return nil, err
	}
	out := &batchRequest{make([]createOption, len(req.DeviceList)), req.RequireSecret}
	for i, raw := range req.DeviceList {
		if _, bad := failed[i]; bad {
			continue
		}
		if err := decodeExact(raw, &out.Options[i]); err != nil {
			return nil, fmt.Errorf("deviceList/%d passed the engine but does not decode: %w", i, err)
		}
	}
	return out, nil
}

func (s *Server) batchCreateDevices(c *call) error {
	failed := itemViolations(c, "/deviceList")
	req, err := decodeBatch(c, failed)
	if err != nil {
		return err
	}
	// Whole-request failures come first, so that they write nothing. The
	// precheck has counted already; this is the count on the parsed request.
	if err := s.batchWithinLimit(c, len(req.Options)); err != nil {
		return err
	}
	var seal *secretSealer
	if req.RequireSecret {
		var err error
		if seal, err = s.accountSealer(c); err != nil {
			return err
		}
	}

	items := make([]batchItem, len(req.Options))
	var todo []*pendingWrite
	for i := range req.Options {
		if msg, bad := failed[i]; bad {
			items[i] = batchItem{Code: enosInvalid, Msg: msg}
			continue
		}
		o := &req.Options[i]
		p := &pendingWrite{item: i, generatedKey: o.DeviceKey == "", dev: store.EnosDevice{
			AssetID: randomAlnum(assetIDLen), ProductKey: o.ProductKey, DeviceKey: o.DeviceKey,
			DeviceName: o.DeviceName, Timezone: o.Timezone, Attributes: o.Attributes, Tags: o.Tags,
			Desc: o.Desc, DeviceSecret: randomAlnum(deviceSecretLen)}}
		if p.generatedKey {
			p.dev.DeviceKey = randomAlnum(deviceKeyLen)
		}
		todo = append(todo, p)
	}
	todo, err = s.knownProducts(c, todo, items)
	if err != nil {
		return err
	}
	if seal != nil {
		for _, p := range todo {
			// Sealed before the write: a failure here must not leave devices
			// whose secrets the caller never received.
			sealed, err := seal.seal(p.dev.DeviceSecret)
			if err != nil {
				return fmt.Errorf("seal secrets of deviceList/%d: %w", p.item, err)
			}
			p.sealed = sealed
		}
	}
	if err := s.writeDevices(c, todo, items); err != nil {
		return err
	}

	success := 0
	for i := range items {
		it := &items[i]
		if it.done == nil {
			continue
		}
		success++
		d := &it.done.dev
		it.Data = &createdJSON{AssetID: d.AssetID, ProductKey: d.ProductKey, DeviceKey: d.DeviceKey}
		if sealed := it.done.sealed; sealed != nil {
			it.Data.DeviceSecret, it.Data.SessionKey = sealed.deviceSecret, sealed.sessionKey
		}
	}
	return c.reply(http.StatusOK, struct {
		enosEnvelope
		SuccessSize int `json:"successSize"`
		TotalSize   int `json:"totalSize"`
	}{c.enosOK(items), success, len(items)})
}

// knownProducts keeps the devices whose product exists in the org (the
// document's prerequisite) and fails the others' items with 11404, in one
// store read. A product deleted between this read and the write is not
// seen: onboard deletes only products without devices, so the race needs
// a delete and the product's first devices at the same moment.
func (s *Server) knownProducts(c *call, todo []*pendingWrite, items []batchItem) ([]*pendingWrite, error) {
	if len(todo) == 0 {
		return todo, nil
	}
	seen := map[string]bool{}
	var keys []string
	for _, p := range todo {
		if !seen[p.dev.ProductKey] {
			seen[p.dev.ProductKey] = true
			keys = append(keys, p.dev.ProductKey)
		}
	}
	found, _, err := s.cfg.Store.ListEnOSProducts(c.r.Context(), store.EnosProductFilter{OrgID: c.org, ProductKeys: keys, Page: store.Page{NoTotal: true}})
	if err != nil {
		return nil, storeError(c.svc, err, "products")
	}
	exists := make(map[string]bool, len(found))
	for _, p := range found {
		exists[p.ProductKey] = true
	}
	kept := todo[:0]
	for _, p := range todo {
		if exists[p.dev.ProductKey] {
			kept = append(kept, p)
			continue
		}
		items[p.item] = batchItem{Code: enosProductNotFound, Msg: fmt.Sprintf(
			"Product cannot be found: productKey %s is not a product of organization %s; create it first (onboard enos-product create)", quoteValue(p.dev.ProductKey), c.org)}
	}
	return kept, nil
}

// writeDevices stores the valid devices in one BatchCreateDevices call (one
// transaction) and fills in their items. Only devices whose generated
// deviceKey collided are written again, with a fresh key, by further calls.
func (s *Server) writeDevices(c *call, todo []*pendingWrite, items []batchItem) error {
	for attempt := 1; len(todo) > 0; attempt++ {
		devs := make([]store.EnosDevice, len(todo))
		for k, p := range todo {
			devs[k] = p.dev
		}
		res, err := s.cfg.Store.BatchCreateDevices(c.r.Context(), c.org, devs)
		if err != nil {
			if attempt == 1 {
				return storeError(c.svc, err, "devices") // nothing was written
			}
			// The first call committed: report the retried devices, not a 500
			// that would hide the devices already created.
			s.log.Error("retrying generated deviceKeys failed", "request_id", c.requestID, "err", err)
			for _, p := range todo {
				items[p.item] = batchItem{Code: enosKeyGenFailed, Msg: "Generate deviceKey failed"}
			}
			return nil
		}
		var retry []*pendingWrite
		for k, r := range res {
			p := todo[k]
			switch {
			case r.Status == store.ItemCreated:
				p.dev = devs[k]
				items[p.item] = batchItem{Code: enosOK, Msg: "OK", done: p}
			case r.Status == store.ItemQuota:
				items[p.item] = batchItem{Code: enosProductFull, Msg: "Exceed max device size"}
			case !p.generatedKey:
				items[p.item] = batchItem{Code: enosDeviceKeyTaken, Msg: "DeviceKey existed"}
			case attempt == keyAttempts:
				items[p.item] = batchItem{Code: enosKeyGenFailed, Msg: "Generate deviceKey failed"}
			default:
				p.dev.DeviceKey, p.dev.AssetID = randomAlnum(deviceKeyLen), randomAlnum(assetIDLen)
				retry = append(retry, p)
			}
		}
		todo = retry
	}
	return nil
}

// itemViolations returns, per failed item of the batch array at pointer,
// the engine's violations as one message.
func itemViolations(c *call, pointer string) map[int]string {
	out := map[int]string{}
	for _, b := range c.result.Batches {
		if b.Pointer != pointer {
			continue
		}
		for _, f := range b.Failed {
			parts := make([]string, 0, len(f.Violations))
			for _, v := range f.Violations {
				parts = append(parts, violationText(v))
			}
			out[f.Index] = strings.Join(parts, "; ")
		}
	}
	return out
}

// enosDeviceAccess is the document's "Operation Permissions": the calling
// service account is registered in the org and authorized the Device
// Management Service policy, which every EnOS device operation needs.
// A token issued before onboard required accounts may name an account
// that was never registered: it is refused until the account is.
func (c *call) enosDeviceAccess() error {
	acct, err := c.s.cfg.Store.GetServiceAccount(c.r.Context(), c.org, c.account)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newError(c.svc, kindForbidden, "service account %s is not registered in organization %s: register it (onboard account create)", quoteValue(c.account), c.org)
	case err != nil:
		return storeError(c.svc, err, "service account")
	case acct.DeviceAccessDenied:
		return newError(c.svc, kindForbidden, "service account %s is not authorized the Device Management Service policy: grant it (onboard account set-access --device-access=true)", quoteValue(c.account))
	}
	c.enosAcct = acct
	return nil
}

// accountSealer reads the calling service account's RSA public key.
func (s *Server) accountSealer(c *call) (*secretSealer, error) {
	noKey := func(why string) error {
		return &Error{Status: http.StatusBadRequest, EnOS: enosNoPublicKey,
			Message: "Unable to find public key: " + why + "; create an RSA key pair for the service account, or send requireSecret false"}
	}
	acct := c.enosAcct // loaded by authentication
	if acct == nil {
		return nil, errors.New("api: the service account was not loaded by authentication")
	}
	if strings.TrimSpace(acct.PublicKeyPEM) == "" {
		return nil, noKey(fmt.Sprintf("service account %q has no RSA public key", c.account))
	}
	seal, err := newSecretSealer(acct.PublicKeyPEM)
	if err != nil {
		return nil, noKey(fmt.Sprintf("the public key of service account %q is not usable: %v", c.account, err))
	}
	return seal, nil
}

// deviceJSON is EnOS's Device struct as onboard fills it. It has no
// deviceSecret member on purpose: the secret leaves only through create.
type deviceJSON struct {
	OrgID      string            `json:"orgId"`
	AssetID    string            `json:"assetId"`
	ProductKey string            `json:"productKey"`
	DeviceKey  string            `json:"deviceKey"`
	DeviceName i18nJSON          `json:"deviceName"`
	Timezone   string            `json:"timezone"`
	Attributes map[string]any    `json:"deviceAttributes"`
	Tags       map[string]string `json:"deviceTags"`
	Desc       string            `json:"deviceDesc"`
	CreateTime int64             `json:"createTime"` // epoch milliseconds
}

type i18nJSON struct {
	DefaultValue string            `json:"defaultValue"`
	I18nValue    map[string]string `json:"i18nValue"`
}

func deviceOut(d *store.EnosDevice) deviceJSON {
	out := deviceJSON{OrgID: d.OrgID, AssetID: d.AssetID, ProductKey: d.ProductKey, DeviceKey: d.DeviceKey,
		DeviceName: i18nJSON{DefaultValue: d.DeviceName.DefaultValue, I18nValue: d.DeviceName.I18n},
		Timezone:   d.Timezone, Attributes: d.Attributes, Tags: d.Tags, Desc: d.Desc, CreateTime: d.CreatedAt.UnixMilli()}
	// Empty maps, not null, so clients can index them without a check.
	if out.DeviceName.I18nValue == nil {
		out.DeviceName.I18nValue = map[string]string{}
	}
	if out.Attributes == nil {
		out.Attributes = map[string]any{}
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	return out
}

// getDevice: action=get with assetId, or productKey and deviceKey.
func (s *Server) getDevice(c *call) error {
	assetID, pk, dk := c.query("assetId"), c.query("productKey"), c.query("deviceKey")
	var d *store.EnosDevice
	var err error
	switch {
	case assetID != "":
		d, err = s.cfg.Store.GetDevice(c.r.Context(), c.org, assetID)
	case pk != "" && dk != "":
		d, err = s.cfg.Store.GetDeviceByKey(c.r.Context(), c.org, dk)
		if err == nil && d.ProductKey != pk {
			err = store.ErrNotFound // the key is unique per org, not per product
		}
	default:
		return errors.New("the engine accepted a get without assetId, or productKey and deviceKey: the params schema's anyOf and this handler disagree")
	}
	if err != nil {
		what := "device with assetId " + assetID
		if assetID == "" {
			what = fmt.Sprintf("device with productKey %s and deviceKey %s", pk, dk)
		}
		return storeError(c.svc, err, what)
	}
	return c.reply(http.StatusOK, c.enosOK(deviceOut(d)))
}

// productKeyExpr reads the product out of the one search expression
// onboard evaluates (the store filters by product only). The schema's
// pattern refuses any other expression, so none is ever ignored.
var productKeyExpr = regexp.MustCompile(`^[ \t]*productKey[ \t]*=[ \t]*'([A-Za-z0-9_-]+)'[ \t]*$`)

// searchDevices: action=search, paged by pageNo/pageSize in creation order.
func (s *Server) searchDevices(c *call) error {
	var req struct {
		Expression string `json:"expression"`
		Pagination *struct {
			PageNo   int `json:"pageNo"`
			PageSize int `json:"pageSize"`
			Sorters  []struct {
				Field string `json:"field"`
				Order string `json:"order"`
			} `json:"sorters"`
		} `json:"pagination"`
		Projection []string `json:"projection"`
	}
	if len(c.result.Request) > 0 { // every member is optional
		if err := c.request(&req); err != nil {
			return err
		}
	}
	f := store.DeviceFilter{OrgID: c.org, Page: store.Page{Limit: searchPageSize}}
	pageNo, desc := 1, false
	if p := req.Pagination; p != nil {
		pageNo, f.Limit = p.PageNo, p.PageSize
		for _, so := range p.Sorters { // by createTime: the schema allows no other field
			desc = so.Order == "DESC"
		}
	}
	f.Offset = (pageNo - 1) * f.Limit
	if f.Limit > 0 && pageNo-1 > math.MaxInt32/f.Limit {
		// A page past any possible row; (pageNo-1)*pageSize would wrap
		// around to page 1 near pageNo 2^63.
		f.Offset = math.MaxInt32
	}
	if req.Expression != "" {
		m := productKeyExpr.FindStringSubmatch(req.Expression)
		if m == nil {
			return fmt.Errorf("the engine accepted expression %s, which productKeyExpr does not read: the schema and this handler disagree", quoteValue(req.Expression))
		}
		f.ProductKey = m[1]
	}
	devs, total, err := s.listDevices(c, f, desc)
	if err != nil {
		return storeError(c.svc, err, "devices")
	}
	data := make([]any, 0, len(devs))
	for i := range devs {
		d := deviceOut(&devs[i])
		if len(req.Projection) == 0 {
			data = append(data, d)
			continue
		}
		projected, err := project(d, req.Projection)
		if err != nil {
			return err
		}
		data = append(data, projected)
	}
	type pagination struct {
		PageNo    int `json:"pageNo"`
		PageSize  int `json:"pageSize"`
		TotalSize int `json:"totalSize"`
	}
	return c.reply(http.StatusOK, struct {
		enosEnvelope
		Pagination pagination `json:"pagination"`
	}{c.enosOK(data), pagination{pageNo, f.Limit, total}})
}

// listDevices pages in creation order, newest first when desc: the store
// reads the page from that end of the index, so the first page costs the
// same however many devices the org has.
func (s *Server) listDevices(c *call, f store.DeviceFilter, desc bool) ([]store.EnosDevice, int, error) {
	f.Desc = desc
	return s.cfg.Store.ListDevices(c.r.Context(), f)
}

// project keeps the Device members a projection names; "deviceName.default"
// style paths select their top-level member.
func project(d deviceJSON, fields []string) (map[string]any, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var all map[string]any
	if err := decodeExact(b, &all); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range fields {
		top, _, _ := strings.Cut(f, ".")
		if v, ok := all[top]; ok {
			out[top] = v
		}
	}
	return out, nil
}

// randomAlnum is a uniformly random string of n letters and digits.
func randomAlnum(n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		mustRead(buf)
		for _, b := range buf {
			// 248 = 4×62: rejecting the rest keeps every character equally likely.
			if b < 248 && len(out) < n {
				out = append(out, alnum[b%62])
			}
		}
	}
	return string(out)
}
