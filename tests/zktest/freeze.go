package zktest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Freezer is a zk.Dialer that simulates a wedge of go-zk's own connection loop: after
// Freeze, reads on the connections it dialed before stop returning, ignoring their deadlines
// and Close, so go-zk's receive loop never returns and go-zk never reports the
// disconnection, whatever is done to the connection. Connections dialed after Freeze are
// healthy. Unfreeze releases the frozen reads (they fail with net.ErrClosed); call it before
// the Client is closed (t.Cleanup(f.Unfreeze) registered after the Client's Connect runs
// first), or go-zk's goroutines stay blocked.
type Freezer struct {
	mu      sync.Mutex
	conns   []*frozenConn
	release chan struct{}
	once    sync.Once
	blocked chan struct{}
	bonce   sync.Once
}

// NewFreezer returns a Freezer that dials TCP like net.DialTimeout.
func NewFreezer() *Freezer {
	return &Freezer{release: make(chan struct{}), blocked: make(chan struct{})}
}

// Blocked returns a channel closed once a read is blocked on a frozen connection: go-zk's
// receive loop is stuck from then on (its read under way at Freeze has ended; the pings
// make sure it does within the ping interval). Send the call that must wait on the wedged
// loop after it.
func (f *Freezer) Blocked() <-chan struct{} { return f.blocked }

// Dial has zk.Dialer's signature.
func (f *Freezer) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	fc := &frozenConn{Conn: c, f: f, frozen: make(chan struct{}), wfrozen: make(chan struct{})}
	f.mu.Lock()
	f.conns = append(f.conns, fc)
	f.mu.Unlock()
	return fc, nil
}

// Freeze freezes the reads of every connection dialed so far and returns how many. Writes
// still go through, so go-zk's pings keep the session alive on the server.
func (f *Freezer) Freeze() int { return f.freeze(false) }

// FreezeAll is Freeze for writes too: go-zk's pings stop as well, so the server expires
// the session after its timeout, as when a client process stalls for good.
func (f *Freezer) FreezeAll() int { return f.freeze(true) }

func (f *Freezer) freeze(writes bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		if writes {
			c.wonce.Do(func() { close(c.wfrozen) })
		}
		c.once.Do(func() { close(c.frozen) })
	}
	n := len(f.conns)
	f.conns = nil
	return n
}

// Wedge is Freeze (or FreezeAll, with writes) followed by the wait for Blocked, within 30
// s: when it returns, go-zk's loop on the frozen connections is stuck, and a call made now
// waits on it. It fails t unless exactly one connection was frozen.
func (f *Freezer) Wedge(t testing.TB, writes bool) {
	t.Helper()
	if n := f.freeze(writes); n != 1 {
		t.Fatalf("froze %d connections, want 1", n)
	}
	select {
	case <-f.Blocked():
	case <-time.After(30 * time.Second):
		t.Fatal("go-zk's receive loop never blocked on the frozen connection")
	}
}

// Unfreeze releases every frozen read. It is idempotent.
func (f *Freezer) Unfreeze() { f.once.Do(func() { close(f.release) }) }

type frozenConn struct {
	net.Conn
	f       *Freezer
	frozen  chan struct{}
	once    sync.Once
	wfrozen chan struct{}
	wonce   sync.Once
}

// Write blocks for good once frozen by FreezeAll (until Unfreeze).
func (c *frozenConn) Write(b []byte) (int, error) {
	select {
	case <-c.wfrozen:
		<-c.f.release
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Write(b)
}

// Read blocks for good once frozen (until Unfreeze); a read already under way when Freeze
// runs ends as usual, and the next one blocks.
func (c *frozenConn) Read(b []byte) (int, error) {
	select {
	case <-c.frozen:
		c.f.bonce.Do(func() { close(c.f.blocked) })
		<-c.f.release
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Read(b)
}
