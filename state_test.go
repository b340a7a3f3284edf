package zkrecipes

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// The state machine is pure logic fed with go-zk session events; these tests drive it
// with synthetic events. Its behaviour against a real server is covered in client_test.go.
func TestStateMachineTransitions(t *testing.T) {
	timeout := time.Hour
	m := newStateMachine(func() time.Duration { return timeout }, func(string, ...any) {})
	var got []StateChange
	l, _ := m.add(func(sc StateChange) { got = append(got, sc) }, false, false)
	ev := func(s zk.State, sid int64) { m.onEvent(zk.Event{Type: zk.EventSession, State: s}, sid, nil) }

	ev(zk.StateConnecting, 0)
	ev(zk.StateConnected, 0)
	ev(zk.StateHasSession, 1)   // CONNECTED
	ev(zk.StateDisconnected, 1) // SUSPENDED
	ev(zk.StateConnecting, 1)   // ignored
	ev(zk.StateDisconnected, 1) // ignored: already suspended
	ev(zk.StateHasSession, 1)   // RECONNECTED same session
	ev(zk.StateDisconnected, 1) // SUSPENDED
	ev(zk.StateExpired, 0)      // LOST
	ev(zk.StateDisconnected, 0) // ignored
	ev(zk.StateHasSession, 2)   // RECONNECTED new session
	m.close()                   // CLOSED
	ev(zk.StateDisconnected, 2) // ignored after close

	done := make(chan struct{})
	go func() { l.run(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not finish after CLOSED")
	}
	want := []struct {
		s   State
		new bool
		sid int64
	}{
		{StateConnected, true, 1}, {StateSuspended, false, 1}, {StateReconnected, false, 1},
		{StateSuspended, false, 1}, {StateLost, false, 1}, {StateReconnected, true, 2}, {StateClosed, false, 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d transitions %v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].State != w.s || got[i].NewSession != w.new || got[i].SessionID != w.sid {
			t.Errorf("transition %d = %+v, want %+v", i, got[i], w)
		}
	}
}

func TestStateMachineLostTimer(t *testing.T) {
	m := newStateMachine(func() time.Duration { return 50 * time.Millisecond }, func(string, ...any) {})
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateHasSession}, 7, nil)
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateDisconnected}, 7, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		st, changed := m.current()
		if st == StateLost {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no LOST after the session timeout; state %v", st)
		}
	}
	// A reconnect after a client-side LOST that finds the session alive is not a new session.
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateHasSession}, 7, nil)
	if st, _ := m.current(); st != StateReconnected {
		t.Fatalf("state %v, want RECONNECTED", st)
	}
	m.close()
}

func TestStateNames(t *testing.T) {
	for s, n := range map[State]string{StateConnected: "CONNECTED", StateSuspended: "SUSPENDED",
		StateReconnected: "RECONNECTED", StateLost: "LOST", StateClosed: "CLOSED", State(42): "UNKNOWN"} {
		if s.String() != n {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), n)
		}
	}
}

// The session context, driven by synthetic events: a suspension keeps it, LOST (server
// or timer), a replacement and close end it with the right cause, and a reconnect after
// LOST gives a live one again.
func TestStateMachineSessionContext(t *testing.T) {
	lost := make(chan struct{})
	m := newStateMachine(func() time.Duration { return 50 * time.Millisecond }, func(string, ...any) {})
	ev := func(s zk.State, sid int64) { m.onEvent(zk.Event{Type: zk.EventSession, State: s}, sid, nil) }
	done := func(s *Session) bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	}
	ev(zk.StateHasSession, 1)
	s1 := m.session()
	if s1.ID() != 1 || done(s1) || s1.Err() != nil {
		t.Fatalf("connected session: id %#x done %v err %v", s1.ID(), done(s1), s1.Err())
	}
	ev(zk.StateDisconnected, 1)
	if s := m.session(); done(s1) || s.ID() != 1 || s.Context() != s1.Context() {
		t.Fatal("SUSPENDED ended the session context or gave another one")
	}
	ev(zk.StateHasSession, 1)
	if done(s1) || m.session().Context() != s1.Context() {
		t.Fatal("RECONNECTED on the same session ended the session context")
	}

	// Replaced without a LOST first.
	ev(zk.StateDisconnected, 1)
	ev(zk.StateHasSession, 2)
	if !done(s1) || !errors.Is(s1.Err(), ErrSessionLost) || !errors.Is(context.Cause(s1.Context()), ErrSessionLost) {
		t.Fatalf("replaced session: done %v cause %v", done(s1), s1.Err())
	}
	s2 := m.session()
	if s2.ID() != 2 || done(s2) {
		t.Fatalf("new session: id %#x done %v", s2.ID(), done(s2))
	}

	// LOST by the server.
	ev(zk.StateExpired, 0)
	if !done(s2) || !errors.Is(s2.Err(), ErrSessionLost) {
		t.Fatalf("expired session: done %v cause %v", done(s2), s2.Err())
	}
	if s := m.session(); !done(s) || s.ID() != 2 || !errors.Is(s.Err(), ErrSessionLost) {
		t.Fatalf("taken while LOST: id %#x done %v cause %v", s.ID(), done(s), s.Err())
	}
	ev(zk.StateHasSession, 3)
	s3 := m.session()
	if s3.ID() != 3 || done(s3) {
		t.Fatalf("after RECONNECTED: id %#x done %v", s3.ID(), done(s3))
	}

	// LOST by the client's timer, then the same session resumed.
	context.AfterFunc(s3.Context(), func() { close(lost) })
	ev(zk.StateDisconnected, 3)
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the LOST timer did not end the session context")
	}
	if st, _ := m.current(); st != StateLost || !errors.Is(s3.Err(), ErrSessionLost) {
		t.Fatalf("state %v cause %v, want LOST and ErrSessionLost", st, s3.Err())
	}
	ev(zk.StateHasSession, 3)
	s3b := m.session()
	if s3b.ID() != 3 || done(s3b) || !done(s3) {
		t.Fatalf("resumed after LOST: id %#x done %v (old done %v)", s3b.ID(), done(s3b), done(s3))
	}

	m.close()
	if !errors.Is(s3b.Err(), ErrClosed) || !errors.Is(m.session().Err(), ErrClosed) {
		t.Fatalf("after close: cause %v", s3b.Err())
	}
	if !errors.Is(s3.Err(), ErrSessionLost) || errors.Is(s3.Err(), ErrClosed) {
		t.Fatalf("close changed the cause of an ended session: %v", s3.Err())
	}
}

