package zkrecipes

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// A gen (generation) is one go-zk connection object of a Client with everything tied to it:
// its dials and TCP connections, its loop's state, the watchdog's count of its calls and the
// goroutines that wait on them. A Client has one gen for its whole life, unless the watchdog
// finds go-zk's own loop wedged: then the Client abandons the gen (its dialer refuses, its
// connections are closed, its pending calls return at once with errConnReplaced) and starts
// the next one, which offers the same session to the server in its first handshake (see
// resumeOffer), so that the session, its ephemeral nodes and its fences live on when the
// server still has it. The watches set through the old gen are gone with it: the RECONNECTED
// that follows says so (StateChange.WatchesLost).
type gen struct {
	conn  *zk.Conn
	ready chan struct{} // closed once conn is set: go-zk's callback can run before Connect returns
	loop  *zkLoop
	wd    watchdog

	// abandoned ends this gen's dials and connections (derived from the Client's, which
	// ends them all); stop ends its host provider's waits.
	abandoned context.Context
	abandon   context.CancelFunc
	stop      context.CancelFunc

	dead     chan struct{} // closed when the gen is replaced
	deadOnce sync.Once
	// retired is set first thing when the gen is being replaced: from then on its go-zk
	// events are dropped (see onZKEvent).
	retired atomic.Bool

	// resume is the session the gen's handshakes offer until a server answers one (nil:
	// go-zk's own, a new session for a first gen).
	resume *resumeOffer

	// calls counts the goroutines that run calls on conn (see call). Close waits for the
	// current gen's without a bound and for a replaced gen's for at most replacedWait each
	// (go-zk's Close, run at the replacement, fails the calls still waiting in a wedged
	// loop, but nothing else would).
	calls sync.WaitGroup
}

// errConnReplaced fails the calls still waiting on a gen the watchdog replaced. It wraps
// zk.ErrConnectionClosed, as go-zk fails calls pending when a connection closes: a read is
// retried, and a write is an unknown outcome (it may have reached the server).
var errConnReplaced = fmt.Errorf("zkrecipes: the watchdog replaced the wedged go-zk connection while the request was pending: %w", zk.ErrConnectionClosed)

// replacedWait bounds how long Close waits for the goroutines of calls stuck in a replaced
// gen's wedged go-zk loop.
const replacedWait = time.Second

// isDead reports whether the gen was replaced.
func (g *gen) isDead() bool {
	select {
	case <-g.dead:
		return true
	default:
		return false
	}
}

// gen returns the current gen.
func (c *Client) gen() *gen { return c.cur.Load() }

// zk returns the current go-zk connection.
func (c *Client) zk() *zk.Conn { return c.cur.Load().conn }

// newGen dials a new go-zk connection object and makes it the current gen (see dialGen and
// publish).
func (c *Client) newGen(resume *resumeOffer) (*gen, error) {
	g, err := c.dialGen(resume)
	if err != nil {
		return nil, err
	}
	c.publish(g)
	return g, nil
}

// dialGen starts a new go-zk connection object; resume, if set, is the session its first
// handshakes offer. The state machine hears none of its session events before publish (they
// wait for ready), so that whoever a RECONNECTED wakes finds the gen current.
func (c *Client) dialGen(resume *resumeOffer) (*gen, error) {
	g := &gen{ready: make(chan struct{}), loop: newZKLoop(), dead: make(chan struct{}), resume: resume}
	g.abandoned, g.abandon = context.WithCancel(c.abandoned)
	pctx, stop := context.WithCancel(c.life)
	g.stop = stop
	hp := c.cfg.hostProvider
	if hp == nil {
		p := newHostProvider(pctx, c.log)
		p.queued = g.wd.busy
		p.sessionTimeout = func() time.Duration { return c.negotiated.get(c.cfg.sessionTimeout) }
		// TLS checks the server's certificate against the name in the connect string, so
		// the dialer must see that name, not an address it was resolved to.
		p.literal = c.cfg.tls != nil
		hp = p
	}
	conn, _, err := zk.Connect(c.hosts, c.cfg.sessionTimeout,
		zk.WithDialer(c.negotiated.wrap(c.cfg.dialer, g.abandoned, resume)),
		zk.WithHostProvider(hp),
		zk.WithLogger(zkLogger{c.log}),
		zk.WithLogInfo(false),
		zk.WithEventCallback(func(ev zk.Event) { c.onZKEvent(g, ev) }),
	)
	if err != nil {
		g.stop()
		g.abandon()
		return nil, err
	}
	g.conn = conn
	return g, nil
}

// publish makes g the current gen and lets its session events through.
func (c *Client) publish(g *gen) {
	c.gensMu.Lock()
	c.gens = append(c.gens, g)
	c.gensMu.Unlock()
	c.cur.Store(g)
	close(g.ready)
}

