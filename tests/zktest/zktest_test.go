package zktest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestMain(m *testing.M) { zktest.Main(m) }

// within is the generous deadline for anything a test waits on.
const within = 60 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	return ctx
}

// createAll creates path and its missing parents as persistent nodes.
func createAll(t *testing.T, conn *zk.Conn, path string, data []byte) {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range parts {
		p := "/" + strings.Join(parts[:i+1], "/")
		var d []byte
		if i == len(parts)-1 {
			d = data
		}
		if _, err := conn.Create(p, d, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("create %s: %v", p, err)
		}
	}
}

func TestCreateAndRead(t *testing.T) {
	t.Parallel()
	srv := zktest.Start(t)
	conn, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	path := zktest.BasePath(t) + "/hello"
	createAll(t, conn, path, []byte("world"))
	got, stat, err := conn.Get(path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	if string(got) != "world" || stat.Version != 0 {
		t.Fatalf("get %s = %q (version %d), want %q (version 0)", path, got, stat.Version, "world")
	}
	mode, err := zktest.ServerMode(ctxFor(t), srv.Addr())
	if err != nil || !mode.Serving() {
		t.Fatalf("srvr on %s: mode %q, %v", srv.Addr(), mode, err)
	}
}

func TestBasePathIsUniqueAndValid(t *testing.T) {
	t.Parallel()
	a, b := zktest.BasePath(t), zktest.BasePath(t)
	if a == b {
		t.Fatalf("BasePath returned %s twice", a)
	}
	if !strings.HasPrefix(a, "/t/TestBasePathIsUniqueAndValid-") {
		t.Fatalf("BasePath = %s", a)
	}
	t.Run("sub/test name", func(t *testing.T) {
		p := zktest.BasePath(t)
		if strings.Count(p, "/") != 2 || strings.ContainsAny(p, " ") {
			t.Fatalf("BasePath in a subtest = %q, want one node under /t", p)
		}
	})
}

// sessionEvents records go-zk's session events from its callback, which unlike the event
// channel never drops them.
type sessionEvents chan zk.Event

func (s sessionEvents) callback(ev zk.Event) {
	if ev.Type == zk.EventSession {
		select {
		case s <- ev:
		default: // the test stopped listening; go-zk must never block
		}
	}
}

// await waits for a session event in state want, skipping others.
func (s sessionEvents) await(t *testing.T, want zk.State) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case ev := <-s:
			if ev.State == want {
				return
			}
		case <-deadline.C:
			t.Fatalf("no %v session event within %v", want, within)
		}
	}
}

func TestFaultDialerCutAndHeal(t *testing.T) {
	t.Parallel()
	srv := zktest.Start(t)
	d := zktest.NewFaultDialer()
	events := make(sessionEvents, 100)
	conn, _ := zktest.Connect(t, srv.Servers(), 4*time.Second, zk.WithDialer(d.Dial), zk.WithEventCallback(events.callback))
	session := conn.SessionID()
	path := zktest.BasePath(t)
	createAll(t, conn, path, nil)

	d.Cut()
	events.await(t, zk.StateDisconnected)
	if _, _, err := conn.Get(path); err == nil {
		t.Fatalf("get %s succeeded through a cut connection", path)
	}
	dials := d.Dials()
	d.Heal()
	events.await(t, zk.StateHasSession)
	if got := conn.SessionID(); got != session {
		t.Fatalf("session after heal = %#x, want the same session %#x", got, session)
	}
	if d.Dials() <= dials {
		t.Fatalf("no dial after heal")
	}
	if _, _, err := conn.Get(path); err != nil {
		t.Fatalf("get %s after heal: %v", path, err)
	}
}

