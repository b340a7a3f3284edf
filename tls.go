package zkrecipes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// tlsHandshake runs a TLS client handshake over c, a fresh connection to address. The
// config's ServerName, when empty, is the host of address. The handshake is bounded by
// limit and ends when abandon does. A failure closes c and names the server.
func tlsHandshake(c net.Conn, cfg *tls.Config, address string, limit time.Duration, abandon context.Context) (net.Conn, error) {
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			host = address
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	ctx, cancel := context.WithTimeout(abandon, limit)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		if abandon.Err() != nil {
			return nil, errAbandoned
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Not the caller's context: say what timed out, as a network timeout.
			err = fmt.Errorf("no answer within %v: %w", limit, os.ErrDeadlineExceeded)
		}
		return nil, fmt.Errorf("zkrecipes: TLS handshake with ZooKeeper server %s failed%s: %w", address, tlsHint(cfg, err, true), err)
	}
	return tc, nil
}

// tlsHint explains the usual cause of a TLS failure that Go's message alone leaves open;
// handshaking is true during the TLS handshake, false once it is done.
func tlsHint(cfg *tls.Config, err error, handshaking bool) string {
	if cfg == nil {
		return ""
	}
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		if len(cfg.Certificates) == 0 && cfg.GetClientCertificate == nil {
			return " (the server refused the connection, and no client certificate is configured: " +
				"a server with ssl.clientAuth=need requires one in tls.Config.Certificates)"
		}
		return " (the server refused the connection: does it trust the CA of the client certificate?)"
	case handshaking && errors.Is(err, io.EOF):
		return " (the server closed the connection: is this its secureClientPort?)"
	}
	return ""
}

// literalHostProvider hands go-zk the servers as given, host names unresolved, so that the
// dialer sees the name (TLS verifies the server certificate against it) and resolves it
// afresh on every dial. It is Connect's default with WithTLS; the order is shuffled once,
// and like go-zk's provider it reports retryStart once every server was tried since the
// last successful connection.
type literalHostProvider struct {
	mu         sync.Mutex
	servers    []string
	curr, last int
}

func (p *literalHostProvider) Init(servers []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(servers) == 0 {
		return errors.New("zkrecipes: no ZooKeeper server given")
	}
	p.servers = append([]string(nil), servers...)
	rand.Shuffle(len(p.servers), func(i, j int) { p.servers[i], p.servers[j] = p.servers[j], p.servers[i] })
	p.curr, p.last = -1, -1
	return nil
}

func (p *literalHostProvider) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.servers)
}

func (p *literalHostProvider) Next() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.curr = (p.curr + 1) % len(p.servers)
	retryStart := p.curr == p.last
	if p.last == -1 {
		p.last = 0
	}
	return p.servers[p.curr], retryStart
}

func (p *literalHostProvider) Connected() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = p.curr
}
