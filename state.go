package zkrecipes

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// State is a Curator connection state of a Client.
type State int

const (
	// StateLatent is the state before the first session is established.
	StateLatent State = iota
	// StateConnected: the first session of the client was established (reported once).
	StateConnected
	// StateSuspended: the connection dropped; the session may still be alive on the server.
	// Anything that depends on the session (leadership, locks) must be treated as in doubt.
	StateSuspended
	// StateReconnected: a connection was re-established after SUSPENDED or LOST.
	// StateChange.NewSession tells whether the session is the old one or a new one. After a
	// LOST that the server reported (it said the session expired) the session is always new.
	// After a LOST that the Client's own timer decided, it may be either: the Client keeps
	// offering the old session when it reconnects, and if the server still has it (the
	// server's clock did not run out, or a restarted server restored the session from its
	// data) the old session comes back, with its ephemeral nodes and watches intact, and
	// NewSession is false. This differs from Curator, which forces a new session then.
	StateReconnected
	// StateLost: the session must be treated as gone: the server said it expired, or the
	// client stayed suspended for the negotiated session timeout (then the server may not
	// have expired it yet). Stop everything that relies on the session (leadership, locks)
	// and do not trust its ephemeral nodes and watches until the next RECONNECTED says
	// what survived: with NewSession true they are gone and must be recreated; with
	// NewSession false (possible only after a LOST decided by the client's timer) the old
	// session is back and they are all still there, owned by it. Unlike Curator, the Client
	// does not close the old session at LOST to force a new one: nothing churns when the
	// session outlived the outage, and a recipe must in any case check the owner of a node
	// (zk.Stat.EphemeralOwner) against the current SessionID rather than assume either.
	StateLost
	// StateClosed: Close was called; no further states follow.
	StateClosed
)

var stateNames = [...]string{"LATENT", "CONNECTED", "SUSPENDED", "RECONNECTED", "LOST", "CLOSED"}

// String returns the Curator name of the state (CONNECTED, SUSPENDED, ...).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// IsConnected reports whether the state means a usable connection (CONNECTED or RECONNECTED).
func (s State) IsConnected() bool { return s == StateConnected || s == StateReconnected }

// StateChange is one transition of the connection state machine, as delivered to listeners.
type StateChange struct {
	State State
	// NewSession is set on CONNECTED and on a RECONNECTED that established a new session
	// (the old one expired): ephemeral nodes and watches of the old session are gone and
	// recipes must recreate their state. It is false on a RECONNECTED that resumed the old
	// session, also when LOST came before it (the Client's timer ran out but the server kept
	// or restored the session): then the session's ephemerals and watches are intact and a
	// recipe resumes with them, as after a short suspension.
	NewSession bool
	// WatchesLost is set on CONNECTED and on a RECONNECTED after which the watches set
	// before it are gone and will never fire: always with NewSession, and on a RECONNECTED
	// that resumed the session on a new go-zk connection, after the watchdog found go-zk's
	// own loop wedged and replaced it (see Hooks.Watchdog); then the session's ephemeral
	// nodes are intact but every watch must be set again (re-read what it guarded). On a
	// RECONNECTED without it, go-zk set the session's watches again on the new connection
	// (they fire for changes made while it was down).
	WatchesLost bool
	// SessionID is the session the state refers to (for SUSPENDED and LOST, the session
	// that was in use).
	SessionID int64
	// Time is when the client observed the transition.
	Time time.Time
	// Initial marks the synthetic first call of a listener registered with
	// WithCurrentState: it is not a transition but the state the client was in when the
	// listener was added (Time is when that state began, NewSession is false).
	Initial bool
	// Outage is set on RECONNECTED: how long the connection was down, from the SUSPENDED
	// that began the outage (through any LOST) to this RECONNECTED.
	Outage time.Duration
}

// listener is one registered state listener with its own queue and goroutine, so a slow
// listener delays only itself.
type listener struct {
	fn     func(StateChange)
	mu     sync.Mutex
	queue  []StateChange
	signal chan struct{}
	done   chan struct{} // closed to stop the goroutine
	exited chan struct{}
	once   sync.Once
}

