// Package e2e holds the examples' end-to-end tests: the bookservice, gateway and nginxconf
// commands run as real processes (built once per test binary) against a real ZooKeeper
// from tests/zktest, with Debian's nginx and a Java Curator peer where the tests need
// them. The benchmark BenchmarkGatewayOverhead compares a request through the gateway
// with the same request sent to an instance directly.
//
//	cd examples && go test -race ./e2e
//	cd examples && go test -run '^$' -bench GatewayOverhead ./e2e
package e2e
