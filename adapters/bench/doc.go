// Package bench measures what hooks cost a Client's operations: go-zk's raw round trip
// against the Client with no hooks, with a trivial hook, with the OpenTelemetry adapter
// and with the Prometheus adapter, on one real ZooKeeper, side by side in one run:
//
//	go test -run '^$' -bench . -benchmem -count 5
//
// Each sub-benchmark reports x-raw, its time per operation over the raw one's. It is its
// own module, the one place that imports the library, both adapters and the test
// harness; nothing imports it.
package bench