func (l *listener) push(sc StateChange) {
	l.mu.Lock()
	l.queue = append(l.queue, sc)
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *listener) run() {
	defer close(l.exited)
	for {
		l.mu.Lock()
		batch := l.queue
		l.queue = nil
		l.mu.Unlock()
		for _, sc := range batch {
			select {
			case <-l.done:
				return
			default:
			}
			l.fn(sc)
			if sc.State == StateClosed {
				return
			}
		}
		select {
		case <-l.signal:
		case <-l.done:
			return
		}
	}
}

func (l *listener) stop() { l.once.Do(func() { close(l.done) }) }

// stateMachine turns go-zk session events into Curator states. onEvent runs on go-zk's
// goroutine and never blocks: it only takes the mutex and queues work.
type stateMachine struct {
	mu         sync.Mutex
	state      State
	sessionID  int64 // session of the last CONNECTED/RECONNECTED
	lostTimer  *time.Timer
	negotiated func() time.Duration
	listeners  map[*listener]struct{}
	changed    chan struct{} // closed and replaced on every transition
	usableAt   time.Time     // when the last CONNECTED/RECONNECTED may carry requests (see Client.awaitConnection)
	downSince  time.Time     // when the current outage began (its SUSPENDED); zero while connected
	last       StateChange   // the last transition (the zero value, LATENT, before the first)
	logf       func(msg string, args ...any)

	// hooks is the listener that runs the StateChange and SessionExpired hooks (nil
	// without them): besides every transition, it hears each expiry, as a StateChange of
	// State stateExpired. expired is the last session reported expired.
	hooks   *listener
	expired int64

	// watchesLost is set when the watchdog replaced the go-zk connection: the next
	// RECONNECTED has WatchesLost (see connectionReplaced).
	watchesLost bool

	// sessCtx is the liveness context every Session of the current session shares; endSess
	// cancels it (see session.go).
	sessCtx context.Context
	endSess context.CancelCauseFunc
}

func newStateMachine(negotiated func() time.Duration, logf func(string, ...any)) *stateMachine {
	m := &stateMachine{
		negotiated: negotiated,
		listeners:  make(map[*listener]struct{}),
		changed:    make(chan struct{}),
		logf:       logf,
	}
	m.beginSession()
	return m
}

// onEvent handles a go-zk event; sessionID is conn.SessionID() at the time of the event.
// The event is dropped if retired (the flag of the go-zk connection it comes from, set by
// retire) is set.
func (m *stateMachine) onEvent(ev zk.Event, sessionID int64, retired *atomic.Bool) {
	if ev.Type != zk.EventSession {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if retired != nil && retired.Load() {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		switch m.state {
		case StateLatent:
			m.sessionID = sessionID
			m.transition(StateChange{State: StateConnected, NewSession: true, WatchesLost: true, SessionID: sessionID})
		case StateSuspended, StateLost:
			m.stopLostTimer()
			newSession := sessionID != m.sessionID
			if newSession {
				m.endSession(errReplaced(m.sessionID, sessionID))
				// The server refused the old session: it expired, also when go-zk
				// did not say so first.
				m.noteExpired()
			}
			m.beginSession()
			m.sessionID = sessionID
			lost := newSession || m.watchesLost
			m.watchesLost = false
			m.transition(StateChange{State: StateReconnected, NewSession: newSession, WatchesLost: lost, SessionID: sessionID})
		}
	case zk.StateDisconnected:
		if m.state.IsConnected() {
			m.transition(StateChange{State: StateSuspended, SessionID: m.sessionID})
			m.startLostTimer()
		}
	case zk.StateExpired:
		if m.state == StateSuspended || m.state.IsConnected() {
			m.stopLostTimer()
			m.endSession(errLostExpired(m.sessionID))
			m.transition(StateChange{State: StateLost, SessionID: m.sessionID})
		}
		if m.state == StateLost {
			m.noteExpired()
		}
	}
}

// retire sets retired, the flag of the current go-zk connection, so that its events are
// dropped from then on, unless the connection is no longer the one the watchdog found
// wedged at firedAt: the client is not connected, or it (re)connected after firedAt. It
// reports whether the flag is set (it may have been already).
func (m *stateMachine) retire(retired *atomic.Bool, firedAt time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if retired.Load() {
		return true
	}
	if !m.state.IsConnected() || m.usableAt.After(firedAt) {
		return false
	}
	retired.Store(true)
	return true
}

// connectionReplaced is told that the watchdog is replacing the go-zk connection: a
// connected client is SUSPENDED (as when a connection drops), and the next RECONNECTED
// says that the watches are lost.
func (m *stateMachine) connectionReplaced() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watchesLost = true
	if m.state.IsConnected() {
		m.transition(StateChange{State: StateSuspended, SessionID: m.sessionID})
		m.startLostTimer()
	}
}

