package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The default host provider against real servers. Its rotation, backoff and re-resolution
// rules are covered with a fake resolver in hostprovider_test.go.

// lockedBuffer is a log sink for a slog handler shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestConnectSkipsUnresolvableServer(t *testing.T) {
	srv := zktest.Start(t)
	ctx := ctxT(t)
	// The order is shuffled per Client: connect a few times so that the bad name comes
	// first at least once (each time with probability 1/2).
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for i := 0; i < 8 && !strings.Contains(logs.String(), "no-such-host.invalid"); i++ {
		c, err := zkrecipes.Connect(ctx, []string{"no-such-host.invalid:2181", srv.Addr()},
			zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithLogger(log))
		if err != nil {
			t.Fatalf("connect with one unresolvable and one good server: %v", err)
		}
		if err := c.Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(logs.String(), "cannot resolve") {
		t.Errorf("the unresolvable server was never logged; logs:\n%s", logs.String())
	}
}

// countingDialer counts dials and signals each one.
type countingDialer struct {
	n    atomic.Int64
	each chan struct{}
}

func (d *countingDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.n.Add(1)
	select {
	case d.each <- struct{}{}:
	default:
	}
	return net.DialTimeout(network, addr, timeout)
}

// restartable starts a dedicated server that the backend restarts on the same address, or
// skips the test.
func restartable(t *testing.T) (*zktest.Server, *zktest.Node) {
	t.Helper()
	srv := zktest.StartDedicated(t)
	node := srv.Node()
	if node == nil {
		t.Skip("this backend cannot restart servers")
	}
	return srv, node
}

func TestReconnectAfterServerRestart(t *testing.T) {
	srv, node := restartable(t)
	ctx := ctxT(t)
	// On Docker the restarted server gets a new host port: the dialer follows it, so the
	// provider sees one unchanging address, as with a server restarted in place.
	// It also dials only once the server serves: a starting ZooKeeper accepts connections
	// before it answers them, and a handshake caught in that window waits out its limit
	// (session timeout / servers), long enough for the restored session to expire.
	dial := func(network, _ string, timeout time.Duration) (net.Conn, error) {
		mctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if m, err := zktest.ServerMode(mctx, srv.Addr()); err != nil || !m.Serving() {
			return nil, fmt.Errorf("server %s not serving yet (%v, %v)", srv.Addr(), m, err)
		}
		return net.DialTimeout(network, srv.Addr(), timeout)
	}
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(dial))
	rec := record(c)
	sid := c.SessionID()
	path := zktest.BasePath(t)
	if _, err := c.Create(ctx, path, []byte("kept"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want the same session %d", sc, sid)
	}
	data, _, err := c.Get(ctx, path)
	if err != nil || string(data) != "kept" {
		t.Fatalf("get after restart = %q, %v", data, err)
	}
}

// TestCloseWhileBackingOff closes a Client whose only server is down, while its host
// provider waits between passes: Close returns (zktest.Main checks that no goroutine is
// left behind).
func TestCloseWhileBackingOff(t *testing.T) {
	srv, node := restartable(t)
	ctx := ctxT(t)
	d := &countingDialer{each: make(chan struct{}, 1)}
	c, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithDialer(d.dial),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rec := record(c)
	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	// A few failed passes: the backoff has grown past its first steps.
	start := d.n.Load()
	for d.n.Load() < start+5 {
		select {
		case <-d.each:
		case <-ctx.Done():
			t.Fatalf("only %d dials while the server is down", d.n.Load()-start)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close while backing off: %v", err)
	}
	if st := c.State(); st != zkrecipes.StateClosed {
		t.Fatalf("state after close: %v", st)
	}
}
