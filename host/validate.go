package host

import (
	"context"
	"errors"
	"log/slog"

	"github.com/onboardhq/onboard/abi"
)

// Validator is the engine as the services call it: a *Runtime, a
// *Reloadable, or anything that answers with the engine's result document.
type Validator interface {
	Validate(ctx context.Context, op string, params, body []byte) (*abi.Result, error)
}

var (
	_ Validator = (*Runtime)(nil)
	_ Validator = (*Reloadable)(nil)
)

// ErrUnavailable is a service's report of an engine call that failed (a
// trap, a timeout, a cancelled call, a closed runtime), not a verdict on
// the request: the client gets its message with 503 and may retry; the
// cause goes to the log.
var ErrUnavailable = errors.New("the validation engine failed on this request; retry later")

// Validate runs op on e. When the engine itself fails it logs the cause
// (with op and attrs, such as the request id) and returns ErrUnavailable:
// the one place the services turn an engine failure into a 503.
func Validate(ctx context.Context, e Validator, log *slog.Logger, op string, params, body []byte, attrs ...any) (*abi.Result, error) {
	res, err := e.Validate(ctx, op, params, body)
	if err != nil {
		log.Error("engine call failed", append([]any{"op", op, "err", err}, attrs...)...)
		return nil, ErrUnavailable
	}
	return res, nil
}
