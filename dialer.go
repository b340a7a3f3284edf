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
	// session is the session of the last connect response that gave one, and lastZxid
	// the highest zxid of a reply to a request (go-zk keeps both to itself): a
	// replacement gen offers them to resume the session (see resumeOffer).
	session  atomic.Pointer[sessionCreds]
	lastZxid atomic.Int64
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
//
// With resume, the connect requests go-zk sends offer that session instead of a new one,
// until a server has answered one of them (see resumeOffer).
func (n *negotiatedTimeout) wrap(dial zk.Dialer, abandon context.Context, resume *resumeOffer) zk.Dialer {
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
		s := &snoopConn{Conn: c, nt: n, abandon: abandon, address: address, resume: resume}
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
	// head collects the connect response, whose length (frameLen) is known once its first
	// 4 bytes are read: the credentials' replies come after it.
	frameLen int
	auth     authState
	// past is set once the whole connect response is read; from then on frames follows
	// the replies go-zk reads, for the last zxid.
	past   atomic.Bool
	frames frameTracker
	// resume is the session the connect request offers (see wrap); wrote is set by the
	// first write (go-zk's connect request), on go-zk's connecting goroutine.
	resume *resumeOffer
	wrote  bool
}

// Write sends go-zk's connect request, offering the session to resume if there is one and
// never a zxid below the highest the Client has seen, and the credentials ahead of go-zk's
// first request after the handshake (see auth.go). Once the connection's gen is abandoned
// it writes nothing: a replaced go-zk loop must not reach a server (its close request would
// end the session the next gen resumed).
func (s *snoopConn) Write(p []byte) (int, error) {
	if s.abandon.Err() != nil {
		return 0, net.ErrClosed
	}
	if !s.wrote {
		s.wrote = true
		r := s.resume
		if r != nil && r.answered.Load() {
			r = nil
		}
		if q, ok := rewriteConnect(p, r, s.nt.lastZxid.Load()); ok {
			if _, err := s.Conn.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return s.writeWithAuth(p)
}

// rewriteConnect rewrites go-zk's connect request p, framed as on the wire: length(4)
// protocolVersion(4) lastZxidSeen(8) timeOut(4) sessionId(8) passwd(length-prefixed), then
// whatever a later go-zk adds. With r, a request for a new session offers r's session
// instead (a request that offers go-zk's own session is left so). A request that offers a
// session has its lastZxidSeen raised to at least zxid, so that a server behind what the
// Client has read refuses the connection (go-zk's own count starts again at 0 in a
// replacement gen). It reports false when there is nothing to change (a new session's
// request, without r, is never changed), or p cannot be parsed.
func rewriteConnect(p []byte, r *resumeOffer, zxid int64) ([]byte, bool) {
	if len(p) < 32 || int(binary.BigEndian.Uint32(p[:4])) != len(p)-4 {
		return nil, false
	}
	pl := int(binary.BigEndian.Uint32(p[28:32]))
	if pl < 0 || 32+pl > len(p) {
		return nil, false
	}
	ownSession := binary.BigEndian.Uint64(p[20:28]) != 0
	if ownSession {
		r = nil
	} else if r == nil {
		return nil, false // a new session: nothing to be consistent with
	}
	seen := int64(binary.BigEndian.Uint64(p[8:16]))
	if r == nil && seen >= zxid {
		return nil, false
	}
	if r != nil {
		zxid = max(zxid, r.zxid)
	}
	zxid = max(zxid, seen)
	id, passwd := int64(binary.BigEndian.Uint64(p[20:28])), p[32:32+pl]
	if r != nil {
		id, passwd = r.id, r.passwd
	}
	body := make([]byte, 0, len(p)+len(passwd))
	body = append(body, p[4:8]...) // protocol version
	body = binary.BigEndian.AppendUint64(body, uint64(zxid))
	body = append(body, p[16:20]...) // timeout
	body = binary.BigEndian.AppendUint64(body, uint64(id))
	body = binary.BigEndian.AppendUint32(body, uint32(len(passwd)))
	body = append(body, passwd...)
	body = append(body, p[32+pl:]...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...), true
}

// frameTracker follows the reply frames go-zk reads, length(4) xid(4) zxid(8) err(4)
// body, and keeps the highest zxid of a reply to a request (xid >= 0) in last, as go-zk
// does for its own reconnects. It is used by the reading goroutine only.
type frameTracker struct {
	hdr  [16]byte
	have int
	skip int
}

func (t *frameTracker) feed(b []byte, last *atomic.Int64) {
	for len(b) > 0 {
		if t.skip > 0 {
			k := min(t.skip, len(b))
			t.skip -= k
			b = b[k:]
			continue
		}
		k := copy(t.hdr[t.have:], b)
		t.have += k
		b = b[k:]
		if t.have < len(t.hdr) {
			return
		}
		t.have = 0
		t.skip = max(int(binary.BigEndian.Uint32(t.hdr[:4]))-12, 0)
		xid := int32(binary.BigEndian.Uint32(t.hdr[4:8]))
		zxid := int64(binary.BigEndian.Uint64(t.hdr[8:16]))
		if xid >= 0 {
			for cur := last.Load(); zxid > cur && !last.CompareAndSwap(cur, zxid); cur = last.Load() {
			}
		}
	}
}

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
	if s.past.Load() {
		var n int
		var err error
		if s.auth.armed.Load() {
			n, err = s.readPastAuth(p)
		} else {
			n, err = s.Conn.Read(p)
		}
		s.frames.feed(p[:n], &s.nt.lastZxid)
		return n, err
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
		if err := s.snoopHandshake(p[:n]); err != nil {
			return 0, err
		}
	}
	return n, err
}

// snoopHandshake takes in b, bytes read before the whole connect response was: it reads
// the negotiated timeout, the session and its password out of the response
// (length(4) protocolVersion(4) timeOut(4) sessionId(8) passwd(length-prefixed) ...), and
// hands what follows it to the frame tracker.
func (s *snoopConn) snoopHandshake(b []byte) error {
	s.mu.Lock()
	if s.frameLen == 0 {
		need := min(4-len(s.head), len(b))
		s.head = append(s.head, b[:need]...)
		if len(s.head) >= 4 {
			length := binary.BigEndian.Uint32(s.head[:4])
			if length > maxConnectResponse {
				// Not ZooKeeper (an HTTP port, a proxy): go-zk would allocate
				// whatever length the first bytes spell, up to 4 GiB.
				s.done, s.head = true, nil
				s.mu.Unlock()
				return fmt.Errorf("zkrecipes: %s is not a ZooKeeper server (handshake reply of %d bytes)", s.RemoteAddr(), length)
			}
			s.frameLen = 4 + int(length)
		}
		b = b[need:]
	}
	if s.frameLen > 0 {
		need := min(s.frameLen-len(s.head), len(b))
		s.head = append(s.head, b[:need]...)
		b = b[need:]
		if !s.done && len(s.head) >= 12 {
			s.done = true
			s.nt.stalls.Store(0)
			if ms := int32(binary.BigEndian.Uint32(s.head[8:12])); ms > 0 {
				s.nt.ms.Store(int64(ms))
			}
		}
	}
	complete := s.frameLen > 0 && len(s.head) >= s.frameLen
	var head []byte
	if complete {
		head, s.head = s.head, nil
	}
	s.mu.Unlock()
	if !complete {
		return nil
	}
	if len(head) >= 24 {
		if id := int64(binary.BigEndian.Uint64(head[12:20])); id != 0 {
			pl := int(binary.BigEndian.Uint32(head[20:24]))
			if pl >= 0 && 24+pl <= len(head) {
				s.nt.session.Store(&sessionCreds{id: id, passwd: append([]byte(nil), head[24:24+pl]...)})
			}
		}
	}
	if s.resume != nil {
		s.resume.answered.Store(true)
	}
	s.arm() // the next read is past the connect response
	s.past.Store(true)
	s.frames.feed(b, &s.nt.lastZxid)
	return nil
}
