// Package zktest runs real ZooKeeper servers for tests: a server shared by a package's tests,
// dedicated servers, and ensembles whose members a test can stop, kill, pause and partition,
// plus a dialer that cuts, black-holes or slows a client's connections.
//
// A package that uses it runs its tests through Main, which stops the shared servers and
// checks for leaked goroutines:
//
//	func TestMain(m *testing.M) { zktest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := zktest.Start(t)                       // shared, tickTime 200 ms
//		conn, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
//		base := zktest.BasePath(t)                   // this test's private subtree
//		...
//	}
//
// # Backends
//
// The backend is chosen once per test binary and named on stderr:
//
//   - docker (the default): each server is a container of the image ZK_IMAGE (default
//     zkrecipes/zookeeper:3.8, built by `make image`; the official zookeeper:3.8 image works
//     too), created through testcontainers-go with Ryuk disabled. A missing image fails the
//     test at once with the command that builds it; nothing is ever pulled.
//   - local: when no Docker engine answers, each server is a JVM running Debian's
//     /usr/share/java/zookeeper.jar on 127.0.0.1 (ZK_TEST_CLASSPATH overrides the classpath).
//   - external: when ZK_TEST_SERVERS=host:port,... is set, tests use that ensemble. Nothing is
//     started; Start and StartDedicated return it (their options cannot apply and are
//     ignored), Server.Node is nil, and StartEnsemble skips.
//
// ZK_TEST_BACKEND=docker|local|external forces one. When no backend is available, tests skip,
// or fail when ZK_TEST_REQUIRE=1 (CI sets it).
//
// Servers the harness starts have tickTime 200 ms (sessions from 400 ms to 4 s),
// maxClientCnxns=0, the four-letter words ruok, srvr, stat, mntr, cons, wchs, wchc and dump,
// and no admin server. WithTLS adds a TLS secureClientPort (Server.SecureServers) served by
// the Netty connection factory, with key material from NewCA in PEM files written at start
// (copied into the container on Docker; the Netty jars Debian's zookeeper.jar manifest lacks
// are added to the classpath, or on Docker to the boot class path, so the image is unchanged).
// A server counts as ready when `srvr` reports a Mode line. Every
// container, network, process and directory is removed in t.Cleanup or by Main; after a test
// binary crashes, local servers die with it, and leftover containers carry the label
// zkrecipes.zktest.
package zktest
