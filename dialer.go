package zkrecipes

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// go-zk keeps the session timeout the server negotiated to itself. The Client needs it for
// its LOST timer (Curator measures LOST against the negotiated timeout), so every
// connection goes through snoopConn, which reads the timeout out of the server's connect
// response: the first frame on the connection, laid out as
// length(4) protocolVersion(4) timeOut(4) sessionId(8) passwd(...).
type negotiatedTimeout struct {
	ms atomic.Int64
	// handshake caps the deadlines go-zk sets before the connect response arrives. go-zk
	// allows 10x its read timeout (about 6.7 session timeouts) for the handshake, so a
	// frozen server that still accepts TCP connections (SIGSTOP, a VM pause, a long GC)
	// would hold the client until its session is long gone. Like ZooKeeper's Java client,
	// we give one server at most the session timeout divided by the number of servers.
	//
	// The first attempt gets less: a server that is starting accepts TCP connections a
	// little before it serves, and a connect request sent then is never answered, which
	// would hold a reconnect for the whole bound. So the bound starts at
	// handshakeFirst and doubles after each handshake that timed out (stalls), up to
	// handshake; an established session resets it. A server that needs longer to answer
	// costs a few short attempts, not a failed connection.
	handshake time.Duration
	stalls    atomic.Int32
	// tls, when set, runs TLS over every connection, under the snooping (WithTLS).
	tls *tls.Config
	// authFrames are the setAuth requests every connection sends after the session
	// handshake (authCount of them; see auth.go).
	authFrames []byte
	authCount  int
	// onErr is told why a dial, a TLS handshake or the session handshake failed; bad is
	// true for failures that are a misconfiguration rather than a server being away (TLS).
	onErr func(err error, bad bool)

	mu      sync.Mutex
	lastErr error // the last failure onErr was told of
	// current is the connection go-zk uses now (the last one dialed, until it is
	// closed), for the watchdog.
	current atomic.Pointer[snoopConn]
}

// fail records err as the last connection failure and passes it to onErr.
func (n *negotiatedTimeout) fail(err error, bad bool) {
	n.mu.Lock()
	n.lastErr = err
	n.mu.Unlock()
	if n.onErr != nil {
		n.onErr(err, bad)
	}
}

// lastError returns the last connection failure (nil when there was none).
func (n *negotiatedTimeout) lastError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastErr
}

// closeCurrent closes the connection go-zk uses now, if any (see watchdog).
func (n *negotiatedTimeout) closeCurrent() {
	if s := n.current.Load(); s != nil {
		s.Close()
	}
}

func (n *negotiatedTimeout) get(fallback time.Duration) time.Duration {
	if ms := n.ms.Load(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return fallback
}

// handshakeFirst is the bound of a first session handshake (see negotiatedTimeout).
const handshakeFirst = 500 * time.Millisecond

// handshakeBound is the deadline cap of the next session handshake.
func (n *negotiatedTimeout) handshakeBound() time.Duration {
	b := handshakeFirst << min(n.stalls.Load(), 8)
	return min(b, n.handshake)
}

// errAbandoned fails the dials go-zk attempts after the Client gave up its connections.
var errAbandoned = errors.New("zkrecipes: client closing; not dialing")

// wrap makes every connection a snoopConn, and ties it to abandon: once abandon is done,
// new dials fail at once and connections already made are closed, whatever go-zk is doing
// with them (dialing, waiting for a handshake, reading). dial == nil means TCP, with the
// dial itself abandoned too. With n.tls, TLS runs over the connection dial makes, and the
// snoopConn reads the plaintext. Failures are recorded (see fail).
func (n *negotiatedTimeout) wrap(dial zk.Dialer, abandon context.Context) zk.Dialer {
	if dial == nil {
		dial = func(network, address string, timeout time.Duration) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(abandon, network, address)
		}
	}
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		if abandon.Err() != nil {
			return nil, errAbandoned
		}
		c, err := dial(network, address, timeout)
		if err != nil {
			if abandon.Err() == nil {
				n.fail(err, false)
			}
			return nil, err
		}
		if abandon.Err() != nil {
			c.Close()
			return nil, errAbandoned
		}
		if n.tls != nil {
			// The handshake gets what the session handshake gets (see handshake): go-zk's
			// dial timeout (1 s) is tight for a busy server's first TLS handshake.
			c, err = tlsHandshake(c, n.tls, address, max(timeout, n.handshake), abandon)
			if err != nil {
				if !errors.Is(err, errAbandoned) {
					n.fail(err, true)
				}
				return nil, err
			}
		}
		s := &snoopConn{Conn: c, nt: n, abandon: abandon, address: address}
		s.unhook = context.AfterFunc(abandon, func() { c.Close() })
		if prev := n.current.Swap(s); prev != nil {
			// go-zk dials only once it is done with its previous connection, which it
			// does not always close (after a session expiry it leaves it open).
			prev.Close()
		}
		return s, nil
	}
}

