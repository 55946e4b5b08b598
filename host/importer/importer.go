// Package importer creates EnOS devices in bulk from a CSV or NDJSON file
// of any size, through a running onboard (or any EnOS-compatible) server's
// batchCreate API.
//
// It streams the file in batches (the org's batch limit), writes one
// result line per row (created, or the error code and message), and can be
// interrupted at any point and resumed without creating a device twice: a
// state file next to the result file records the last acknowledged row and
// the batch in flight. Rows without a deviceKey get one derived from the
// row, so a batch sent again after an interruption meets EnOS 11702
// ("deviceKey exists") instead of duplicating; within the batch that was in
// flight, 11702 therefore means "created by the interrupted run". Each
// batch also carries an Idempotency-Key derived from its content, so
// onboard replays the first answer when the same batch is sent again.
//
// The package talks HTTP only: it must not validate devices itself (the
// server's engine owns the rules and reports bad rows per item).
package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options configure Run. Target, Token, Org and Product are required.
type Options struct {
	Target   string // base URL of the server, e.g. http://127.0.0.1:8080
	Token    string // EnOS bearer token of a service account of Org
	Org      string
	Product  string // productKey of rows that name none
	Timezone string // timezone of rows that name none; default +00:00
	Batch    int    // devices per request; default DefaultBatch (the EnOS org limit)
	// Result is the per-row result file (NDJSON); default INPUT.result.ndjson.
	// Its state file is Result + ".state".
	Result  string
	Format  Format // default: from the input's extension
	Client  *http.Client
	Retries int // attempts after a network error, 429 or 5xx without Retry-After; default 4
	// RetryAfterMax caps one wait a 429 or 503's Retry-After asks for
	// (default DefaultRetryAfterMax); RetryWaitTotal caps all the waits
	// before one batch is acknowledged (default DefaultRetryWaitTotal).
	RetryAfterMax, RetryWaitTotal time.Duration
	// Progress is called after each acknowledged batch.
	Progress func(Progress)
}

// DefaultBatch is EnOS's default per-org batch limit.
const DefaultBatch = 1000

// Waits on a busy server: onboard's admission lanes answer 429 with a
// Retry-After of at most 60 s, so one wait is capped there; a batch that
// has waited five minutes in all is given up (resumable) rather than
// retried for ever.
const (
	DefaultRetryAfterMax  = 60 * time.Second
	DefaultRetryWaitTotal = 5 * time.Minute
)

// Progress reports how far an import is.
type Progress struct {
	Rows, Created, Failed int64 // acknowledged so far, previous runs included
	StartRows             int64 // rows acknowledged before this run started
	Offset, Size          int64 // input bytes consumed, input size
	StartOffset           int64 // input bytes consumed before this run started
	Elapsed               time.Duration
}

// Rate is the rows per second of this run.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Rows-p.StartRows) / p.Elapsed.Seconds()
}

// ETA estimates the time left from the bytes left at this run's pace
// (rows are not counted ahead: the file may be larger than memory).
func (p Progress) ETA() (time.Duration, bool) {
	read := p.Offset - p.StartOffset
	if read <= 0 || p.Elapsed <= 0 {
		return 0, false
	}
	return time.Duration(float64(p.Size-p.Offset) / float64(read) * float64(p.Elapsed)), true
}

// Summary is the outcome of Run.
type Summary struct {
	Rows, Created, Failed int64
	Resumed               bool // the run continued an interrupted one
	AlreadyDone           bool // the state said the import was complete: nothing sent
	Result                string
}

// Result is one line of the result file.
type Result struct {
	Row       int64  `json:"row"`
	Line      int64  `json:"line,omitempty"` // NDJSON only
	DeviceKey string `json:"deviceKey,omitempty"`
	Status    string `json:"status"` // created | error
	AssetID   string `json:"assetId,omitempty"`
	Code      int    `json:"code"` // EnOS code: 0 created, 11702, 11739, 99400…
	Msg       string `json:"msg,omitempty"`
}

// Result statuses.
const (
	StatusCreated = "created"
	StatusError   = "error"
)

// ErrBatchRefused is a whole batch refused for a reason that retrying
// cannot fix (credentials, batch size, body size); the import stops.
var ErrBatchRefused = errors.New("importer: batch refused")

