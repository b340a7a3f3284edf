package zktest

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// FaultDialer is a zk.Dialer (pass d.Dial to zk.WithDialer, or to the Client's WithDialer)
// that injects network faults between one client and its servers: Cut drops the connection,
// BlackHole makes the network silently lose everything, SetLatency slows it down. A fault
// held longer than the session timeout makes the server expire the session, exactly as a
// real partition does, because the server hears nothing from the client.
//
// It is safe for concurrent use and starts no goroutines: every wait happens in the caller
// of Dial, Read or Write and ends at Heal, at Close of the connection, or at its deadline.
type FaultDialer struct {
	mu      sync.Mutex
	mode    faultMode
	healed  chan struct{} // closed exactly while mode == healthy
	latency time.Duration
	conns   map[*faultConn]struct{}
	dials   int
	lose    *lostReply // armed by LoseNextReply
}

type faultMode int

const (
	healthy faultMode = iota
	cut
	blackHole
)

// NewFaultDialer returns a healthy dialer that dials TCP like net.DialTimeout.
func NewFaultDialer() *FaultDialer {
	healed := make(chan struct{})
	close(healed)
	return &FaultDialer{healed: healed, conns: map[*faultConn]struct{}{}}
}

// Dial has zk.Dialer's signature. While cut it fails at once with connection refused; while
// black-holed it hangs until Heal (then dials) or until timeout (then fails with a timeout).
func (d *FaultDialer) Dial(network, address string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	d.dials++
	d.mu.Unlock()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: textAddr{network, address}, Err: err}
	}
	if err := d.await(deadline, nil); err != nil {
		return nil, opErr(err)
	}
	var dialer net.Dialer
	dialer.Deadline = deadline
	c, err := dialer.Dial(network, address)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: &replyConn{Conn: c, d: d}, d: d, done: make(chan struct{})}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mode == cut { // Cut raced with the dial
		c.Close()
		return nil, opErr(refused)
	}
	d.conns[fc] = struct{}{}
	return fc, nil
}

var refused = os.NewSyscallError("connect", syscall.ECONNREFUSED)

// await returns nil once the network is healthy, or the error the fault implies: refused
// while cut, a timeout at deadline (zero: none) while black-holed, net.ErrClosed when done
// closes.
func (d *FaultDialer) await(deadline time.Time, done <-chan struct{}) error {
	var timeout <-chan time.Time
	for {
		d.mu.Lock()
		mode, healed := d.mode, d.healed
		d.mu.Unlock()
		switch mode {
		case healthy:
			return nil
		case cut:
			return refused
		}
		if timeout == nil && !deadline.IsZero() {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-healed:
		case <-done:
			return net.ErrClosed
		case <-timeout:
			return os.ErrDeadlineExceeded
		}
	}
}

func (d *FaultDialer) setMode(m faultMode) []*faultConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mode == healthy && m != healthy {
		d.healed = make(chan struct{})
	} else if d.mode != healthy && m == healthy {
		close(d.healed)
	}
	d.mode = m
	if m != cut {
		return nil
	}
	var live []*faultConn
	for c := range d.conns {
		live = append(live, c)
	}
	return live
}

// Cut closes every live connection now, as a server crash or a reset would, and makes new
// dials fail at once with connection refused until Heal.
func (d *FaultDialer) Cut() {
	for _, c := range d.setMode(cut) {
		c.Close()
	}
}

// BlackHole makes the network lose everything without closing anything: live connections
// stay open but carry no bytes either way, and new dials hang until Heal or their timeout.
// As with a real black hole, writes still succeed (the bytes wait, as in a socket buffer)
// and reads wait for data until Heal, Close or their deadline. go-zk notices through its own
// read timeout.
func (d *FaultDialer) BlackHole() { d.setMode(blackHole) }

// Heal ends Cut or BlackHole: new dials go through, and black-holed connections deliver the
// bytes they held, in order, before any new ones.
func (d *FaultDialer) Heal() {
	d.setMode(healthy)
	d.mu.Lock()
	live := make([]*faultConn, 0, len(d.conns))
	for c := range d.conns {
		live = append(live, c)
	}
	d.mu.Unlock()
	for _, c := range live {
		c.flush()
	}
}

// SetLatency delays every write on current and future connections by l (0 removes it). A
// delay past the write deadline fails the write with a timeout.
func (d *FaultDialer) SetLatency(l time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.latency = max(l, 0)
}

// Dials returns how many times Dial was called, failed dials included.
func (d *FaultDialer) Dials() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// Conns returns how many connections from Dial are open.
func (d *FaultDialer) Conns() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// faultConn is a connection whose bytes pass only while the dialer is healthy.
type faultConn struct {
	net.Conn
	d         *FaultDialer
	done      chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	rDeadline time.Time
	wDeadline time.Time
	pending   []byte // received during a black hole, not yet delivered

	wmu     sync.Mutex // orders writes with the flush of held bytes
	outHeld []byte     // written during a black hole, not yet sent
}

func (c *faultConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *faultConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	deadline, held := c.rDeadline, len(c.pending) > 0
	c.mu.Unlock()
	if held {
		if err := c.d.await(deadline, c.done); err != nil {
			return 0, c.opErr("read", err)
		}
		c.mu.Lock()
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		// The bytes crossed the real network before or during a black hole; they must not
		// reach the client until it ends.
		if werr := c.d.await(deadline, c.done); werr != nil {
			c.mu.Lock()
			c.pending = append(c.pending, b[:n]...)
			c.mu.Unlock()
			return 0, c.opErr("read", werr)
		}
	}
	return n, err
}

func (c *faultConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	deadline := c.wDeadline
	c.mu.Unlock()
	// Writes keep their order through the delay, as on a slow link.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.d.mu.Lock()
	latency := c.d.latency
	c.d.mu.Unlock()
	if latency > 0 {
		if err := c.delay(latency, deadline); err != nil {
			return 0, c.opErr("write", err)
		}
	}
	c.d.mu.Lock()
	mode := c.d.mode
	c.d.mu.Unlock()
	switch mode {
	case cut:
		return 0, c.opErr("write", net.ErrClosed)
	case blackHole:
		c.outHeld = append(c.outHeld, b...)
		return len(b), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// flush sends the bytes held during a black hole.
func (c *faultConn) flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
}

func (c *faultConn) flushLocked() error {
	if len(c.outHeld) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.outHeld)
	c.outHeld = nil
	return err
}

// delay sleeps l, or until deadline (then a timeout) or Close.
func (c *faultConn) delay(l time.Duration, deadline time.Time) error {
	var err error
	if !deadline.IsZero() && time.Until(deadline) < l {
		l, err = max(time.Until(deadline), 0), os.ErrDeadlineExceeded
	}
	t := time.NewTimer(l)
	defer t.Stop()
	select {
	case <-t.C:
		return err
	case <-c.done:
		return net.ErrClosed
	}
}

func (c *faultConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rDeadline, c.wDeadline = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *faultConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wDeadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *faultConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	c.d.mu.Lock()
	delete(c.d.conns, c)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

// textAddr names the address a failed dial was for.
type textAddr struct{ network, address string }

func (a textAddr) Network() string { return a.network }
func (a textAddr) String() string  { return a.address }
