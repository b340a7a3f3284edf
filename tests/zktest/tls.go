package zktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CA is a throw-away certificate authority for TLS tests: it issues server and client
// certificates that a test hands to a server (WithTLS) and to a client (tls.Config).
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewCA makes a self-signed CA named name, valid from an hour ago for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"zkrecipes tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM returns the CA's certificate in PEM, the truststore of a server or client.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Pool returns a pool holding the CA's certificate, for tls.Config.RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// KeyPair is a certificate the CA issued with its private key.
type KeyPair struct {
	CertPEM []byte // the certificate, then the CA's
	KeyPEM  []byte // the private key, unencrypted PKCS#8 ("PRIVATE KEY")
	TLS     tls.Certificate
}

// Issue makes a certificate for cn, usable by servers and clients alike, with every entry
// of hosts as a subject alternative name (an IP address or a DNS name).
func (ca *CA) Issue(cn string, hosts ...string) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"zkrecipes tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.certPEM...)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &KeyPair{CertPEM: certPEM, KeyPEM: keyPEM, TLS: kp}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

// ClientAuth is what a TLS server asks of its clients (ZooKeeper's ssl.clientAuth).
type ClientAuth string

// The values of ssl.clientAuth.
const (
	ClientAuthNone ClientAuth = "none" // no client certificate is asked for
	ClientAuthWant ClientAuth = "want" // asked for, and checked when given
	ClientAuthNeed ClientAuth = "need" // mutual TLS: a client without one is refused
)

// TLS is what WithTLS gives a server.
type TLS struct {
	// Server is the server's certificate and key; it should name 127.0.0.1 (and localhost).
	Server *KeyPair
	// TrustPEM holds the CA certificates the server checks client certificates against.
	TrustPEM []byte
	// ClientAuth is none, want or need (the default is need, as in ZooKeeper).
	ClientAuth ClientAuth
}

// WithTLS makes the server serve TLS on a secureClientPort (Server.SecureServers) besides its
// plaintext port, with ZooKeeper's Netty connection factory. The key pair and truststore
// are written as PEM files into the server's configuration directory (ZooKeeper 3.8 reads
// PEM keystores), locally or copied into the container before it starts. The server does
// not check client host names. Missing key material fails the test; the external backend
// cannot do it (the test is skipped, or fails under ZK_TEST_REQUIRE).
func WithTLS(t TLS) Option {
	return func(c *config) {
		if t.Server == nil || len(t.Server.CertPEM) == 0 || len(t.Server.KeyPEM) == 0 || len(t.TrustPEM) == 0 {
			c.errs = append(c.errs, "WithTLS needs a server key pair and a truststore")
			return
		}
		switch t.ClientAuth {
		case "":
			t.ClientAuth = ClientAuthNeed
		case ClientAuthNone, ClientAuthWant, ClientAuthNeed:
		default:
			c.errs = append(c.errs, fmt.Sprintf("ssl.clientAuth %q: want none, want or need", t.ClientAuth))
			return
		}
		c.tls = &t
	}
}

// Files the TLS material is written to, relative to the server's configuration directory.
const (
	tlsKeyStoreFile   = "tls-keystore.pem"
	tlsTrustStoreFile = "tls-truststore.pem"
)

// tlsFiles returns the files a TLS server needs, by name.
func (t *TLS) files() map[string][]byte {
	return map[string][]byte{
		tlsKeyStoreFile:   append(append([]byte{}, t.Server.KeyPEM...), t.Server.CertPEM...),
		tlsTrustStoreFile: t.TrustPEM,
	}
}

// settings returns the zoo.cfg lines of a TLS server whose files are in dir and whose
// secure port is port.
func (t *TLS) settings(dir string, port int) [][2]string {
	return [][2]string{
		{"secureClientPort", fmt.Sprint(port)},
		{"serverCnxnFactory", "org.apache.zookeeper.server.NettyServerCnxnFactory"},
		{"ssl.keyStore.location", dir + "/" + tlsKeyStoreFile},
		{"ssl.keyStore.type", "PEM"},
		{"ssl.trustStore.location", dir + "/" + tlsTrustStoreFile},
		{"ssl.trustStore.type", "PEM"},
		{"ssl.clientAuth", string(t.ClientAuth)},
		// Clients come from addresses (Docker's gateway) their certificates need not name.
		{"ssl.hostnameVerification", "false"},
	}
}

// key identifies the TLS material for sharing servers.
func (t *TLS) key() string {
	if t == nil {
		return ""
	}
	h := sha256.New()
	for _, b := range [][]byte{t.Server.CertPEM, t.Server.KeyPEM, t.TrustPEM, []byte(t.ClientAuth)} {
		h.Write(b)
		h.Write([]byte{0})
	}
	return "tls=" + hex.EncodeToString(h.Sum(nil)) + "\n"
}
