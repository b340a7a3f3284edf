package zkrecipes

import (
	"context"
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
	l, _ := m.add(func(sc StateChange) { got = append(got, sc) }, false)
	ev := func(s zk.State, sid int64) { m.onEvent(zk.Event{Type: zk.EventSession, State: s}, sid) }

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
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateHasSession}, 7)
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateDisconnected}, 7)
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
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateHasSession}, 7)
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
