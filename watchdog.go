package zkrecipes

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The watchdog replaces a connection that has gone silent while calls wait on it.
//
// go-zk closes a connection whose reads time out (2/3 of the session timeout), so a
// server that stops sending altogether is noticed by go-zk itself. What it cannot see is
// a connection on which pings are still answered but requests are not (a proxy that
// forwards only some bytes, a server whose request pipeline is stuck), nor a wedge of its
// own loop that leaves the connection up. The watchdog sees both from the Client's side:
// when calls are pending, the client is connected and no call has returned for the bound
// (the negotiated session timeout), it closes the current TCP connection. go-zk then fails
// the pending calls with zk.ErrConnectionClosed (the Client retries them per its policy
// and their kind, see do) and reconnects, resuming the session if the server still has it
// (a new session otherwise), and the states are reported as on any disconnection:
// SUSPENDED, then RECONNECTED or LOST.
//
// If go-zk's loop itself is wedged, closing the connection does not lead to a
// disconnection. When go-zk has not reported one by the watchdog's next check (a quarter of
// the bound later), the watchdog logs an error, reports a WatchdogEvent with Wedged set and
// replaces the go-zk connection object (see gen): the old one's calls fail at once with an
// error wrapping zk.ErrConnectionClosed (retried per the policy, an unknown outcome for a
// write), and the new one offers the same session in its handshake, so that the session
// survives when the server still has it. Listeners hear SUSPENDED, then RECONNECTED with
// WatchesLost set (a new session, if the server had expired it, comes after LOST as usual).
// The wedge known in go-zk v1.0.4 (re-sent credentials) is avoided altogether: see auth.go.
type watchdog struct {
	mu       sync.Mutex
	pending  int       // calls started through call and not yet returned by go-zk
	progress time.Time // when a call last returned, or pending last rose from 0
	firedAt  time.Time // when the watchdog last fired (zero: not since the last progress)
	fired    atomic.Int64
}

// begin counts a call going to go-zk; end counts its return.
func (w *watchdog) begin() {
	w.mu.Lock()
	if w.pending == 0 {
		w.progress = time.Now()
	}
	w.pending++
	w.mu.Unlock()
}

func (w *watchdog) end() {
	w.mu.Lock()
	w.pending--
	w.progress = time.Now()
	w.firedAt = time.Time{}
	w.mu.Unlock()
}

// WatchdogEvent describes one firing of the Client's watchdog (see Hooks.Watchdog).
type WatchdogEvent struct {
	Pending int           // calls waiting on the connection
	Silent  time.Duration // how long no call has returned
	// Bound is the negotiated session timeout: no call returned for this long before a
	// first firing; a Wedged firing comes a quarter of it after the previous firing.
	Bound time.Duration
	// Wedged is set when an earlier firing's close of the connection did not lead to a
	// disconnection: go-zk's own loop is stuck, and the Client replaces the go-zk
	// connection object, resuming the session on a new one (see Hooks.Watchdog and
	// StateChange.WatchesLost).
	Wedged bool
	Time   time.Time
}

// watchdogBound is how long calls may wait with nothing returning before the watchdog
// fires: the negotiated session timeout (go-zk's own read timeout is 2/3 of it, so a
// connection on which nothing at all arrives is closed by go-zk first).
func (c *Client) watchdogBound() time.Duration {
	return max(c.negotiated.get(c.cfg.sessionTimeout), watchdogFloor)
}

// watchdogFloor keeps a tiny session timeout from making a slow but healthy server look
// wedged.
const watchdogFloor = time.Second

// runWatchdog checks every bound/4 until Close; it is tracked by c.bg.
func (c *Client) runWatchdog() {
	defer c.bg.Done()
	for {
		bound := c.watchdogBound()
		t := time.NewTimer(max(bound/4, 10*time.Millisecond))
		select {
		case <-c.life.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c.checkWatchdog(bound, time.Now())
	}
}

// checkWatchdog fires the watchdog when it must (see watchdog).
func (c *Client) checkWatchdog(bound time.Duration, now time.Time) {
	st, usableAt := c.sm.usable()
	if !st.IsConnected() {
		return // go-zk is reconnecting; calls wait in its queue for that
	}
	w := &c.gen().wd
	w.mu.Lock()
	since := w.progress
	if usableAt.After(since) {
		since = usableAt // calls queued during a disconnection went out at the reconnect
	}
	// A close of the connection makes a healthy go-zk disconnect within milliseconds; a
	// quarter of the bound later it is wedged.
	wedged := !w.firedAt.IsZero() && !usableAt.After(w.firedAt)
	limit := bound
	if wedged {
		since, limit = w.firedAt, bound/4
	}
	pending := w.pending
	if pending == 0 || now.Sub(since) < limit {
		w.mu.Unlock()
		return
	}
	w.firedAt = now
	silent := now.Sub(w.progress)
	w.mu.Unlock()
	w.fired.Add(1)

	if wedged {
		c.log.Error("zkrecipes: watchdog: closing the connection did not disconnect go-zk; its connection loop looks wedged; replacing the go-zk connection",
			"pending", pending, "silent", silent, "bound", bound)
	} else {
		c.log.Warn("zkrecipes: watchdog: calls pending and nothing returned from the server; replacing the connection",
			"pending", pending, "silent", silent, "bound", bound)
	}
	if h := c.cfg.hooks.Watchdog; h != nil {
		h(context.Background(), WatchdogEvent{Pending: pending, Silent: silent, Bound: bound, Wedged: wedged, Time: now})
	}
	if wedged {
		c.replace(now)
		return
	}
	c.negotiated.closeCurrent()
}

// busy reports whether calls are waiting on go-zk (for the host provider of the watchdog's
// gen: see hostProvider.queued).
func (w *watchdog) busy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending > 0
}
