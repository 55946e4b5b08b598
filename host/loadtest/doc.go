// Package loadtest holds onboard's bounded loopback load tests; it has no
// non-test code:
//
//   - load_test.go (issue 9): three `onboard serve` processes on one
//     PostgreSQL under a mixed workload (ONBOARD_LOAD=1);
//   - flood_test.go (issue 15): 32 clients of 1,000-device batches against
//     one `onboard serve` while small GETs are measured (`make flood`).
package loadtest
