package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// pki is the package's test CA with a server certificate for 127.0.0.1 and localhost and a
// client certificate; the same material lets tests share the TLS servers.
var pki = sync.OnceValues(func() (*testPKI, error) {
	ca, err := zktest.NewCA("zkrecipes test CA")
	if err != nil {
		return nil, err
	}
	server, err := ca.Issue("zookeeper", "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	client, err := ca.Issue("zkrecipes client")
	if err != nil {
		return nil, err
	}
	return &testPKI{ca: ca, server: server, client: client}, nil
})

type testPKI struct {
	ca             *zktest.CA
	server, client *zktest.KeyPair
}

// tlsServer returns the shared TLS server that asks clients for auth, with the test PKI.
func tlsServer(t *testing.T, auth zktest.ClientAuth) (*zktest.Server, *testPKI) {
	t.Helper()
	p, err := pki()
	if err != nil {
		t.Fatal(err)
	}
	srv := zktest.Start(t, zktest.WithTLS(zktest.TLS{Server: p.server, TrustPEM: p.ca.CertPEM(), ClientAuth: auth}))
	if len(srv.SecureServers()) == 0 {
		t.Fatal("TLS server without a secure port")
	}
	return srv, p
}

// operateAndReconnect creates and reads a node, cuts the connection with fd and checks that
// the Client reconnects to the same session and operates again.
func operateAndReconnect(t *testing.T, c *zkrecipes.Client, fd *zktest.FaultDialer) {
	t.Helper()
	ctx := ctxT(t)
	rec := record(c)
	path := zktest.BasePath(t) + "/tls"
	if _, err := c.Create(ctx, path, []byte("over tls"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Get(ctx, path); err != nil || string(got) != "over tls" {
		t.Fatalf("get %s = %q, %v", path, got, err)
	}
	if fd == nil {
		return
	}
	sid := c.SessionID()
	dials := fd.Dials()
	fd.Cut()
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	fd.Heal()
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want the same session %d", sc, sid)
	}
	if fd.Dials() <= dials {
		t.Fatalf("the reconnect did not go through the WithDialer dialer (%d dials before the cut, %d after)", dials, fd.Dials())
	}
	if _, err := c.Set(ctx, path, []byte("again"), -1); err != nil {
		t.Fatalf("set after the reconnect: %v", err)
	}
}

// TLS to the secure port, through a fault dialer (TLS runs over the dialer's connection):
// connect, operate, and reconnect to the same session after a cut.
func TestTLSConnectOperateReconnect(t *testing.T) {
	srv, p := tlsServer(t, zktest.ClientAuthNone)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.SecureServers(), zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool()}), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(100, 100*time.Millisecond)))
	operateAndReconnect(t, c, fd)
}

// The server certificate is verified against the name in the connect string: "localhost",
// not the address it resolves to.
func TestTLSVerifiesHostName(t *testing.T) {
	srv, p := tlsServer(t, zktest.ClientAuthNone)
	_, port, err := net.SplitHostPort(srv.SecureServers()[0])
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("localhost", port)
	c := connect(t, []string{addr}, zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool()}))
	operateAndReconnect(t, c, nil)

	// A name the certificate does not list fails, naming the server.
	ctx := ctxT(t)
	_, err = zkrecipes.Connect(ctx, []string{addr}, zkrecipes.WithConnectionTimeout(2*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool(), ServerName: "zk.example.com"}))
	var verr *tls.CertificateVerificationError
	if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !errors.As(err, &verr) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("connect with a name the certificate lacks: %v; want ErrConnectTimeout wrapping a certificate error naming %s", err, addr)
	}
	t.Logf("wrong name: %v", err)
}

