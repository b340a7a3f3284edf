package zkrecipes

import (
	"encoding/binary"
	"net"
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
	handshake time.Duration
}

func (n *negotiatedTimeout) get(fallback time.Duration) time.Duration {
	if ms := n.ms.Load(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return fallback
}

func (n *negotiatedTimeout) wrap(dial zk.Dialer) zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := dial(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return &snoopConn{Conn: c, nt: n}, nil
	}
}

type snoopConn struct {
	net.Conn
	nt   *negotiatedTimeout
	mu   sync.Mutex
	head []byte
	done bool
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
	limit := time.Now().Add(s.nt.handshake)
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

func (s *snoopConn) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if n > 0 {
		s.mu.Lock()
		if !s.done {
			need := 12 - len(s.head)
			if need > n {
				need = n
			}
			s.head = append(s.head, p[:need]...)
			if len(s.head) >= 12 {
				s.done = true
				if ms := int32(binary.BigEndian.Uint32(s.head[8:12])); ms > 0 {
					s.nt.ms.Store(int64(ms))
				}
				s.head = nil
			}
		}
		s.mu.Unlock()
	}
	return n, err
}
