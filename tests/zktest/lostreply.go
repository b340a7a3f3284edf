package zktest

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// ZooKeeper opcodes, for LoseNextReply matchers.
const (
	OpCreate     int32 = 1
	OpDelete     int32 = 2
	OpExists     int32 = 3
	OpGetData    int32 = 4
	OpSetData    int32 = 5
	OpGetChilden int32 = 8
	OpSync       int32 = 9
	OpCheck      int32 = 13
	OpMulti      int32 = 14
	OpCreate2    int32 = 15
	OpContainer  int32 = 19
	OpCreateTTL  int32 = 21
)

// LoseNextReply arms the dialer to lose one reply: the next request written on any of its
// connections for which match(opcode, path) holds reaches the server unchanged, and when
// the server's reply to it arrives the connection is closed instead of delivering it. The
// server has then applied (or refused) the request while the client sees a connection
// loss: the "request reached the server, reply lost" case. path is the first path in the
// request (for a multi, its first operation's); opcodes are the Op constants. The
// returned channel is closed once a reply was lost. Arming again replaces an armed
// matcher that has not fired.
func (d *FaultDialer) LoseNextReply(match func(op int32, path string) bool) <-chan struct{} {
	return d.loseNext(match, false)
}

// LoseNextReplyAndCut is LoseNextReply, and at the moment the reply is lost the dialer is
// also Cut (until Heal), before the client can see the connection go: the client then
// cannot reconnect to find out what its request did.
func (d *FaultDialer) LoseNextReplyAndCut(match func(op int32, path string) bool) <-chan struct{} {
	return d.loseNext(match, true)
}

func (d *FaultDialer) loseNext(match func(op int32, path string) bool, cut bool) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	lr := &lostReply{match: match, cut: cut, fired: make(chan struct{})}
	d.lose = lr
	return lr.fired
}

type lostReply struct {
	match func(op int32, path string) bool
	conn  *replyConn // the connection the matching request went out on
	xid   int32
	cut   bool // Cut the dialer as the reply is lost
	fired chan struct{}
	done  bool
}

// replyConn sits under faultConn and sees the plain byte streams: it reads the server's
// stream one whole frame at a time, so a frame can be dropped.
type replyConn struct {
	net.Conn
	d          *FaultDialer
	wroteFirst bool        // the connect request went out
	zkFramed   atomic.Bool // the first write was a length-prefixed frame: a ZooKeeper stream
	readFirst  bool        // the connect response came in
	partial    []byte
	out        []byte
	rmu        sync.Mutex
	wedged     atomic.Bool // see FaultDialer.Wedge
}

// pingXid is the xid of ZooKeeper's ping replies.
const pingXid = -2

// Wedge makes every connection open now stop delivering anything from its server except
// the replies to pings: requests still reach the server (and are applied), but their
// replies, watch events and everything else the server sends are dropped. The connection
// stays open and go-zk's read timeout never fires, because the pings keep coming back: a
// proxy that forwards only some bytes, or a server whose request pipeline is stuck while
// its ping path still answers. Connections dialed later are healthy (Heal does not undo a
// wedge; closing the connection ends it). Wedge returns how many connections it wedged.
func (d *FaultDialer) Wedge() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for c := range d.conns {
		if rc, ok := c.Conn.(*replyConn); ok && rc.zkFramed.Load() {
			rc.wedged.Store(true)
			n++
		}
	}
	return n
}

func (r *replyConn) Write(b []byte) (int, error) {
	if !r.wroteFirst {
		r.wroteFirst = true
		r.zkFramed.Store(len(b) >= 4 && int(binary.BigEndian.Uint32(b[:4])) == len(b)-4)
	} else if len(b) >= 12 {
		xid := int32(binary.BigEndian.Uint32(b[4:8]))
		op := int32(binary.BigEndian.Uint32(b[8:12]))
		r.d.mu.Lock()
		if lr := r.d.lose; lr != nil && lr.conn == nil && !lr.done && lr.match(op, requestPath(op, b[12:])) {
			lr.conn, lr.xid = r, xid
		}
		r.d.mu.Unlock()
	}
	return r.Conn.Write(b)
}

// requestPath is the first path in a request body, "" when there is none.
func requestPath(op int32, body []byte) string {
	if op == OpMulti {
		if len(body) < 9 {
			return ""
		}
		body = body[9:] // the first operation's header: type, done, err
	}
	if len(body) < 4 {
		return ""
	}
	n := int(int32(binary.BigEndian.Uint32(body[:4])))
	if n < 0 || len(body) < 4+n {
		return ""
	}
	return string(body[4 : 4+n])
}

func (r *replyConn) Read(b []byte) (int, error) {
	if !r.zkFramed.Load() {
		return r.Conn.Read(b) // not ZooKeeper's protocol (or nothing written yet): pass through
	}
	r.rmu.Lock()
	defer r.rmu.Unlock()
	for len(r.out) == 0 {
		frame, err := r.readFrame()
		if err != nil {
			return 0, err
		}
		if !r.readFirst {
			r.readFirst = true
		} else if len(frame) >= 8 {
			xid := int32(binary.BigEndian.Uint32(frame[4:8]))
			if xid != pingXid && r.wedged.Load() {
				continue // swallowed
			}
			r.d.mu.Lock()
			lr := r.d.lose
			lose := lr != nil && lr.conn == r && lr.xid == xid && !lr.done
			if lose {
				lr.done = true
				r.d.lose = nil
			}
			r.d.mu.Unlock()
			if lose {
				r.Conn.Close()
				if lr.cut {
					r.d.Cut()
				}
				close(lr.fired)
				return 0, &net.OpError{Op: "read", Net: "tcp", Addr: r.RemoteAddr(), Err: net.ErrClosed}
			}
		}
		r.out = frame
	}
	n := copy(b, r.out)
	r.out = r.out[n:]
	return n, nil
}

// readFrame reads one length-prefixed frame, keeping what a failed read got so far.
func (r *replyConn) readFrame() ([]byte, error) {
	need := func(n int) error {
		for len(r.partial) < n {
			buf := make([]byte, n-len(r.partial))
			m, err := r.Conn.Read(buf)
			r.partial = append(r.partial, buf[:m]...)
			if err != nil {
				if err == io.EOF && len(r.partial) > 0 && len(r.partial) < n {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		return nil
	}
	if err := need(4); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(r.partial[:4]))
	if size < 0 || size > 1<<26 {
		size = 0 // not a frame we understand: pass the header through
	}
	if err := need(4 + size); err != nil {
		return nil, err
	}
	frame := r.partial
	r.partial = nil
	return frame, nil
}