// WithCurrentState: the synthetic first call carries the current state, and every
// transition after it follows in order.
func TestStateMachineCurrentState(t *testing.T) {
	m := newStateMachine(func() time.Duration { return time.Hour }, func(string, ...any) {})
	ev := func(s zk.State, sid int64) { m.onEvent(zk.Event{Type: zk.EventSession, State: s}, sid, nil) }
	ev(zk.StateHasSession, 1)
	ev(zk.StateDisconnected, 1)
	var got []StateChange
	l, _ := m.add(func(sc StateChange) { got = append(got, sc) }, true, false)
	ev(zk.StateHasSession, 1)
	m.close()
	l.run()
	if len(got) != 3 {
		t.Fatalf("got %v, want the current SUSPENDED, then RECONNECTED and CLOSED", got)
	}
	if g := got[0]; g.State != StateSuspended || !g.Initial || g.NewSession || g.SessionID != 1 || g.Time.IsZero() {
		t.Fatalf("initial call %+v", g)
	}
	if got[1].State != StateReconnected || got[1].Initial || got[2].State != StateClosed {
		t.Fatalf("transitions after the initial call: %+v", got[1:])
	}
}

// A replaced go-zk connection: retire refuses when the client reconnected after the
// firing (go-zk was slow, not wedged), drops the retired connection's events, and the
// replacement's session reports SUSPENDED, then RECONNECTED with WatchesLost (and
// NewSession only if the server gave a new session).
func TestStateMachineConnectionReplaced(t *testing.T) {
	m := newStateMachine(func() time.Duration { return time.Hour }, func(string, ...any) {})
	var got []StateChange
	l, _ := m.add(func(sc StateChange) { got = append(got, sc) }, false, false)
	var old, next atomic.Bool
	ev := func(s zk.State, sid int64, from *atomic.Bool) {
		m.onEvent(zk.Event{Type: zk.EventSession, State: s}, sid, from)
	}
	ev(zk.StateHasSession, 1, &old) // CONNECTED
	if m.retire(&old, time.Now().Add(-time.Minute)) {
		t.Fatal("retire took a connection that (re)connected after the firing")
	}
	if !m.retire(&old, time.Now().Add(time.Second)) || !m.retire(&old, time.Time{}) {
		t.Fatal("retire refused the wedged connection, or a second time")
	}
	ev(zk.StateDisconnected, 1, &old) // dropped
	m.connectionReplaced()            // SUSPENDED
	ev(zk.StateHasSession, 1, &old)   // dropped
	ev(zk.StateHasSession, 1, &next)  // RECONNECTED, same session, watches lost
	ev(zk.StateDisconnected, 1, &next)
	ev(zk.StateHasSession, 1, &next) // RECONNECTED, watches kept (go-zk set them again)
	m.close()
	l.run()
	type tr struct {
		s                 State
		newSession, watch bool
	}
	want := []tr{{StateConnected, true, true}, {StateSuspended, false, false}, {StateReconnected, false, true},
		{StateSuspended, false, false}, {StateReconnected, false, false}, {StateClosed, false, false}}
	if len(got) != len(want) {
		t.Fatalf("got %d transitions %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if g := (tr{got[i].State, got[i].NewSession, got[i].WatchesLost}); g != w {
			t.Errorf("transition %d = %+v, want %+v", i, g, w)
		}
	}
}
