//go:build wasip1

// Command runaway-init is a guest whose start-up never ends: its init,
// run by _initialize, loops forever. The host's tests build it
// (examples.Build) to show that a start-up is stopped by its CPU budget.
package main

import "github.com/onboardhq/onboard/abi"

var sink int

func init() {
	spin()
	abi.Serve(abi.EngineVersion, func(op string, params, body []byte) []byte { return nil })
}

// spin never returns, and does work on every turn so no compiler can
// drop the loop.
func spin() {
	for i := 0; ; i++ {
		sink += i
	}
}

func main() {}