func TestFaultDialerBlackHoleAndLatency(t *testing.T) {
	t.Parallel()
	srv := zktest.Start(t)
	d := zktest.NewFaultDialer()
	events := make(sessionEvents, 100)
	conn, _ := zktest.Connect(t, srv.Servers(), 4*time.Second, zk.WithDialer(d.Dial), zk.WithEventCallback(events.callback))
	session := conn.SessionID()
	path := zktest.BasePath(t)
	createAll(t, conn, path, []byte("x"))

	d.BlackHole()
	// go-zk notices only through its own read timeout (2/3 of the session timeout).
	events.await(t, zk.StateDisconnected)
	d.Heal()
	events.await(t, zk.StateHasSession)
	if got := conn.SessionID(); got != session {
		t.Fatalf("session after heal = %#x, want the same session %#x", got, session)
	}

	d.SetLatency(20 * time.Millisecond)
	if _, _, err := conn.Get(path); err != nil {
		t.Fatalf("get %s with latency: %v", path, err)
	}
	d.SetLatency(0)
}

func TestFaultDialerCutPastSessionTimeoutExpiresSession(t *testing.T) {
	t.Parallel()
	srv := zktest.Start(t)
	path := zktest.BasePath(t)
	observer, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	createAll(t, observer, path, nil)

	d := zktest.NewFaultDialer()
	events := make(sessionEvents, 100)
	conn, _ := zktest.Connect(t, srv.Servers(), time.Second, zk.WithDialer(d.Dial), zk.WithEventCallback(events.callback))
	eph := path + "/ephemeral"
	if _, err := conn.Create(eph, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s: %v", eph, err)
	}
	ok, _, gone, err := observer.ExistsW(eph)
	if err != nil || !ok {
		t.Fatalf("exists %s: %v %v", eph, ok, err)
	}

	d.Cut()
	events.await(t, zk.StateDisconnected)
	// The server deletes the session's ephemeral node when, and only when, it expires it.
	select {
	case ev := <-gone:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("watch on %s: %v, want NodeDeleted", eph, ev)
		}
	case <-time.After(within):
		t.Fatalf("the server did not expire the cut session within %v", within)
	}
	d.Heal()
	events.await(t, zk.StateExpired)
}

func TestDedicatedServerSurvivesRestart(t *testing.T) {
	t.Parallel()
	if zktest.Start(t).Node() != nil {
		t.Fatal("the shared server exposes its Node")
	}
	srv := zktest.StartDedicated(t)
	node := srv.Node()
	if node == nil {
		t.Skip("this backend cannot restart servers")
	}
	ctx := ctxFor(t)
	conn, _ := zktest.Connect(t, srv.Servers(), 4*time.Second, zk.WithHostProvider(srv.HostProvider()))
	path := zktest.BasePath(t)
	createAll(t, conn, path, []byte("kept"))

	before := srv.Addr()
	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("server moved from %s to %s", before, srv.Addr())
	for {
		data, _, err := conn.Get(path)
		if err == nil {
			if string(data) != "kept" {
				t.Fatalf("get %s after restart = %q", path, data)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("get %s after restart: %v", path, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LoseNextReply delivers the request and loses only its reply: the server applied the
// create, the client saw a connection loss, and the session survives the reconnect.
func TestFaultDialerLoseNextReply(t *testing.T) {
	t.Parallel()
	srv := zktest.Start(t)
	d := zktest.NewFaultDialer()
	events := make(sessionEvents, 100)
	conn, _ := zktest.Connect(t, srv.Servers(), 4*time.Second, zk.WithDialer(d.Dial), zk.WithEventCallback(events.callback))
	session := conn.SessionID()
	path := zktest.BasePath(t)
	createAll(t, conn, path, nil)
	target := path + "/lost"
	fired := d.LoseNextReply(func(op int32, p string) bool { return p == target })
	if _, err := conn.Create(target, []byte("x"), 0, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrConnectionClosed) {
		t.Fatalf("create with a lost reply: err = %v, want zk.ErrConnectionClosed", err)
	}
	select {
	case <-fired:
	default:
		t.Fatal("the reply was not lost")
	}
	// Past the session event of the first connection, to the reconnect's.
	events.await(t, zk.StateDisconnected)
	events.await(t, zk.StateHasSession)
	if conn.SessionID() != session {
		t.Fatalf("session changed")
	}
	data, _, err := conn.Get(target)
	if err != nil || string(data) != "x" {
		t.Fatalf("the create did not reach the server: %q %v", data, err)
	}
}