// Mutual TLS: a client certificate from the CA the server trusts connects, operates and
// reconnects; without one the server refuses the client, and Connect says so.
func TestMutualTLS(t *testing.T) {
	srv, p := tlsServer(t, zktest.ClientAuthNeed)
	t.Run("with client certificate", func(t *testing.T) {
		fd := zktest.NewFaultDialer()
		c := connect(t, srv.SecureServers(), zkrecipes.WithSessionTimeout(4*time.Second),
			zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{p.client.TLS}}),
			zkrecipes.WithDialer(fd.Dial), zkrecipes.WithRetryPolicy(retry.NTimes(100, 100*time.Millisecond)))
		operateAndReconnect(t, c, fd)
	})
	t.Run("without client certificate", func(t *testing.T) {
		addr := srv.SecureServers()[0]
		_, err := zkrecipes.Connect(ctxT(t), []string{addr}, zkrecipes.WithConnectionTimeout(2*time.Second),
			zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool()}))
		if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !strings.Contains(err.Error(), addr) ||
			!strings.Contains(err.Error(), "client certificate") {
			t.Fatalf("connect without a client certificate: %v; want ErrConnectTimeout naming %s and the missing client certificate", err, addr)
		}
		t.Logf("no client certificate: %v", err)
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		other, err := zktest.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := other.Issue("stranger")
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.SecureServers()[0]
		_, err = zkrecipes.Connect(ctxT(t), []string{addr}, zkrecipes.WithConnectionTimeout(2*time.Second),
			zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{stranger.TLS}}))
		if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("connect with a foreign client certificate: %v; want ErrConnectTimeout naming %s", err, addr)
		}
		t.Logf("foreign client certificate: %v", err)
	})
}

// TLS 1.3 (ZooKeeper 3.8 needs ssl.ciphersuites to offer TLS 1.3 suites): mutual TLS
// works, and without a client certificate the client's handshake completes before the
// server checks for one; the refusal arrives as the first read, before the session
// handshake, and is reported the same way.
func TestMutualTLS13(t *testing.T) {
	p, err := pki()
	if err != nil {
		t.Fatal(err)
	}
	srv := zktest.Start(t, zktest.WithTLS(zktest.TLS{Server: p.server, TrustPEM: p.ca.CertPEM(), ClientAuth: zktest.ClientAuthNeed}),
		zktest.WithConfig("ssl.protocol", "TLSv1.3"), zktest.WithConfig("ssl.enabledProtocols", "TLSv1.3"),
		zktest.WithConfig("ssl.ciphersuites", "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384"))
	// With one, TLS 1.3 works.
	addr := srv.SecureServers()[0]
	c := connect(t, []string{addr}, zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{p.client.TLS}}))
	operateAndReconnect(t, c, nil)
	_, err = zkrecipes.Connect(ctxT(t), []string{addr}, zkrecipes.WithConnectionTimeout(2*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS13}))
	if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !strings.Contains(err.Error(), addr) ||
		!strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("connect without a client certificate: %v; want ErrConnectTimeout naming %s and the missing client certificate", err, addr)
	}
	t.Logf("no client certificate, TLS 1.3: %v", err)
}

// A TLS Client follows a dedicated server through a restart (on Docker a new port, through
// the harness's host provider): same session, operations work again.
func TestTLSReconnectAfterServerRestart(t *testing.T) {
	p, err := pki()
	if err != nil {
		t.Fatal(err)
	}
	srv := zktest.StartDedicated(t, zktest.WithTLS(zktest.TLS{Server: p.server, TrustPEM: p.ca.CertPEM(), ClientAuth: zktest.ClientAuthNeed}))
	c := connect(t, srv.SecureServers(), zkrecipes.WithSessionTimeout(8*time.Second),
		zkrecipes.WithHostProvider(srv.SecureHostProvider()),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{p.client.TLS}}),
		zkrecipes.WithRetryPolicy(retry.NTimes(200, 100*time.Millisecond)))
	rec := record(c)
	ctx := ctxT(t)
	path := zktest.BasePath(t) + "/tls"
	if _, err := c.Create(ctx, path, []byte("before"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	n := srv.Node()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want the same session %d (restored from the server's data)", sc, sid)
	}
	if got, _, err := c.Get(ctx, path); err != nil || string(got) != "before" {
		t.Fatalf("get %s after the restart = %q, %v", path, got, err)
	}
}

// A server certificate from a CA the client does not trust: Connect fails with
// ErrConnectTimeout wrapping the verification error, naming the server.
func TestTLSWrongCA(t *testing.T) {
	srv, _ := tlsServer(t, zktest.ClientAuthNone)
	other, err := zktest.NewCA("not the server's CA")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.SecureServers()[0]
	_, err = zkrecipes.Connect(ctxT(t), []string{addr}, zkrecipes.WithConnectionTimeout(2*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: other.Pool()}))
	var verr *tls.CertificateVerificationError
	if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !errors.As(err, &verr) {
		t.Fatalf("connect with the wrong CA: %v; want ErrConnectTimeout wrapping *tls.CertificateVerificationError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, addr) || !strings.Contains(msg, "TLS handshake") {
		t.Fatalf("connect with the wrong CA: %q does not name the server %s and the TLS handshake", msg, addr)
	}
	t.Logf("wrong CA: %v", err)
}

// A plaintext client on the TLS port, and a TLS client on the plaintext port, fail rather
// than hang, naming the server.
func TestTLSPortMismatch(t *testing.T) {
	srv, p := tlsServer(t, zktest.ClientAuthNone)
	addr := srv.Addr()
	_, err := zkrecipes.Connect(ctxT(t), []string{addr}, zkrecipes.WithConnectionTimeout(2*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool()}))
	if !errors.Is(err, zkrecipes.ErrConnectTimeout) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("TLS to the plaintext port: %v; want ErrConnectTimeout naming %s", err, addr)
	}
	t.Logf("TLS to the plaintext port: %v", err)
}

