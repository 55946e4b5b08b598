// Package loadtest holds the bounded loopback load test of issue 9: three
// `onboard serve` processes on one PostgreSQL under a mixed workload
// (load_test.go; run with ONBOARD_LOAD=1). It has no non-test code.
package loadtest