// stateExpired marks the hooks listener's note of an expiry (see stateMachine.hooks); it
// is never a state of the machine and no other listener hears it.
const stateExpired State = -1

// noteExpired tells the hooks listener, once per session, that the server expired the
// session of the last CONNECTED/RECONNECTED. mu must be held.
func (m *stateMachine) noteExpired() {
	if m.sessionID == 0 || m.sessionID == m.expired {
		return
	}
	m.expired = m.sessionID
	if m.hooks != nil {
		m.hooks.push(StateChange{State: stateExpired, SessionID: m.sessionID, Time: time.Now()})
	}
}

func (m *stateMachine) startLostTimer() {
	d := m.negotiated()
	m.lostTimer = time.AfterFunc(d, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.state == StateSuspended && m.lostTimer != nil {
			m.logf("zkrecipes: suspended for the session timeout; session considered lost", "timeout", d)
			m.lostTimer = nil
			m.endSession(errLostTimer(m.sessionID, d))
			m.transition(StateChange{State: StateLost, SessionID: m.sessionID})
		}
	})
}

func (m *stateMachine) stopLostTimer() {
	if m.lostTimer != nil {
		m.lostTimer.Stop()
		m.lostTimer = nil
	}
}

// transition must be called with mu held.
func (m *stateMachine) transition(sc StateChange) {
	sc.Time = time.Now()
	if sc.State.IsConnected() {
		m.usableAt = sc.Time.Add(reconnectPause)
		if !m.downSince.IsZero() {
			sc.Outage = sc.Time.Sub(m.downSince)
			m.downSince = time.Time{}
		}
	} else if sc.State == StateSuspended && m.downSince.IsZero() {
		m.downSince = sc.Time
	}
	m.state = sc.State
	m.last = sc
	close(m.changed)
	m.changed = make(chan struct{})
	for l := range m.listeners {
		l.push(sc)
	}
	m.logf("zkrecipes: connection state", "state", sc.State.String(), "session", sc.SessionID, "newSession", sc.NewSession)
}

func (m *stateMachine) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == StateClosed {
		return
	}
	m.stopLostTimer()
	m.endSession(errClosedSession(m.sessionID))
	m.transition(StateChange{State: StateClosed, SessionID: m.sessionID})
}

// usable returns the current state and, when it is connected, when the connection may
// carry requests.
func (m *stateMachine) usable() (State, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.usableAt
}

func (m *stateMachine) current() (State, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.changed
}

// add registers a listener. With current, its first call is the current state (marked
// Initial), queued under mu so that every later transition follows it in order. With
// hooks, the listener is the one that also hears expiries (see stateMachine.hooks).
func (m *stateMachine) add(fn func(StateChange), current, hooks bool) (*listener, bool) {
	l := &listener{fn: fn, signal: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == StateClosed {
		return nil, false
	}
	if current {
		l.push(StateChange{State: m.state, SessionID: m.sessionID, Time: m.last.Time, Initial: true})
	}
	m.listeners[l] = struct{}{}
	if hooks {
		m.hooks = l
	}
	return l, true
}

func (m *stateMachine) remove(l *listener) {
	m.mu.Lock()
	delete(m.listeners, l)
	if m.hooks == l {
		m.hooks = nil
	}
	m.mu.Unlock()
}

// waitConnected blocks until the state is CONNECTED or RECONNECTED.
func (m *stateMachine) waitConnected(ctx context.Context) error {
	for {
		st, changed := m.current()
		switch {
		case st.IsConnected():
			return nil
		case st == StateClosed:
			return ErrClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
