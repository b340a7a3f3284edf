package zkrecipes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
