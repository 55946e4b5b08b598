// Package schemas holds onboard's JSON Schema 2020-12 documents, one per
// request and response body of each operation, and the operation catalogue
// that ties each operation to its route, schemas and parameters.
//
// The documents are the single source of truth the engine compiles its
// checks from; each constraint cites the doc table it comes from. This
// package must not do I/O beyond reading the embedded FS.
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// FS holds catalogue.json and the schema documents, laid out by service.
//
//go:embed catalogue.json ief iotda enos ces cbr
var FS embed.FS

// BaseURI prefixes every schema's path in FS to form its $id.
const BaseURI = "https://schemas.onboard.dev/"

// Operation is one entry of catalogue.json.
type Operation struct {
	ID             string            `json:"id"`
	Service        string            `json:"service"`
	Method         string            `json:"method"`
	Route          string            `json:"route"`
	Query          map[string]string `json:"query,omitempty"` // fixed query parameters that select the operation
	RequestSchema  string            `json:"request_schema"`  // path in FS
	ResponseSchema string            `json:"response_schema"` // path in FS
	SuccessStatus  int               `json:"success_status"`
	Params         json.RawMessage   `json:"params"` // inline JSON Schema for path and query parameters
}

var catalogue = sync.OnceValues(func() ([]Operation, error) {
	b, err := FS.ReadFile("catalogue.json")
	if err != nil {
		return nil, err
	}
	var ops []Operation
	if err := json.Unmarshal(b, &ops); err != nil {
		return nil, fmt.Errorf("schemas: catalogue.json: %w", err)
	}
	return ops, nil
})

// Catalogue returns the operations of catalogue.json, parsed once. The
// slice is a copy; the Params bytes are shared and must not be modified.
func Catalogue() ([]Operation, error) {
	ops, err := catalogue()
	return slices.Clone(ops), err
}

// Lookup returns the operation with the given id.
func Lookup(id string) (Operation, bool) {
	ops, err := catalogue()
	if err != nil {
		return Operation{}, false
	}
	for _, op := range ops {
		if op.ID == id {
			return op, true
		}
	}
	return Operation{}, false
}
