package zktest_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// tlsDialer dials TLS with cfg (go-zk's dialer signature).
func tlsDialer(cfg *tls.Config) zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
		return d.Dial(network, address)
	}
}

// TestTLSServer starts a server that needs client certificates and talks to it over TLS with
// a plain go-zk connection, on whichever backend runs.
func TestTLSServer(t *testing.T) {
	t.Parallel()
	ca, err := zktest.NewCA("zktest CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue("zookeeper", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	srv := zktest.StartDedicated(t, zktest.WithTLS(zktest.TLS{Server: server, TrustPEM: ca.CertPEM(), ClientAuth: zktest.ClientAuthNeed}))
	if len(srv.SecureServers()) != 1 {
		t.Fatalf("SecureServers() = %v, want one address", srv.SecureServers())
	}
	cfg := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}, ServerName: "127.0.0.1"}
	conn, events, err := zk.Connect(srv.SecureServers(), 4*time.Second, zk.WithDialer(tlsDialer(cfg)), zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := ctxFor(t)
	for ev := range events {
		if ev.State == zk.StateHasSession {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	path := zktest.BasePath(t)
	createAll(t, conn, path, []byte("secret"))
	got, _, err := conn.Get(path)
	if err != nil || string(got) != "secret" {
		t.Fatalf("get %s over TLS = %q, %v", path, got, err)
	}
	// The plaintext port still serves (the harness waits on it).
	if m, err := zktest.ServerMode(ctx, srv.Addr()); err != nil || !m.Serving() {
		t.Fatalf("srvr on %s: %q, %v", srv.Addr(), m, err)
	}
	conn.Close()

	// A restarted server serves TLS again (on Docker, on a new port SecureServers follows).
	n := srv.Node()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	conn2, events2, err := zk.Connect(srv.SecureServers(), 4*time.Second, zk.WithDialer(tlsDialer(cfg)),
		zk.WithHostProvider(srv.SecureHostProvider()), zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	// The secure port binds a moment after the plaintext one serves: wait for the session
	// rather than have go-zk fail a request queued before its first dial went through.
	for ev := range events2 {
		if ev.State == zk.StateHasSession {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	if got, _, err := conn2.Get(path); err != nil || string(got) != "secret" {
		t.Fatalf("get %s over TLS after a restart = %q, %v", path, got, err)
	}
}