// state is the resume record, rewritten atomically after each batch.
type state struct {
	Version    int    `json:"version"`
	Input      string `json:"input"`
	InputSize  int64  `json:"input_size"`
	Org        string `json:"org"`
	Product    string `json:"product"`
	Rows       int64  `json:"rows"`   // rows acknowledged (results written)
	Offset     int64  `json:"offset"` // input byte offset after the last acknowledged row
	Line       int64  `json:"line"`   // NDJSON lines consumed
	ResultSize int64  `json:"result_size"`
	Created    int64  `json:"created"`
	Failed     int64  `json:"failed"`
	// Pending is the range of rows sent and not acknowledged: in it a
	// deviceKey that exists was created by the interrupted run.
	Pending *rowRange `json:"pending,omitempty"`
	Done    bool      `json:"done"`
}

type rowRange struct{ From, To int64 }

func (r *rowRange) has(n int64) bool { return r != nil && n >= r.From && n <= r.To }

// Run imports input. On error (including a cancelled ctx) the state file
// keeps what was acknowledged: run again with the same input and result
// file to resume.
func Run(ctx context.Context, input string, o Options) (Summary, error) {
	if err := o.fill(input); err != nil {
		return Summary{}, err
	}
	f, err := os.Open(input)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Summary{}, err
	}
	abs, _ := filepath.Abs(input)
	statePath := o.Result + ".state"
	st, resumed, err := loadState(statePath, o.Result)
	if err != nil {
		return Summary{}, err
	}
	if resumed {
		if st.Input != abs || st.Org != o.Org || st.Product != o.Product || st.InputSize != fi.Size() {
			return Summary{}, fmt.Errorf("%s belongs to another import (input %s, %d bytes, org %s, product %s): remove it and %s to start over, or pass another --result",
				statePath, st.Input, st.InputSize, st.Org, st.Product, o.Result)
		}
		if st.Done {
			return Summary{Rows: st.Rows, Created: st.Created, Failed: st.Failed, Resumed: true, AlreadyDone: true, Result: o.Result}, nil
		}
	} else {
		st = &state{Version: 1, Input: abs, InputSize: fi.Size(), Org: o.Org, Product: o.Product}
	}

	var src source
	switch o.Format {
	case CSV:
		src, err = newCSV(&o, f, st)
	default:
		src, err = newNDJSON(&o, f, st)
	}
	if err != nil {
		return Summary{}, err
	}

	// The result file is cut back to what the state acknowledges: lines
	// written after the last state save belong to a batch that is re-sent.
	res, err := os.OpenFile(o.Result, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Summary{}, err
	}
	defer res.Close()
	if err := res.Truncate(st.ResultSize); err != nil {
		return Summary{}, err
	}
	if _, err := res.Seek(st.ResultSize, io.SeekStart); err != nil {
		return Summary{}, err
	}

	im := &run{o: &o, st: st, statePath: statePath, res: res, size: fi.Size(), start: time.Now(), startRows: st.Rows, startOffset: st.Offset}
	err = im.loop(ctx, src)
	sum := Summary{Rows: st.Rows, Created: st.Created, Failed: st.Failed, Resumed: resumed, Result: o.Result}
	return sum, err
}

func (o *Options) fill(input string) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"target", o.Target}, {"token", o.Token}, {"org", o.Org}, {"product", o.Product}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("importer: missing %s", strings.Join(missing, ", "))
	}
	if o.Timezone == "" {
		o.Timezone = "+00:00"
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Result == "" {
		o.Result = input + ".result.ndjson"
	}
	if o.Format == "" {
		f, err := FormatOf(input)
		if err != nil {
			return err
		}
		o.Format = f
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Retries <= 0 {
		o.Retries = 4
	}
	if o.RetryAfterMax <= 0 {
		o.RetryAfterMax = DefaultRetryAfterMax
	}
	if o.RetryWaitTotal <= 0 {
		o.RetryWaitTotal = DefaultRetryWaitTotal
	}
	o.Target = strings.TrimRight(o.Target, "/")
	return nil
}

// loadState reads the state file; with none, a result file already there
// is refused rather than overwritten.
func loadState(path, result string) (*state, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if fi, err := os.Stat(result); err == nil && fi.Size() > 0 {
			return nil, false, fmt.Errorf("%s exists but has no state file %s: remove it or pass another --result", result, path)
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Version != 1 {
		return nil, false, fmt.Errorf("%s is not an import state file (%v): remove it and %s to start over", path, err, result)
	}
	return &st, true, nil
}

// save writes the state atomically (temp file + rename).
func (r *run) save() error {
	b, err := json.Marshal(r.st)
	if err != nil {
		return err
	}
	tmp := r.statePath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, r.statePath)
}

type run struct {
	o         *Options
	st        *state
	statePath string
	res       *os.File
	size      int64
	start     time.Time
	startRows int64
	// startOffset is where this run started reading.
	startOffset int64
}

func (r *run) loop(ctx context.Context, src source) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := make([]row, 0, r.o.Batch)
		var eof bool
		for len(batch) < r.o.Batch {
			rw, err := src.next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return fmt.Errorf("reading row %d: %w", r.st.Rows+int64(len(batch))+1, err)
			}
			batch = append(batch, rw)
		}
		if len(batch) > 0 {
			if err := r.batch(ctx, batch); err != nil {
				return err
			}
		}
		if eof {
			r.st.Done = true
			return r.save()
		}
	}
}

