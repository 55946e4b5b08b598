//go:build wasip1 && onboard_fault

package main

import "strings"

// A build for the fault tests only (-tags onboard_fault): a request whose
// query holds onboard-fault=panic makes the guest panic mid-request, as a
// bug in the filter would.
func init() {
	fault = func(uri string) {
		if strings.Contains(uri, "onboard-fault=panic") {
			panic("onboard_fault: injected panic")
		}
	}
}
