package importer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// row is one device of the input file.
type row struct {
	num  int64          // 1-based data row (CSV header and blank NDJSON lines not counted)
	line int64          // NDJSON: the file's line; CSV: 0 (quoted fields may span lines)
	end  int64          // byte offset just after the row: where a resumed run starts reading
	dev  map[string]any // the CreateOption to send
	key  string         // its deviceKey
	err  error          // the row cannot be sent (not JSON, bad column value)
}

// source reads rows from a position in the file.
type source interface {
	next() (row, error) // io.EOF after the last row
}

// Format is the input format.
type Format string

// The input formats.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// FormatOf picks the format from the file name.
func FormatOf(name string) (Format, error) {
	switch lower := strings.ToLower(name); {
	case strings.HasSuffix(lower, ".csv"):
		return CSV, nil
	case strings.HasSuffix(lower, ".ndjson"), strings.HasSuffix(lower, ".jsonl"):
		return NDJSON, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name: use .csv, .ndjson or .jsonl", name)
}

// deriveKey makes the deviceKey of a row that has none: the same row of
// the same file always gets the same key, so a batch sent twice (after an
// interruption) meets EnOS 11702 instead of creating devices twice. The row
// number is part of it so two identical rows are two devices.
func deriveKey(product string, num int64, raw []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n", product, num)
	h.Write(raw)
	return "imp-" + hex.EncodeToString(h.Sum(nil))[:20]
}

// defaults fills what the row leaves out: productKey, timezone, deviceKey
// and deviceName (the deviceKey).
func (o *Options) defaults(r *row, raw []byte) {
	if _, ok := r.dev["productKey"]; !ok {
		r.dev["productKey"] = o.Product
	}
	if _, ok := r.dev["timezone"]; !ok {
		r.dev["timezone"] = o.Timezone
	}
	key, _ := r.dev["deviceKey"].(string)
	if key == "" {
		key = deriveKey(o.Product, r.num, raw)
		r.dev["deviceKey"] = key
	}
	r.key = key
	if _, ok := r.dev["deviceName"]; !ok {
		r.dev["deviceName"] = map[string]any{"defaultValue": key}
	}
}

// ---- NDJSON: one CreateOption object per line ----

type ndjsonSource struct {
	o    *Options
	r    *bufio.Reader
	off  int64
	line int64
	num  int64
}

func newNDJSON(o *Options, f *os.File, st *state) (*ndjsonSource, error) {
	if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
		return nil, err
	}
	return &ndjsonSource{o: o, r: bufio.NewReaderSize(f, 1<<20), off: st.Offset, line: st.Line, num: st.Rows}, nil
}

func (s *ndjsonSource) next() (row, error) {
	for {
		b, err := s.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			return row{}, err // io.EOF at the end
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return row{}, err
		}
		s.off += int64(len(b))
		s.line++
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		s.num++
		r := row{num: s.num, line: s.line, end: s.off, dev: map[string]any{}}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&r.dev); err != nil {
			r.err = fmt.Errorf("line %d is not a JSON object: %v", s.line, err)
			r.dev = nil
			return r, nil
		}
		if dec.More() {
			r.err = fmt.Errorf("line %d holds more than one JSON value", s.line)
			r.dev = nil
			return r, nil
		}
		s.o.defaults(&r, b)
		return r, nil
	}
}

// ---- CSV: a header row, then one device per record ----

// csvColumn maps a header cell onto the CreateOption.
type csvColumn struct {
	field string // deviceKey, productKey, timezone, deviceDesc, deviceName, deviceName.i18n, tag, attr
	sub   string // locale, tag or attribute name
}

func parseHeader(h []string) ([]csvColumn, error) {
	cols := make([]csvColumn, len(h))
	seen := map[string]bool{}
	for i, name := range h {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		if seen[name] {
			return nil, fmt.Errorf("CSV header: column %q appears twice", name)
		}
		seen[name] = true
		switch {
		case name == "deviceKey", name == "productKey", name == "timezone", name == "deviceDesc", name == "deviceName":
			cols[i] = csvColumn{field: name}
		case strings.HasPrefix(name, "deviceName.") && len(name) > len("deviceName."):
			cols[i] = csvColumn{field: "deviceName.i18n", sub: strings.TrimPrefix(name, "deviceName.")}
		case strings.HasPrefix(name, "tag.") && len(name) > len("tag."):
			cols[i] = csvColumn{field: "tag", sub: strings.TrimPrefix(name, "tag.")}
		case strings.HasPrefix(name, "attr.") && len(name) > len("attr."):
			cols[i] = csvColumn{field: "attr", sub: strings.TrimPrefix(name, "attr.")}
		default:
			return nil, fmt.Errorf("CSV header: unknown column %q: use deviceKey, deviceName, deviceName.LOCALE, productKey, timezone, deviceDesc, tag.NAME or attr.NAME", name)
		}
	}
	return cols, nil
}

type csvSource struct {
	o    *Options
	cols []csvColumn
	r    *csv.Reader
	base int64 // file offset the reader started at
	num  int64
}

func newCSV(o *Options, f *os.File, st *state) (*csvSource, error) {
	hr := csv.NewReader(f)
	header, err := hr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the CSV file is empty: it needs a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	start := st.Offset
	if start == 0 {
		start = hr.InputOffset()
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.FieldsPerRecord = len(header)
	r.ReuseRecord = true
	return &csvSource{o: o, cols: cols, r: r, base: start, num: st.Rows}, nil
}

func (s *csvSource) next() (row, error) {
	rec, err := s.r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrQuote) && !errors.Is(pe.Err, csv.ErrBareQuote) {
			// A record with the wrong number of fields is one bad row,
			// not the end of the import.
			s.num++
			return row{num: s.num, end: s.base + s.r.InputOffset(), err: fmt.Errorf("row %d: %v", s.num, pe.Err)}, nil
		}
		return row{}, err
	}
	s.num++
	r := row{num: s.num, end: s.base + s.r.InputOffset(), dev: map[string]any{}}
	var name map[string]any
	for i, c := range s.cols {
		v := rec[i]
		if v == "" {
			continue
		}
		switch c.field {
		case "deviceName":
			if name == nil {
				name = map[string]any{}
			}
			name["defaultValue"] = v
		case "deviceName.i18n":
			if name == nil {
				name = map[string]any{}
			}
			i18n, _ := name["i18nValue"].(map[string]any)
			if i18n == nil {
				i18n = map[string]any{}
				name["i18nValue"] = i18n
			}
			i18n[c.sub] = v
		case "tag":
			tags, _ := r.dev["deviceTags"].(map[string]any)
			if tags == nil {
				tags = map[string]any{}
				r.dev["deviceTags"] = tags
			}
			tags[c.sub] = v
		case "attr":
			attrs, _ := r.dev["deviceAttributes"].(map[string]any)
			if attrs == nil {
				attrs = map[string]any{}
				r.dev["deviceAttributes"] = attrs
			}
			attrs[c.sub] = attrValue(v)
		default:
			r.dev[c.field] = v
		}
	}
	if name != nil {
		if _, ok := name["defaultValue"]; !ok {
			r.err = fmt.Errorf("row %d: deviceName.LOCALE columns need a deviceName column too", s.num)
			r.dev = nil
			return r, nil
		}
		r.dev["deviceName"] = name
	}
	s.o.defaults(&r, []byte(strings.Join(rec, "\x1f")))
	return r, nil
}

// attrValue keeps numbers and booleans typed (the product model decides
// what an attribute is); everything else is a string.
func attrValue(v string) any {
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) {
		return json.Number(v)
	}
	return v
}