// batch sends one batch and records its results.
func (r *run) batch(ctx context.Context, rows []row) error {
	first, last := rows[0].num, rows[len(rows)-1].num
	// Rows of the batch an interrupted run sent: 11702 there is ours.
	resent := r.st.Pending
	r.st.Pending = &rowRange{From: first, To: last}
	if resent != nil {
		r.st.Pending = &rowRange{From: min(first, resent.From), To: max(last, resent.To)}
	}
	if err := r.save(); err != nil {
		return err
	}
	results := make([]Result, len(rows))
	var send []int
	for i, rw := range rows {
		results[i] = Result{Row: rw.num, Line: rw.line, DeviceKey: rw.key}
		if rw.err != nil {
			results[i].Status, results[i].Code, results[i].Msg = StatusError, enosInvalid, "not sent: "+rw.err.Error()
			continue
		}
		send = append(send, i)
	}
	if err := r.send(ctx, rows, send, results, resent); err != nil {
		return err
	}

	var buf bytes.Buffer
	for _, res := range results {
		b, _ := json.Marshal(res)
		buf.Write(b)
		buf.WriteByte('\n')
		if res.Status == StatusCreated {
			r.st.Created++
		} else {
			r.st.Failed++
		}
	}
	n, err := r.res.Write(buf.Bytes())
	if err != nil {
		return err
	}
	if err := r.res.Sync(); err != nil {
		return err
	}
	r.st.ResultSize += int64(n)
	r.st.Rows = last
	r.st.Offset = rows[len(rows)-1].end
	if l := rows[len(rows)-1].line; l > 0 {
		r.st.Line = l
	}
	r.st.Pending = nil
	if resent != nil && resent.To > last {
		// The interrupted run had sent rows beyond this (smaller) batch.
		r.st.Pending = &rowRange{From: last + 1, To: resent.To}
	}
	if err := r.save(); err != nil {
		return err
	}
	if r.o.Progress != nil {
		r.o.Progress(Progress{Rows: r.st.Rows, Created: r.st.Created, Failed: r.st.Failed, StartRows: r.startRows,
			Offset: r.st.Offset, Size: r.size, StartOffset: r.startOffset, Elapsed: time.Since(r.start)})
	}
	return nil
}

// EnOS codes the importer acts on.
const (
	enosKeyExists = 11702
	enosInvalid   = 99400
)

type enosItem struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	Data *struct {
		AssetID   string `json:"assetId"`
		DeviceKey string `json:"deviceKey"`
	} `json:"data"`
}

type enosReply struct {
	Code      int             `json:"code"`
	Msg       string          `json:"msg"`
	RequestID string          `json:"requestId"`
	Data      json.RawMessage `json:"data"`
}

