package zktest

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// Connect opens a raw go-zk session for t: it logs through Logger(t), waits (up to 30 s) until
// the session is established, and closes it when the test ends. opts are go-zk's connect
// options (zk.WithDialer, zk.WithHostProvider, zk.WithEventCallback, ...). The returned
// channel is go-zk's event channel, of which the events up to the session are consumed;
// nobody needs to read it (go-zk drops events when it is full).
func Connect(t testing.TB, servers []string, sessionTimeout time.Duration, opts ...func(*zk.Conn)) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	zopts := []func(*zk.Conn){zk.WithLogger(Logger(t))}
	zopts = append(zopts, opts...)
	// go-zk's option type is unexported; one function literal carries them all.
	conn, events, err := zk.Connect(servers, sessionTimeout, func(c *zk.Conn) {
		for _, o := range zopts {
			o(c)
		}
	})
	if err != nil {
		t.Fatalf("zktest: connect to %v: %v", servers, err)
	}
	t.Cleanup(conn.Close)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("zktest: connection to %v closed before it had a session", servers)
			}
			if ev.State == zk.StateHasSession {
				return conn, events
			}
		case <-deadline.C:
			t.Fatalf("zktest: no session with %v after 30s (state %v)", servers, conn.State())
		}
	}
}
