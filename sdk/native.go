//go:build !wasip1

package sdk

// serveLean has nothing to serve natively: the lean ABI exists only in a
// Wasm guest (guest.go).
func serveLean() {}
