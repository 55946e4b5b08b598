package filter

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/onboardhq/onboard/abi"
)

// verdict reads what the filter needs of the engine's result document
// (abi.Result: {"op":…,"valid":…,"violations":[…],"batches":[…],
// "request":{…}}): the request-level violations and the normalised
// request. encoding/json would scan the whole document, a 1,000-device
// batch's normalised body included, at Wasm speed; only a document with
// violations is small and decoded whole. Violations, when present, follow
// "valid" directly, and then neither batches nor request follow; request
// is the last member.
func verdict(doc []byte) (violations []abi.Violation, request []byte, err error) {
	i := bytes.Index(doc, []byte(`,"valid":`))
	if !bytes.HasPrefix(doc, []byte(`{"op":`)) || i < 0 || doc[len(doc)-1] != '}' {
		return nil, nil, errors.New("not a result document")
	}
	rest := doc[i+len(`,"valid":`):]
	rest = rest[bytes.IndexAny(rest, ",}"):]
	if bytes.HasPrefix(rest, []byte(`,"violations":`)) {
		var res abi.Result
		if err := json.Unmarshal(doc, &res); err != nil {
			return nil, nil, err
		}
		return res.Violations, nil, nil
	}
	// A '"' inside a string is escaped, so the member's key cannot occur
	// inside the batches' strings; their keys are fixed.
	if j := bytes.Index(rest, []byte(`,"request":`)); j >= 0 {
		return nil, rest[j+len(`,"request":`) : len(rest)-1], nil
	}
	return nil, nil, nil
}
