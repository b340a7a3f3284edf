package client_test

import (
	"context"
	"errors"
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

// A wedge of go-zk's own loop (reads that never return, whatever is done to the
// connection): closing the connection does not make go-zk disconnect, so the watchdog
// reports it (Wedged) and replaces the go-zk connection. The pending call fails over to
// the new connection and succeeds while the old loop is still wedged; the session is
// resumed (same id, its ephemeral node intact) and the RECONNECTED says the watches were
// lost; a watch set on the old connection never fires, one set again does.
func TestWatchdogReplacesWedgedLoop(t *testing.T) {
	srv := zktest.Start(t)
	fz := zktest.NewFreezer()
	wl := newWatchdogLog()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(2*time.Second), zkrecipes.WithDialer(fz.Dial), wl.hooks())
	t.Cleanup(fz.Unfreeze) // runs before the Client's Close
	ctx := ctxT(t)
	p := zktest.BasePath(t)
	if err := c.EnsurePath(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, p+"/n", []byte("v"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	eph, err := c.Create(ctx, p+"/e", nil, zkrecipes.ModeEphemeral)
	if err != nil {
		t.Fatal(err)
	}
	_, _, oldWatch, err := c.GetW(ctx, p+"/n")
	if err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	oldConn := c.Conn()
	rec := record(c)
	fz.Wedge(t, false)
	data, _, err := c.Get(ctx, p+"/n")
	if err != nil || string(data) != "v" {
		t.Fatalf("Get across a wedged go-zk loop = %q, %v", data, err)
	}
	ev := wl.waitFor(t, "wedged", func(ev zkrecipes.WatchdogEvent) bool { return ev.Wedged })
	if ev.Pending < 1 {
		t.Fatalf("wedged event %+v", ev)
	}
	if c.Conn() == oldConn {
		t.Fatal("the go-zk connection was not replaced")
	}
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	rc, _ := rec.waitFor(t, 0, zkrecipes.StateReconnected)
	if rc.NewSession || rc.SessionID != sid || !rc.WatchesLost {
		t.Fatalf("reconnected %+v, want session %#x resumed with WatchesLost", rc, sid)
	}
	rec.never(t, zkrecipes.StateLost, "after a replacement that resumed the session")
	if c.SessionID() != sid {
		t.Fatalf("session %#x after the replacement, want %#x", c.SessionID(), sid)
	}
	ok, st, err := c.Exists(ctx, eph)
	if err != nil || !ok || st.EphemeralOwner != sid {
		t.Fatalf("the session's ephemeral %s after the replacement: exists %v, stat %+v, err %v", eph, ok, st, err)
	}
	// The old watch is gone with the old connection; a new one works.
	_, _, newWatch, err := c.GetW(ctx, p+"/n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, p+"/n", []byte("w"), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-newWatch:
		if ev.Type != zk.EventNodeDataChanged {
			t.Fatalf("new watch: %+v", ev)
		}
	case <-time.After(wait):
		t.Fatal("the watch set after the replacement never fired")
	}
	select {
	case ev := <-oldWatch:
		t.Fatalf("the watch of the replaced connection fired: %+v", ev)
	default:
	}
}

// A sequential create abandoned (ctx ended) while it waited on a wedged go-zk loop: its
// outcome is unknown and it is not sent again. It settles when the watchdog replaces the
// connection, not before: go-zk's Close then fails the attempt, and nothing can send it
// any more (the old connection is closed and its dialer refuses).
func TestWatchdogReplacementSettlesAbandonedCall(t *testing.T) {
	srv := zktest.Start(t)
	fz := zktest.NewFreezer()
	wl := newWatchdogLog()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(2*time.Second), zkrecipes.WithDialer(fz.Dial), wl.hooks())
	t.Cleanup(fz.Unfreeze)
	ctx := ctxT(t)
	p := zktest.BasePath(t)
	if err := c.EnsurePath(ctx, p); err != nil {
		t.Fatal(err)
	}
	fz.Wedge(t, false)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := c.Create(short, p+"/s-", nil, zkrecipes.ModePersistentSequential)
	if !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("sequential create abandoned on a wedged loop: %v, want ErrOutcomeUnknown", err)
	}
	settled := zkrecipes.Settled(err)
	select {
	case <-settled:
		t.Fatalf("the attempt counts as settled while the wedged go-zk loop holds it: %v", err)
	default:
	}
	wl.waitFor(t, "wedged", func(ev zkrecipes.WatchdogEvent) bool { return ev.Wedged })
	select {
	case <-settled:
	case <-time.After(wait):
		t.Fatal("the abandoned attempt never settled after the replacement")
	}
	kids, _, err := c.Children(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) > 1 {
		t.Fatalf("the sequential create was applied %d times: %v", len(kids), kids)
	}
}

