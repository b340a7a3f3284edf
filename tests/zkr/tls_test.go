package zkr_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// zkr reaches a server that demands mutual TLS with --tls-ca, --tls-cert and --tls-key,
// and without a client certificate it fails with the connection status.
func TestTLS(t *testing.T) {
	ca, err := zktest.NewCA("zkr test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue("zookeeper", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("zkr")
	if err != nil {
		t.Fatal(err)
	}
	srv := zktest.Start(t, zktest.WithTLS(zktest.TLS{Server: server, TrustPEM: ca.CertPEM(), ClientAuth: zktest.ClientAuthNeed}))
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, certFile, keyFile := write("ca.pem", ca.CertPEM()), write("client.pem", client.CertPEM), write("client.key", client.KeyPEM)
	servers := strings.Join(srv.SecureServers(), ",")

	out := mustZkr(t, srv, "--servers", servers, "--tls-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile, "tree", "/", "--depth", "0")
	if !strings.HasPrefix(out, "/  [persistent]") {
		t.Errorf("tree / over mutual TLS:\n%s", out)
	}
	r := zkr(t, srv, "--servers", servers, "--tls-ca", caFile, "--timeout", "3s", "tree", "/")
	if r.code != 4 {
		t.Errorf("without a client certificate: exit %d (stderr %q), want 4", r.code, r.stderr)
	}
	if r := zkr(t, srv, "--servers", servers, "--tls-cert", certFile, "tree", "/"); r.code != 2 || !strings.Contains(r.stderr, "--tls-key") {
		t.Errorf("--tls-cert alone: exit %d, stderr %q; want 2 naming --tls-key", r.code, r.stderr)
	}
}