// maxConnectResponse bounds the length of a server's connect response (37 bytes today:
// protocol version, timeout, session id, a 16-byte password and the read-only flag).
const maxConnectResponse = 1024

type snoopConn struct {
	net.Conn
	nt      *negotiatedTimeout
	abandon context.Context
	address string
	unhook  func() bool // releases the close at abandon
	mu      sync.Mutex
	head    []byte
	done    bool
	// read and frameLen count the bytes of the connect response (frameLen, known once its
	// head is read, is its length): the credentials' replies come after it.
	read, frameLen int
	auth           authState
}

// Write sends the credentials ahead of go-zk's first request (see auth.go).
func (s *snoopConn) Write(p []byte) (int, error) { return s.writeWithAuth(p) }

// Close closes the connection and releases its tie to the Client's abandon context.
func (s *snoopConn) Close() error {
	s.unhook()
	s.nt.current.CompareAndSwap(s, nil)
	return s.Conn.Close()
}

// SetReadDeadline caps the deadline while the handshake is under way (see handshake).
func (s *snoopConn) SetReadDeadline(t time.Time) error { return s.Conn.SetReadDeadline(s.capped(t)) }

// SetWriteDeadline caps the deadline while the handshake is under way (see handshake).
func (s *snoopConn) SetWriteDeadline(t time.Time) error { return s.Conn.SetWriteDeadline(s.capped(t)) }

func (s *snoopConn) capped(t time.Time) time.Time {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done || s.nt.handshake <= 0 {
		return t
	}
	limit := time.Now().Add(s.nt.handshakeBound())
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

func (s *snoopConn) Read(p []byte) (int, error) {
	if s.auth.armed.Load() {
		return s.readPastAuth(p)
	}
	n, err := s.Conn.Read(p)
	if err != nil && n == 0 && s.abandon.Err() == nil {
		s.mu.Lock()
		done := s.done
		s.mu.Unlock()
		if !done && errors.Is(err, os.ErrDeadlineExceeded) {
			s.nt.stalls.Add(1) // the next attempt waits longer (see handshakeBound)
		}
		if !done {
			// Before the connect response: a server that refuses us (a TLS client
			// certificate it does not accept, too many connections) says so here.
			s.nt.fail(fmt.Errorf("zkrecipes: ZooKeeper server %s: connection failed before the session handshake completed%s: %w",
				s.address, tlsHint(s.nt.tls, err, false), err), s.nt.tls != nil)
		}
	}
	if n > 0 {
		s.mu.Lock()
		if s.nt.authCount > 0 {
			s.read += n
		}
		if !s.done {
			need := 12 - len(s.head)
			if need > n {
				need = n
			}
			s.head = append(s.head, p[:need]...)
			if len(s.head) >= 4 && binary.BigEndian.Uint32(s.head[:4]) > maxConnectResponse {
				// Not ZooKeeper (an HTTP port, a proxy): go-zk would allocate
				// whatever length the first bytes spell, up to 4 GiB.
				length := binary.BigEndian.Uint32(s.head[:4])
				s.done, s.head = true, nil
				s.mu.Unlock()
				return 0, fmt.Errorf("zkrecipes: %s is not a ZooKeeper server (handshake reply of %d bytes)", s.RemoteAddr(), length)
			}
			if len(s.head) >= 12 {
				s.done = true
				s.frameLen = 4 + int(binary.BigEndian.Uint32(s.head[:4]))
				s.nt.stalls.Store(0)
				if ms := int32(binary.BigEndian.Uint32(s.head[8:12])); ms > 0 {
					s.nt.ms.Store(int64(ms))
				}
				s.head = nil
			}
		}
		complete := s.nt.authCount > 0 && s.frameLen > 0 && s.read >= s.frameLen
		s.mu.Unlock()
		if complete {
			s.arm() // the next read is past the connect response
		}
	}
	return n, err
}
