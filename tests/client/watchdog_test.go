package client_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// watchdogLog records the Client's watchdog firings (Hooks.Watchdog).
type watchdogLog struct {
	mu     sync.Mutex
	events []zkrecipes.WatchdogEvent
	signal chan struct{}
}

func newWatchdogLog() *watchdogLog { return &watchdogLog{signal: make(chan struct{}, 1)} }

func (w *watchdogLog) hooks() zkrecipes.Option {
	return zkrecipes.WithHooks(zkrecipes.Hooks{Watchdog: func(_ context.Context, ev zkrecipes.WatchdogEvent) {
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.mu.Unlock()
		select {
		case w.signal <- struct{}{}:
		default:
		}
	}})
}

func (w *watchdogLog) all() []zkrecipes.WatchdogEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]zkrecipes.WatchdogEvent(nil), w.events...)
}

// waitFor waits until a firing matching match was seen.
func (w *watchdogLog) waitFor(t testing.TB, what string, match func(zkrecipes.WatchdogEvent) bool) zkrecipes.WatchdogEvent {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		for _, ev := range w.all() {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-w.signal:
		case <-deadline.C:
			t.Fatalf("no watchdog firing (%s) within %v; saw %+v", what, wait, w.all())
		}
	}
}

// A connection that still answers pings but swallows every reply: go-zk's read timeout
// never fires, the watchdog replaces the connection, the pending call is retried on the
// new one and succeeds, and the session survives.
func TestWatchdogReplacesWedgedConnection(t *testing.T) {
	srv := zktest.Start(t)
	fd := zktest.NewFaultDialer()
	wl := newWatchdogLog()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(2*time.Second), zkrecipes.WithDialer(fd.Dial), wl.hooks())
	ctx := ctxT(t)
	p := zktest.BasePath(t)
	if err := c.EnsurePath(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, p+"/n", []byte("v"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	rec := record(c)
	if n := fd.Wedge(); n != 1 {
		t.Fatalf("wedged %d connections, want 1", n)
	}
	data, _, err := c.Get(ctx, p+"/n")
	if err != nil || string(data) != "v" {
		t.Fatalf("Get across a wedged connection = %q, %v", data, err)
	}
	ev := wl.waitFor(t, "not wedged", func(ev zkrecipes.WatchdogEvent) bool { return !ev.Wedged })
	if ev.Pending < 1 || ev.Bound <= 0 || ev.Silent < ev.Bound {
		t.Fatalf("watchdog event %+v", ev)
	}
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	if rc, _ := rec.waitFor(t, 0, zkrecipes.StateReconnected); rc.NewSession || rc.SessionID != sid {
		t.Fatalf("reconnected %+v, want session %#x resumed", rc, sid)
	}
	rec.never(t, zkrecipes.StateLost, "after a watchdog replacement within the session")
	for _, ev := range wl.all() {
		if ev.Wedged {
			t.Fatalf("watchdog reported a wedged go-zk loop: %+v", wl.all())
		}
	}
	// The new connection is healthy.
	if _, err := c.Set(ctx, p+"/n", []byte("w"), -1); err != nil {
		t.Fatal(err)
	}
}

// A healthy client, idle and busy, over several session timeouts: the watchdog never fires.
func TestWatchdogQuietOnHealthyClient(t *testing.T) {
	srv := zktest.Start(t)
	wl := newWatchdogLog()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(time.Second), wl.hooks())
	ctx := ctxT(t)
	p := zktest.BasePath(t)
	if err := c.EnsurePath(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, p+"/n", nil, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	// Idle for three session timeouts (a fixed schedule, not a wait for a condition),
	// then busy for three more, with a watch pending throughout.
	if _, _, _, err := c.GetW(ctx, p+"/never"); err != nil && !errors.Is(err, zk.ErrNoNode) {
		t.Fatal(err)
	}
	<-time.After(3 * c.SessionTimeout())
	busy := time.After(3 * c.SessionTimeout())
	for done := false; !done; {
		select {
		case <-busy:
			done = true
		default:
			if _, _, err := c.Get(ctx, p+"/n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if evs := wl.all(); len(evs) != 0 {
		t.Fatalf("the watchdog fired on a healthy client: %+v", evs)
	}
	if st := c.State(); st != zkrecipes.StateConnected {
		t.Fatalf("state %v, want CONNECTED throughout", st)
	}
}

// freezingDialer simulates a wedge of go-zk's own loop: once frozen, reads on its
// connections block until the test releases them, ignoring deadlines and Close, so go-zk's
// receive loop never returns and its connection loop never reports the disconnection.
type freezingDialer struct {
	frozen  chan struct{}
	release chan struct{}
	once    sync.Once
}

func newFreezingDialer() *freezingDialer {
	return &freezingDialer{frozen: make(chan struct{}), release: make(chan struct{})}
}

func (d *freezingDialer) freeze() { close(d.frozen) }

func (d *freezingDialer) unfreeze() { d.once.Do(func() { close(d.release) }) }

func (d *freezingDialer) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	return &freezingConn{Conn: c, d: d}, nil
}

type freezingConn struct {
	net.Conn
	d *freezingDialer
}

func (c *freezingConn) Read(b []byte) (int, error) {
	select {
	case <-c.d.release: // released: connections work again
		return c.Conn.Read(b)
	default:
	}
	select {
	case <-c.d.frozen:
		<-c.d.release
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Read(b)
}

// A wedge of go-zk's loop: closing the connection does not make go-zk disconnect, and the
// watchdog says so (Wedged) at its next firing rather than staying silent.
func TestWatchdogReportsWedgedLoop(t *testing.T) {
	srv := zktest.Start(t)
	fd := newFreezingDialer()
	wl := newWatchdogLog()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(2*time.Second), zkrecipes.WithDialer(fd.Dial), wl.hooks())
	t.Cleanup(fd.unfreeze) // runs before the Client's Close
	ctx := ctxT(t)
	p := zktest.BasePath(t)
	if err := c.EnsurePath(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, p+"/n", nil, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	fd.freeze()
	got := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, p+"/n")
		got <- err
	}()
	wl.waitFor(t, "first", func(ev zkrecipes.WatchdogEvent) bool { return !ev.Wedged })
	ev := wl.waitFor(t, "wedged", func(ev zkrecipes.WatchdogEvent) bool { return ev.Wedged })
	if ev.Pending < 1 {
		t.Fatalf("wedged event %+v", ev)
	}
	// Releasing the wedge lets go-zk disconnect and reconnect; the call is retried and
	// succeeds.
	fd.unfreeze()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Get after the wedge was released: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("the pending call never ended after the wedge was released")
	}
}
