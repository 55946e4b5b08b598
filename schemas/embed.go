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

	"github.com/onboardhq/onboard/abi"
)

// FS holds the catalogue (catalogue/<service>.json) and the schema
// documents, laid out by service.
//
//go:embed catalogue ief iotda enos ces cbr
var FS embed.FS

// catalogueFiles are the per-service catalogue files, in the order their
// operations are listed. The catalogue is split by service so that
// operations of different services are added without editing one file.
var catalogueFiles = []string{
	"catalogue/ief.json",
	"catalogue/iotda.json",
	"catalogue/enos.json",
	"catalogue/ces.json",
	"catalogue/cbr.json",
}

// BaseURI prefixes every schema's path in FS to form its $id.
const BaseURI = "https://schemas.onboard.dev/"

// Operation is one entry of a catalogue file.
type Operation struct {
	ID             string            `json:"id"`
	Service        string            `json:"service"`
	Method         string            `json:"method"`
	Route          string            `json:"route"`
	Query          map[string]string `json:"query,omitempty"` // fixed query parameters that select the operation
	RequestSchema  string            `json:"request_schema"`  // path in FS; "" when the operation takes no body
	ResponseSchema string            `json:"response_schema"` // path in FS; "" when the success response has no body (204)
	SuccessStatus  int               `json:"success_status"`
	// Hook is the registration hook point that runs on the operation
	// (abi.BeforeCreate: operations that create a resource), "" for none.
	Hook string `json:"hook,omitempty"`
	// Params is the inline JSON Schema of the path, query and header
	// parameters, one object with a member per parameter.
	Params json.RawMessage `json:"params"`
	// Headers names the request headers that are parameters (Instance-Id):
	// the host passes them to the engine beside path and query parameters,
	// under these names, so they meet the same rules.
	Headers []string `json:"headers,omitempty"`
	// DefaultContentType is the media type a body without Content-Type is
	// read as, for services whose tables make the header optional (CES);
	// "" means the header is required.
	DefaultContentType string `json:"default_content_type,omitempty"`
	// BodyLimit is the largest body the operation's documented maximum
	// needs, for operations where the host's default (1 MiB) is too small;
	// nil for the others.
	BodyLimit *BodyLimit `json:"body_limit,omitempty"`
}

// BodyLimit is an operation's body size limit and where it comes from.
type BodyLimit struct {
	Bytes int64 `json:"bytes"`
	// Basis says which documented maximum the size is derived from, and
	// how, so that the number can be checked against the document.
	Basis string `json:"basis"`
}

var catalogue = sync.OnceValues(func() ([]Operation, error) {
	var ops []Operation
	for _, name := range catalogueFiles {
		b, err := FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		part, err := parseCatalogueFile(name, b)
		if err != nil {
			return nil, err
		}
		ops = append(ops, part...)
	}
	return ops, nil
})

func parseCatalogueFile(name string, b []byte) ([]Operation, error) {
	var part []Operation
	if err := json.Unmarshal(b, &part); err != nil {
		return nil, fmt.Errorf("schemas: %s: %w", name, err)
	}
	for _, op := range part {
		if op.Hook != "" && op.Hook != abi.BeforeCreate {
			return nil, fmt.Errorf("schemas: %s: %s: hook %q is not a hook point of an operation (use %q or none)", name, op.ID, op.Hook, abi.BeforeCreate)
		}
		if l := op.BodyLimit; l != nil && (l.Bytes <= 0 || l.Basis == "") {
			return nil, fmt.Errorf("schemas: %s: %s: body_limit needs positive bytes and the basis it comes from", name, op.ID)
		}
	}
	return part, nil
}

// Catalogue returns the operations of the catalogue files in the fixed
// order ief, iotda, enos, ces, cbr, parsed once. The slice is a copy; the
// Params bytes are shared and must not be modified.
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
