//go:build wasip1

// Command runaway-engine is the real engine with one deliberate bug: the
// operation "test.runaway" loops forever. The host's tests build it
// (examples.Build) to show that a runaway engine call is stopped without
// taking the host down.
package main

import (
	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/engine"
)

// Runaway is the operation that never returns.
const Runaway = "test.runaway"

var sink int

func init() {
	eng, err := engine.New()
	if err != nil {
		panic(err)
	}
	abi.Serve(abi.EngineVersion, func(op string, params, body []byte) []byte {
		if op == Runaway {
			spin(body)
		}
		return eng.Run(op, params, body)
	})
}

// spin never returns, and does work on every turn so no compiler can
// drop the loop.
func spin(body []byte) {
	for i := 0; ; i++ {
		sink += int(body[i%len(body)])
	}
}

func main() {}
