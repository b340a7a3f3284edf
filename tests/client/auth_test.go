package client_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// authWriteFailer dials TCP; once armed, the next connection it dials fails its second
// write (the first after the session handshake: where the credentials go) and closes.
type authWriteFailer struct {
	mu    sync.Mutex
	armed bool
	conns []net.Conn
	fired chan struct{}
}

func (d *authWriteFailer) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = append(d.conns, c)
	if d.armed {
		d.armed = false
		return &failSecondWrite{Conn: c, fired: d.fired}, nil
	}
	return c, nil
}

// dropAll arms the dialer and closes every connection it made, so that go-zk reconnects
// through an armed dial.
func (d *authWriteFailer) dropAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = true
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

type failSecondWrite struct {
	net.Conn
	mu     sync.Mutex
	writes int
	fired  chan struct{}
}

func (c *failSecondWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	n := c.writes
	c.mu.Unlock()
	if n == 2 {
		c.Conn.Close()
		close(c.fired)
		return 0, errors.New("test: write failed")
	}
	return c.Conn.Write(p)
}

// Digest credentials go out with every connection, before anything else the connection
// carries, and a connection whose first write after the handshake fails (where go-zk
// would re-send them, and wedges its loop for good when that write fails) is simply
// replaced: the session carries on, authenticated.
func TestDigestAuthSurvivesFailedWriteAfterReconnect(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	ctx := ctxT(t)
	// The parents first, open to all: the credentialed client would make them private.
	if err := connect(t, srv.Servers()).EnsurePath(ctx, base); err != nil {
		t.Fatal(err)
	}
	d := &authWriteFailer{fired: make(chan struct{})}
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(6*time.Second), zkrecipes.WithDialer(d.Dial),
		zkrecipes.WithDigestAuth("alice", "secret"), zkrecipes.WithACL(zk.AuthACL(zk.PermAll)))
	rec := record(c)
	if _, err := c.Create(ctx, base+"/private", []byte("x"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, base+"/private"); err != nil {
		t.Fatalf("read with credentials: %v", err)
	}
	// A watch set before the reconnects: go-zk sets it again on the new connection, which
	// must be authenticated by then (the node needs the credentials).
	_, _, ch, err := c.GetW(ctx, base+"/private")
	if err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	d.dropAll()
	select {
	case <-d.fired:
	case <-time.After(wait):
		t.Fatal("no reconnect through the failing connection")
	}
	// Reconnected on a further connection, same session, still authenticated.
	data, _, _, err := c.GetW(ctx, base+"/private")
	if err != nil || string(data) != "x" {
		t.Fatalf("read after the failed write: %q %v", data, err)
	}
	if c.SessionID() != sid {
		t.Fatalf("session %x after the reconnects, want %x", c.SessionID(), sid)
	}
	other := connect(t, srv.Servers(), zkrecipes.WithDigestAuth("alice", "secret"))
	if _, err := other.Set(ctx, base+"/private", []byte("y"), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDataChanged {
			t.Fatalf("watch event %+v", ev)
		}
	case <-time.After(wait):
		t.Fatal("the watch set before the reconnects never fired")
	}
	rec.never(t, zkrecipes.StateLost, "across the reconnects")
	// Without credentials the node stays closed.
	anon := connect(t, srv.Servers())
	if _, _, err := anon.Get(ctx, base+"/private"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("read without credentials: %v, want NoAuth", err)
	}
}
