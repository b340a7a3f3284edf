package zkrecipes

import (
	"context"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// zkLoop follows go-zk's connection loop through its session events, so that Close knows
// where the loop is.
//
// Why Close needs to know: go-zk's Conn.Close queues a close request and waits up to 1 s
// for its reply. Without a session that reply never comes from a server; go-zk answers it
// itself only when its loop passes the "tried every server" point of its dialing phase,
// and not at all when the loop quits from elsewhere (after a failed handshake, say). A
// Client that never had a session therefore first abandons the dial or handshake in
// flight, waits until the loop is back in its dialing phase, and only then lets go-zk
// close: the close request is answered at once and go-zk's loop ends with it.
type zkLoop struct {
	mu         sync.Mutex
	state      zk.State
	hadSession bool
	changed    chan struct{} // closed and replaced on every event
}

func newZKLoop() *zkLoop { return &zkLoop{state: zk.StateUnknown, changed: make(chan struct{})} }

func (l *zkLoop) observe(s zk.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = s
	if s == zk.StateHasSession {
		l.hadSession = true
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *zkLoop) everHadSession() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hadSession
}

// awaitDialing waits until go-zk's loop is in its dialing phase (StateConnecting) or has a
// session, for at most limit or until ctx ends.
func (l *zkLoop) awaitDialing(ctx context.Context, limit time.Duration) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		l.mu.Lock()
		st, changed := l.state, l.changed
		l.mu.Unlock()
		if st == zk.StateConnecting || st == zk.StateHasSession {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

// shutdownConn closes the go-zk connection (see zkLoop). A replacement gen offering a
// session counts as having one: the session exists on the server, and its close request
// should go out if the handshake resumes it (go-zk waits up to 1 s for that). With a session, go-zk sends
// the close request (so the session's ephemerals vanish at once) and waits up to 1 s for
// its reply; after that every connection is closed, so that no read or handshake of go-zk
// outlives Close.
func (c *Client) shutdownConn(ctx context.Context) {
	g := c.gen()
	if !g.loop.everHadSession() && g.resume == nil {
		c.abandon()
		g.loop.awaitDialing(ctx, time.Second)
	}
	g.conn.Close()
	c.abandon()
}