func TestWithTLSNil(t *testing.T) {
	_, err := zkrecipes.Connect(context.Background(), []string{"127.0.0.1:1"}, zkrecipes.WithTLS(nil))
	if !errors.Is(err, zkrecipes.ErrInvalidArgument) {
		t.Fatalf("WithTLS(nil): %v, want ErrInvalidArgument", err)
	}
}

// exampleTLS gives ExampleWithTLS the package's shared mutual-TLS test server, the CA that
// signed its certificate and a client certificate. In your code these come from your PKI.
func exampleTLS() (servers []string, ca *x509.CertPool, cert tls.Certificate) {
	p, err := pki()
	if err != nil {
		panic(err)
	}
	srv, err := zktest.SharedServer(zktest.WithTLS(zktest.TLS{Server: p.server, TrustPEM: p.ca.CertPEM(), ClientAuth: zktest.ClientAuthNeed}))
	if err != nil {
		panic("examples need ZooKeeper: " + err.Error())
	}
	return srv.SecureServers(), p.ca.Pool(), p.client.TLS
}

// Connect with mutual TLS to ZooKeeper's secureClientPort.
func ExampleWithTLS() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	servers, caPool, clientCert := exampleTLS() // e.g. []string{"zk1.example.com:2281"}, ...

	client, err := zkrecipes.Connect(ctx, servers,
		zkrecipes.WithNamespace(exampleNamespace()),
		zkrecipes.WithTLS(&tls.Config{
			RootCAs:      caPool,                        // the CA of the servers' certificates
			Certificates: []tls.Certificate{clientCert}, // for ssl.clientAuth=need
		}))
	if err != nil {
		// A failed handshake names the server, e.g. "... last connection error: zkrecipes: TLS
		// handshake with ZooKeeper server zk1.example.com:2281 failed: tls: failed to verify
		// certificate: x509: certificate signed by unknown authority".
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(context.Background())

	path, err := client.Create(ctx, "/secure", []byte("over TLS"), zkrecipes.ModePersistent, zkrecipes.WithParents())
	if err != nil {
		fmt.Println("create:", err)
		return
	}
	data, _, _ := client.Get(ctx, path)
	fmt.Printf("%s: %s\n", path, data)
	// Output: /secure: over TLS
}

// BenchmarkTLSRoundTrip compares a Get round trip over TLS (ZooKeeper's secureClientPort,
// Netty) with one over the plain port of the same server, side by side in one run; the
// ratio is TLS's cost per operation once the connection is up.
func BenchmarkTLSRoundTrip(b *testing.B) {
	p, err := pki()
	if err != nil {
		b.Fatal(err)
	}
	srv := zktest.Start(b, zktest.WithTLS(zktest.TLS{Server: p.server, TrustPEM: p.ca.CertPEM(), ClientAuth: zktest.ClientAuthNone}))
	base := zktest.BasePath(b)
	plain := connect(b, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	secure := connect(b, srv.SecureServers(), zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithTLS(&tls.Config{RootCAs: p.ca.Pool()}))
	ctx := context.Background()
	if _, err := plain.Create(ctx, base+"/node", []byte("data"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *zkrecipes.Client
	}{{"plain", plain}, {"tls", secure}} {
		b.Run("get/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, _, err := tc.c.Get(ctx, base+"/node"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
