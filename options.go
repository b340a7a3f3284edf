package zkrecipes

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/retry"
)

// Default settings, as in Curator (the retry policy is the one the seed service used).
const (
	DefaultSessionTimeout    = 60 * time.Second
	DefaultConnectionTimeout = 15 * time.Second
	// DefaultMaxDataSize stays under ZooKeeper's default jute.maxbuffer (1 MiB for a whole
	// request, path and ACL included).
	DefaultMaxDataSize = 1024*1024 - 4096
)

// DefaultRetryPolicy returns the policy a Client uses when none is given:
// ExponentialBackoff(1 s, 3).
func DefaultRetryPolicy() retry.Policy { return retry.ExponentialBackoff(time.Second, 3) }

type config struct {
	sessionTimeout    time.Duration
	connectionTimeout time.Duration
	policy            retry.Policy
	namespace         string
	auth              []authInfo
	acl               []zk.ACL
	logger            *slog.Logger
	dialer            zk.Dialer
	tls               *tls.Config
	hostProvider      zk.HostProvider
	hooks             Hooks
	maxDataSize       int
	errs              []error
}

type authInfo struct {
	scheme string
	auth   []byte
}

// Option configures a Client.
type Option func(*config)

func (c *config) badf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...))
}

// WithSessionTimeout sets the requested session timeout (default 60 s). The server clamps
// it to [2, 20] x its tickTime; the negotiated value drives the LOST timer. A value <= 0
// makes Connect fail.
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.badf("session timeout %v must be positive", d)
		}
		c.sessionTimeout = d
	}
}

// WithConnectionTimeout bounds how long Connect waits for the first session (default 15 s).
// When it passes, Connect returns ErrConnectTimeout at once, abandoning the dial or
// handshake in flight (a dial made by a WithDialer dialer is waited out, at most 1 s).
// A value <= 0 makes Connect fail.
func WithConnectionTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.badf("connection timeout %v must be positive", d)
		}
		c.connectionTimeout = d
	}
}

// WithRetryPolicy sets the policy for retrying connection-class failures of every
// operation (default ExponentialBackoff(1 s, 3)). A nil policy makes Connect fail.
func WithRetryPolicy(p retry.Policy) Option {
	return func(c *config) {
		if p == nil {
			c.badf("nil retry policy")
		}
		c.policy = p
	}
}

// WithNamespace prefixes every path the Client is given with /ns (like Curator's
// namespace). The namespace node is created as a container when a create needs it. It is
// appended to a chroot given in the connect string. An invalid namespace makes Connect fail.
func WithNamespace(ns string) Option {
	return func(c *config) { c.namespace = ns }
}

// WithDigestAuth authenticates the session with ZooKeeper's digest scheme (user:password),
// on every connection: the Client's dialer sends the credentials ahead of the first
// request after each session handshake, so nothing the connection carries, watches set
// again after a reconnect included, runs unauthenticated. (go-zk is not given them: its own
// re-sending after a reconnect can wedge its connection loop for good when a write fails,
// see auth.go.) A server that refuses them fails the connection, which is retried, and the
// failure is logged. Combine it with WithACL(zk.DigestACL(...)) or
// WithACL(zk.AuthACL(zk.PermAll)) to make the nodes the client creates private to it.
func WithDigestAuth(user, password string) Option {
	return func(c *config) {
		if user == "" {
			c.badf("digest auth needs a user name")
		}
		c.auth = append(c.auth, authInfo{"digest", []byte(user + ":" + password)})
	}
}

// WithACL sets the ACL of every node the Client creates, parents and namespace included
// (default zk.WorldACL(zk.PermAll)). An empty list makes Connect fail.
func WithACL(acl []zk.ACL) Option {
	return func(c *config) {
		if len(acl) == 0 {
			c.badf("empty default ACL")
		}
		c.acl = acl
	}
}

// WithLogger sends the Client's log records (and go-zk's, at debug level) to l. By default
// nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithDialer sets how connections to servers are made, for fault injection or a proxy. The
// default dials TCP like net.DialTimeout, and Close abandons a dial in progress; a dial of
// d is waited out (go-zk bounds it to 1 s). With WithTLS, d makes the underlying
// connection and TLS runs over it.
func WithDialer(d zk.Dialer) Option {
	return func(c *config) {
		if d != nil {
			c.dialer = d
		}
	}
}

// WithTLS connects to the servers with TLS, as to ZooKeeper's secureClientPort; for mutual
// TLS put the client certificate in cfg.Certificates (or GetClientCertificate). cfg is
// cloned per connection, not modified; when cfg.ServerName is empty the server
// certificate is verified against the host of the server's address as the connect string
// gives it (a name, or an IP address the certificate must list), so Connect dials names
// unresolved, resolving them on every dial; with WithHostProvider, the addresses the
// provider returns are what is verified. A nil cfg makes Connect fail.
//
// A failed TLS handshake counts as a failed connection to that server: go-zk tries the
// next server, and keeps trying, as for a server that is down; it is logged at warning
// level with the server's address. When no session is established in time, Connect's
// ErrConnectTimeout error wraps the last such failure, which names the server and matches
// the crypto/tls and crypto/x509 errors (e.g. *tls.CertificateVerificationError for a
// server certificate from another CA) with errors.As. A client certificate the server
// refuses shows, with TLS 1.3, only once the server answers: as a connection failure
// "before the session handshake completed" that is recorded the same way. After a session
// was established, a handshake that fails while reconnecting suspends the Client like any
// other lost connection (SUSPENDED, then LOST after the session timeout).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if cfg == nil {
			c.badf("nil TLS config")
		}
		c.tls = cfg
	}
}

// WithHostProvider sets go-zk's host provider (which server to try next), replacing the
// Client's own (see Connect), for example zk.NewDNSHostProvider() for go-zk's behaviour or
// one that finds servers elsewhere. go-zk's dialing loop then follows hp's retryStart: when
// it is true, go-zk fails its queued requests with zk.ErrNoServer and pauses 1 s, and it
// notices Close only there, so Close can take up to that second. A nil hp keeps the
// default.
func WithHostProvider(hp zk.HostProvider) Option {
	return func(c *config) { c.hostProvider = hp }
}

// WithHooks installs hooks for metrics and tracing (see Hooks for what each reports, on
// which goroutine, and what a hook must not do), replacing those of an earlier WithHooks;
// JoinHooks combines several. The zero Hooks (the default) reports nothing and costs
// nothing.
func WithHooks(h Hooks) Option {
	return func(c *config) { c.hooks = h }
}

// WithMaxDataSize sets the largest node data the Client sends (default DefaultMaxDataSize).
// Match it to the server's jute.maxbuffer. A value <= 0 makes Connect fail.
func WithMaxDataSize(n int) Option {
	return func(c *config) {
		if n <= 0 {
			c.badf("max data size %d must be positive", n)
		}
		c.maxDataSize = n
	}
}

func defaultConfig() config {
	return config{
		sessionTimeout:    DefaultSessionTimeout,
		connectionTimeout: DefaultConnectionTimeout,
		policy:            DefaultRetryPolicy(),
		acl:               zk.WorldACL(zk.PermAll),
		maxDataSize:       DefaultMaxDataSize,
	}
}
