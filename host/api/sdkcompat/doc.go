// Package sdkcompat proves that the official Huawei Cloud Go SDK works
// against onboard unchanged: endpoint override plus basic AK/SK
// credentials, one operation of each Huawei service (IEF, IoTDA, CES, CBR).
//
// It is a module of its own so the SDK's dependencies stay out of the core
// module; run it with `make sdk-test` (CI does).
package sdkcompat
