// Package tests is the module of the adapters' tests against real ZooKeeper and of their
// overhead benchmark (see bench). It is the only module that needs the test harness
// (github.com/zkrecipes/zkrecipes/tests) next to the adapters, so that the adapters'
// own modules, which users import, carry neither the harness nor its Docker client in
// their module graph. Nothing imports it.
//
//	cd adapters/tests && go test -race ./...                   # otel/, prometheus/
//	cd adapters/tests && go test -run '^$' -bench . ./bench     # the overhead table
package tests
