package zktest

import "go.uber.org/goleak"

// findLeaks reports goroutines left running after the tests. goleak retries for a while, so
// goroutines already on their way out (go-zk's loops end shortly after Close returns) are
// not reported.
//
// Nothing is ignored by default. The only goroutines the Docker backend leaves behind are
// net/http's persistConn read and write loops of the Docker client's idle keep-alive
// connections (testcontainers closes the clients of its containers after every call); Main
// closes the harness's own client before checking, which ends them. Ignoring net/http loops
// wholesale would hide real leaks in packages that test HTTP code.
func findLeaks(opts ...goleak.Option) error {
	return goleak.Find(opts...)
}