// send posts the rows at idx (splitting on 413) and fills their results.
func (r *run) send(ctx context.Context, rows []row, idx []int, results []Result, resent *rowRange) error {
	if len(idx) == 0 {
		return nil
	}
	devs := make([]map[string]any, len(idx))
	for i, k := range idx {
		devs[i] = rows[k].dev
	}
	body, err := json.Marshal(map[string]any{"deviceList": devs})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(append([]byte(r.o.Org+"\n"), body...))
	idemKey := "onboard-import-" + hex.EncodeToString(sum[:16])
	u := r.o.Target + "/connect-service/v2.4/devices?action=batchCreate&orgId=" + url.QueryEscape(r.o.Org)

	var status int
	var raw []byte
	var waited time.Duration
	for attempt, backoffs := 0, 0; ; attempt++ {
		var retryAfter time.Duration
		status, raw, retryAfter, err = r.post(ctx, u, body, idemKey)
		transient := err != nil || status == http.StatusTooManyRequests || status >= 500
		if !transient {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The server's Retry-After says when it has room: it is honoured
		// (capped) and does not use up an attempt; otherwise back off.
		wait := min(retryAfter, r.o.RetryAfterMax)
		if retryAfter <= 0 {
			wait = time.Duration(250<<backoffs) * time.Millisecond
			backoffs++
		}
		giveUp := ""
		switch {
		case retryAfter <= 0 && backoffs > r.o.Retries:
			giveUp = fmt.Sprintf("after %d attempts", attempt+1)
		case waited+wait > r.o.RetryWaitTotal:
			giveUp = fmt.Sprintf("after %d attempts and %s of waiting (the server asks for %s more)", attempt+1, waited.Round(time.Millisecond), wait.Round(time.Millisecond))
		}
		if giveUp != "" {
			if err == nil {
				err = fmt.Errorf("status %d: %s", status, snippet(raw))
			}
			return fmt.Errorf("rows %d-%d: giving up %s: %w", rows[idx[0]].num, rows[idx[len(idx)-1]].num, giveUp, err)
		}
		// A retry is a re-send: 11702 in it is this run's own creation.
		resent = &rowRange{From: rows[idx[0]].num, To: rows[idx[len(idx)-1]].num}
		waited += wait
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if status == http.StatusRequestEntityTooLarge && len(idx) > 1 {
		half := len(idx) / 2
		if err := r.send(ctx, rows, idx[:half], results, resent); err != nil {
			return err
		}
		return r.send(ctx, rows, idx[half:], results, resent)
	}
	var rep enosReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("%w: status %d, not an EnOS reply: %s", ErrBatchRefused, status, snippet(raw))
	}
	if status != http.StatusOK || rep.Code != 0 {
		hint := ""
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			hint = " (check --token: a bearer token of a service account of --org)"
		case status == http.StatusRequestEntityTooLarge:
			hint = " (one row is larger than the server's body limit)"
		case strings.Contains(rep.Msg, "per batch"):
			hint = " (lower --batch to the org's limit)"
		}
		// The server wrote nothing: the batch is no longer in flight.
		r.st.Pending = nil
		_ = r.save()
		return fmt.Errorf("%w: rows %d-%d: status %d, code %d: %s%s", ErrBatchRefused,
			rows[idx[0]].num, rows[idx[len(idx)-1]].num, status, rep.Code, rep.Msg, hint)
	}
	var items []enosItem
	if err := json.Unmarshal(rep.Data, &items); err != nil || len(items) != len(idx) {
		return fmt.Errorf("%w: rows %d-%d: expected %d results, got %s", ErrBatchRefused,
			rows[idx[0]].num, rows[idx[len(idx)-1]].num, len(idx), snippet(rep.Data))
	}
	for i, k := range idx {
		it, res := items[i], &results[k]
		switch {
		case it.Code == 0:
			res.Status = StatusCreated
			if it.Data != nil {
				res.AssetID = it.Data.AssetID
				if it.Data.DeviceKey != "" {
					res.DeviceKey = it.Data.DeviceKey
				}
			}
		case it.Code == enosKeyExists && resent.has(rows[k].num):
			res.Status, res.Code = StatusCreated, 0
			res.Msg = "already created by an interrupted run of this import"
		default:
			res.Status, res.Code, res.Msg = StatusError, it.Code, it.Msg
		}
	}
	return nil
}

// post sends one batch; retryAfter is the wait a 429 or 503 asks for
// (zero when it names none).
func (r *run) post(ctx context.Context, u string, body []byte, idemKey string) (status int, raw []byte, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.o.Token)
	req.Header.Set("Idempotency-Key", idemKey)
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(bufio.NewReader(io.LimitReader(resp.Body, 64<<20)))
	if err != nil {
		return 0, nil, 0, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, raw, retryAfter, nil
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date
// (RFC 9110 §10.2.3); anything else, or a time past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