// BenchmarkWatchdogReplacement measures how long a call waits on a wedged go-zk loop
// before it succeeds on the replacement connection (the session resumed), against the
// negotiated session timeout: the watchdog's bound is the session timeout, and the
// replacement comes a quarter of it after the first firing.
// cd tests && go test -run '^$' -bench WatchdogReplacement -benchtime 5x ./client
func BenchmarkWatchdogReplacement(b *testing.B) {
	srv := zktest.Start(b)
	p := zktest.BasePath(b)
	var total, toReconnected, bound time.Duration
	for i := 0; i < b.N; i++ {
		fz := zktest.NewFreezer()
		c := connect(b, srv.Servers(), zkrecipes.WithSessionTimeout(2*time.Second), zkrecipes.WithDialer(fz.Dial))
		ctx := ctxT(b)
		if err := c.EnsurePath(ctx, p); err != nil {
			b.Fatal(err)
		}
		sid := c.SessionID()
		reconnected := make(chan time.Time, 1)
		stop := c.Listen(func(sc zkrecipes.StateChange) {
			if sc.State == zkrecipes.StateReconnected {
				reconnected <- sc.Time
			}
		})
		fz.Freeze()
		<-fz.Blocked()
		t0 := time.Now()
		if _, _, err := c.Get(ctx, p); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		toReconnected += (<-reconnected).Sub(t0)
		stop()
		bound += c.SessionTimeout()
		if c.SessionID() != sid {
			b.Fatalf("session %#x after the replacement, want %#x", c.SessionID(), sid)
		}
		fz.Unfreeze()
		if err := c.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// From the call to RECONNECTED (the replacement's resumed session), and to the call's
	// success (after its retry's backoff too).
	b.ReportMetric(float64(toReconnected.Milliseconds())/float64(b.N), "ms-to-reconnected")
	b.ReportMetric(float64(toReconnected)/float64(bound), "reconnected/session-timeout")
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-call-success")
}

// go-zk's loop wedges with its writes stuck too, so the server hears nothing more and
// expires the session before the watchdog replaces the go-zk connection: the new
// connection offers the old session, the server refuses it, and the Client goes on with a
// new session, reported as LOST, then RECONNECTED with NewSession (and WatchesLost); the
// old session's ephemeral node is gone.
func TestWatchdogReplacementAfterExpiryStartsNewSession(t *testing.T) {
	srv := zktest.Start(t)
	fz := zktest.NewFreezer()
	wl := newWatchdogLog()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(2*time.Second), zkrecipes.WithDialer(fz.Dial), wl.hooks())
	t.Cleanup(fz.Unfreeze)
	ctx := ctxT(t)
	p := zktest.BasePath(t)
	if err := c.EnsurePath(ctx, p); err != nil {
		t.Fatal(err)
	}
	// A persistent child keeps the container p from being reaped once the ephemeral goes.
	if _, err := c.Create(ctx, p+"/n", nil, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	eph, err := c.Create(ctx, p+"/e", nil, zkrecipes.ModeEphemeral)
	if err != nil {
		t.Fatal(err)
	}
	// Another client sees the ephemeral go when the server expires the session.
	other := connect(t, srv.Servers())
	_, _, gone, err := other.ExistsW(ctx, eph)
	if err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	rec := record(c)
	fz.FreezeAll()
	// Wait until the server has expired the session, then give the watchdog a call to
	// count: it fires, finds the loop wedged and replaces the connection.
	select {
	case ev := <-gone:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("watch on the ephemeral: %+v", ev)
		}
	case <-time.After(wait):
		t.Fatal("the server never expired the frozen client's session")
	}
	if _, _, err := c.Get(ctx, p+"/n"); err != nil {
		t.Fatalf("Get across a wedged go-zk loop after the expiry: %v", err)
	}
	wl.waitFor(t, "wedged", func(ev zkrecipes.WatchdogEvent) bool { return ev.Wedged })
	rec.waitFor(t, 0, zkrecipes.StateLost)
	rc, _ := rec.waitFor(t, 0, zkrecipes.StateReconnected)
	if !rc.NewSession || !rc.WatchesLost || rc.SessionID == sid || rc.SessionID != c.SessionID() {
		t.Fatalf("reconnected %+v (client session %#x), want a new session after %#x", rc, c.SessionID(), sid)
	}
	if ok, _, err := c.Exists(ctx, eph); err != nil || ok {
		t.Fatalf("the expired session's ephemeral: exists %v, err %v", ok, err)
	}
}
