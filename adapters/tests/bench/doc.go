// Package bench measures what hooks cost a Client's operations: go-zk's raw round trip
// against the Client with no hooks, with a trivial hook, with the OpenTelemetry adapter
// and with the Prometheus adapter, on one real ZooKeeper, side by side in one run:
//
//	go test -run '^$' -bench . -benchmem -count 5
//
// BenchmarkHookOverhead runs each configuration on its own and reports x-raw, its time
// per operation over the raw one's; BenchmarkHookOverheadInterleaved runs them in turns
// under the same load, for steadier ratios; BenchmarkHookCost is the hooks' CPU alone.
package bench
