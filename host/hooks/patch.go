package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// mergePatch applies an RFC 7386 JSON merge patch to doc. Numbers keep
// their text (json.Number), so a patch never rounds a large integer.
func mergePatch(doc, patch []byte) ([]byte, error) {
	var p any
	if err := decode(patch, &p); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	if _, ok := p.(map[string]any); !ok {
		return nil, fmt.Errorf("patch must be a JSON object (an RFC 7386 merge patch)")
	}
	var d any
	if len(bytes.TrimSpace(doc)) > 0 {
		if err := decode(doc, &d); err != nil {
			return nil, fmt.Errorf("document: %w", err)
		}
	}
	return json.Marshal(merge(d, p))
}

func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

func merge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = merge(t[k], v)
	}
	return t
}
