package zkrecipes

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
)

// Credentials (WithDigestAuth) are sent by the Client's dialer, not by go-zk: on every new
// connection, the setAuth requests go out in the same write as go-zk's first request after
// the session handshake, ahead of it, and their replies are taken off the connection before
// go-zk reads on. The server handles a connection's requests in order, so every request
// go-zk sends, the watches it sets again after a reconnect included, runs authenticated.
//
// go-zk could do this itself (Conn.AddAuth keeps the credentials and sends them again after
// every reconnect), but when the write of such a re-sent request fails, go-zk completes
// that request twice and its connection loop blocks for good: the client never reconnects
// and every call waits forever. With the credentials kept here, go-zk holds none and that
// path never runs. (Credentials added through Client.Conn().AddAuth are go-zk's again.)

// authXid and opSetAuth are ZooKeeper's request header values for a setAuth request.
const (
	authXid   = -4
	opSetAuth = 100
)

// authFrames encodes the setAuth requests for creds, framed as on the wire: length(4),
// xid(4) = -4, opcode(4) = 100, type(4) = 0, scheme (length-prefixed), auth (same).
func authFrames(creds []authInfo) []byte {
	var out []byte
	xid := int32(authXid)
	for _, a := range creds {
		body := binary.BigEndian.AppendUint32(nil, uint32(xid))
		body = binary.BigEndian.AppendUint32(body, opSetAuth)
		body = binary.BigEndian.AppendUint32(body, 0)
		body = binary.BigEndian.AppendUint32(body, uint32(len(a.scheme)))
		body = append(body, a.scheme...)
		body = binary.BigEndian.AppendUint32(body, uint32(len(a.auth)))
		body = append(body, a.auth...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out
}

// authState is a snoopConn's part in sending the credentials (see above).
type authState struct {
	armed   atomic.Bool  // the handshake is done and credentials are configured: reads filter
	sent    atomic.Bool  // the setAuth requests went out (or are going out) on this connection
	pending atomic.Int32 // their replies not yet taken off the connection
	ahead   []byte       // bytes read past a reply, for go-zk; owned by the reading goroutine
}

// arm runs when the connect response has been read: from then on, reads filter out the
// setAuth replies (go-zk's receive loop may already be reading when the first write
// sends the requests).
func (s *snoopConn) arm() {
	if s.nt.authCount > 0 {
		s.auth.pending.Store(int32(s.nt.authCount))
		s.auth.armed.Store(true)
	}
}

// maxFrame bounds a reply frame read while replies to setAuth are pending: ZooKeeper's
// jute.maxbuffer default (1 MiB) with room for a large child list.
const maxFrame = 16 << 20

// writeWithAuth writes p, preceded by the setAuth requests when this is the first write
// after the session handshake. It returns how many bytes of p were written.
func (s *snoopConn) writeWithAuth(p []byte) (int, error) {
	frames := s.nt.authFrames
	if !s.auth.armed.Load() || s.auth.sent.Swap(true) {
		return s.Conn.Write(p)
	}
	buf := make([]byte, 0, len(frames)+len(p))
	buf = append(append(buf, frames...), p...)
	n, err := s.Conn.Write(buf)
	return max(0, n-len(frames)), err
}

// readPastAuth reads for go-zk while replies to the setAuth requests are pending: it
// reads whole frames, drops those replies (failing the connection on an error code) and
// hands go-zk every other frame as it came.
func (s *snoopConn) readPastAuth(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(s.auth.ahead) > 0 {
			n := copy(p, s.auth.ahead)
			s.auth.ahead = s.auth.ahead[n:]
			return n, nil
		}
		if s.auth.pending.Load() <= 0 {
			return s.Conn.Read(p)
		}
		var head [4]byte
		if _, err := io.ReadFull(s.Conn, head[:]); err != nil {
			return 0, err
		}
		size := binary.BigEndian.Uint32(head[:])
		if size > maxFrame {
			return 0, fmt.Errorf("zkrecipes: ZooKeeper server %s: reply frame of %d bytes", s.address, size)
		}
		frame := make([]byte, 4+size)
		copy(frame, head[:])
		if _, err := io.ReadFull(s.Conn, frame[4:]); err != nil {
			return 0, err
		}
		// A reply header: xid(4) zxid(8) err(4).
		if size >= 16 && int32(binary.BigEndian.Uint32(frame[4:8])) == authXid {
			s.auth.pending.Add(-1)
			if code := int32(binary.BigEndian.Uint32(frame[16:20])); code != 0 {
				err := fmt.Errorf("zkrecipes: ZooKeeper server %s refused the credentials (error code %d)", s.address, code)
				s.nt.fail(err, true)
				return 0, err
			}
			continue
		}
		s.auth.ahead = frame
	}
}
