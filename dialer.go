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