// onZKEvent is go-zk's event callback for gen g. Events of a replaced gen are dropped: its
// session events describe a connection the Client gave up, and its watches are reported
// lost (StateChange.WatchesLost).
func (c *Client) onZKEvent(g *gen, ev zk.Event) {
	if g.retired.Load() {
		return
	}
	if ev.Type != zk.EventSession {
		c.hub.Dispatch(ev) // only enqueues: this runs on go-zk's receive loop
		return
	}
	g.loop.observe(ev.State)
	<-g.ready
	sid := g.conn.SessionID()
	if sid == 0 && ev.State == zk.StateHasSession && g.resume != nil {
		sid = g.resume.id
	}
	c.sm.onEvent(ev, sid, &g.retired) // dropped there, under its lock, if g is retired
}

// replace abandons the current gen, whose go-zk loop looks wedged since the watchdog's
// firing at firedAt, and starts the next one, offering the current session (see gen). It
// runs on the watchdog's goroutine. It does nothing when the state machine heard of a
// disconnection or a reconnection since firedAt (go-zk was merely slow: it is not wedged).
// If the next gen cannot be started (a host provider of the user's that fails its Init),
// the old one stays current but retired, and the next firing tries again.
func (c *Client) replace(firedAt time.Time) {
	c.replaceMu.Lock()
	defer c.replaceMu.Unlock()
	if c.closed() {
		return
	}
	old := c.gen()
	// From here on the old gen's events are dropped: none of them can slip in between the
	// check and the SUSPENDED that connectionReplaced reports.
	if !c.sm.retire(&old.retired, firedAt) {
		return
	}
	var offer *resumeOffer
	if sc := c.negotiated.session.Load(); sc != nil && sc.id == old.conn.SessionID() {
		offer = &resumeOffer{id: sc.id, passwd: sc.passwd, zxid: c.negotiated.lastZxid.Load()}
	}
	g, err := c.dialGen(offer)
	if err != nil {
		c.log.Error("zkrecipes: watchdog: could not start a new go-zk connection; trying again at the next firing", "err", err)
		return
	}
	// Listeners hear SUSPENDED first (the old connection is as good as down), and the next
	// RECONNECTED says that the watches went with the old gen; recipes that keep watch
	// channels across states find the hub's loss signal fired before they hear it.
	c.hub.LoseWatches()
	c.sm.connectionReplaced()
	c.publish(g)
	old.deadOnce.Do(func() { close(old.dead) })
	old.stop()
	old.abandon() // its dialer refuses from now on; its connections are closed and refuse writes
	if offer != nil {
		c.log.Warn("zkrecipes: watchdog: replaced the wedged go-zk connection; offering the session to the server again", "session", fmt.Sprintf("%#x", offer.id))
	} else {
		c.log.Warn("zkrecipes: watchdog: replaced the wedged go-zk connection; no session to resume, starting a new one")
	}
	// go-zk's Close fails every call waiting in the old loop at once, then queues a close
	// request and waits up to a few seconds for it; with the old connections refusing
	// writes, that request never reaches a server, so the session stays with the new gen.
	// It runs in the background, for Close to wait for; then the old gen is forgotten.
	if !c.track() {
		return
	}
	go func() {
		defer c.bg.Done()
		old.conn.Close()
		t := time.NewTimer(replacedWait)
		defer t.Stop()
		done := make(chan struct{})
		go func() {
			old.calls.Wait()
			close(done)
		}()
		select {
		case <-done:
			c.gensMu.Lock()
			c.gens = slices.DeleteFunc(c.gens, func(x *gen) bool { return x == old })
			c.gensMu.Unlock()
		case <-t.C: // stuck for good: waitGens reports it at Close
		}
	}()
}

// waitGens waits, after Close, for the goroutines of every gen's calls: the current gen's
// until ctx ends, a replaced gen's for at most replacedWait each (they may be stuck in a
// wedged go-zk loop for good).
func (c *Client) waitGens(ctx context.Context) error {
	c.gensMu.Lock()
	gens := append([]*gen(nil), c.gens...)
	c.gensMu.Unlock()
	for _, g := range gens {
		done := make(chan struct{})
		go func() {
			g.calls.Wait()
			close(done)
		}()
		var bound <-chan time.Time
		if g.isDead() {
			t := time.NewTimer(replacedWait)
			defer t.Stop()
			bound = t.C
		}
		select {
		case <-done:
		case <-bound:
			c.log.Error("zkrecipes: close: calls are still stuck in a replaced, wedged go-zk connection; their goroutines are left behind")
		case <-ctx.Done():
			return fmt.Errorf("zkrecipes: close: %w", ctx.Err())
		}
	}
	return nil
}

// resumeOffer is a session a gen's first handshakes offer the server in place of go-zk's
// (see snoopConn.Write): its id and password from the server's last connect response and
// the highest zxid the Client has seen, so that the server refuses it only when it is
// behind what the Client read (a lagging server), as ZooKeeper's clients do. It is taken
// back once a server has answered one handshake: go-zk then has that session (or, when the
// server said expired, gets a new one).
type resumeOffer struct {
	id       int64
	passwd   []byte
	zxid     int64
	answered atomic.Bool
}

// sessionCreds is a session's id and password, read from the server's connect response.
type sessionCreds struct {
	id     int64
	passwd []byte
}
