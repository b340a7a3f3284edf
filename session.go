package zkrecipes

import (
	"context"
	"fmt"
	"time"
)

// Session is the liveness of one ZooKeeper session of a Client, like etcd's
// concurrency.Session: Done is closed when the session can no longer be relied on. Get one
// with [Client.Session]. It is safe for concurrent use and costs nothing to keep: every
// Session taken for the same session shares one context, and no goroutine watches it.
//
// Done is closed, and context.Cause of Context says why, when:
//   - the session is LOST: the server said it expired, or the Client stayed SUSPENDED for
//     the negotiated session timeout (its own LOST timer). The cause matches
//     [ErrSessionLost]. This holds even though, after the Client's own timer, the next
//     RECONNECTED may resume the same session (NewSession false): a session in doubt
//     counts as gone, and the Session stays done. Take a new one after that RECONNECTED;
//     it is live again and has the same ID.
//   - the session is replaced: a RECONNECTED with NewSession true without a LOST before
//     it. The cause matches [ErrSessionLost].
//   - the Client is closed. The cause matches [ErrClosed] (a Session that was already done
//     keeps its first cause).
//
// A short disconnection (SUSPENDED, then RECONNECTED on the same session) does not end
// it: the session, its ephemeral nodes and its watches lived on. Work that must pause
// while the connection is down (leadership, whose holder must stop the moment holding is
// in doubt) watches SUSPENDED with [Client.Listen] as well.
//
// Done is closed before any listener hears the transition that ended the session, so a
// listener that sees LOST, CLOSED or a RECONNECTED with NewSession true finds it done.
type Session struct {
	id  int64
	ctx context.Context
}

// ID returns the session id the Session refers to (0 only before the first session,
// which Connect never returns).
func (s *Session) ID() int64 { return s.id }

// Done returns a channel that is closed when the session is lost or replaced or the
// Client closes (see Session).
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// Err returns nil while the session is live, and afterwards why it ended: an error that
// matches ErrSessionLost or ErrClosed and names the session.
func (s *Session) Err() error { return context.Cause(s.ctx) }

// Context returns a context that is cancelled when Done is closed, with Err as its cause
// (context.Cause). It has no deadline and carries no values; derive work contexts from
// it, or tie it to another context with context.AfterFunc.
func (s *Session) Context() context.Context { return s.ctx }

// Session returns the liveness of the Client's current session (see [Session]). Taken
// while CONNECTED or RECONNECTED, it refers to the session in use. Taken while SUSPENDED,
// it refers to the session in use before the disconnection, which may still live: it ends
// if that session is lost or replaced and stays live if the connection comes back on it.
// Taken while LOST or after Close, it is already done, with the cause of that LOST (or
// ErrClosed); after a LOST, the next RECONNECTED (new session or the old one resumed)
// gives live Sessions again.
func (c *Client) Session() *Session { return c.sm.session() }

// SessionContext returns c.Session().Context(): a context cancelled when the current
// session is lost or replaced or the Client closes, with context.Cause saying which
// (ErrSessionLost or ErrClosed). See [Client.Session] for which session it refers to.
func (c *Client) SessionContext() context.Context { return c.sm.session().ctx }

func (m *stateMachine) session() *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &Session{id: m.sessionID, ctx: m.sessCtx}
}

// endSession ends the current session's context with cause (a no-op when it has ended
// already: the first cause stays). mu must be held.
func (m *stateMachine) endSession(cause error) { m.endSess(cause) }

// beginSession gives the session about to be reported connected a live context, unless
// the current one is still live (the same session, reconnected after a short suspension).
// mu must be held.
func (m *stateMachine) beginSession() {
	if m.sessCtx == nil || m.sessCtx.Err() != nil {
		m.sessCtx, m.endSess = context.WithCancelCause(context.Background())
	}
}

func errLostExpired(sid int64) error {
	return fmt.Errorf("%w: session %#x expired (reported by the server)", ErrSessionLost, sid)
}

func errLostTimer(sid int64, d time.Duration) error {
	return fmt.Errorf("%w: session %#x: suspended for the session timeout (%v)", ErrSessionLost, sid, d)
}

func errReplaced(old, cur int64) error {
	return fmt.Errorf("%w: session %#x was replaced by a new session %#x", ErrSessionLost, old, cur)
}

func errClosedSession(sid int64) error {
	return fmt.Errorf("%w (session %#x)", ErrClosed, sid)
}
