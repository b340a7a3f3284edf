package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func isDone(s *zkrecipes.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

func waitDone(t *testing.T, s *zkrecipes.Session, what string) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(wait):
		t.Fatalf("session %#x not done within %v %s", s.ID(), wait, what)
	}
}

// A cut shorter than the session timeout: SUSPENDED does not end the session's context
// (the session lives on), and after RECONNECTED on the same session it is still live,
// as is one taken during the suspension.
func TestSessionSurvivesShortCut(t *testing.T) {
	srv := zktest.Start(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial))
	rec := record(c)
	s := c.Session()
	if s.ID() != c.SessionID() || isDone(s) || s.Err() != nil {
		t.Fatalf("session %#x (client %#x) done %v err %v", s.ID(), c.SessionID(), isDone(s), s.Err())
	}
	fd.Cut()
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	during := c.Session()
	if isDone(s) || isDone(during) || during.ID() != s.ID() {
		t.Fatalf("SUSPENDED: done %v, taken during it: %#x done %v", isDone(s), during.ID(), isDone(during))
	}
	fd.Heal()
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if sc.NewSession {
		t.Fatalf("the session did not survive the cut: %+v", sc)
	}
	if isDone(s) || isDone(during) || c.SessionContext().Err() != nil {
		t.Fatalf("RECONNECTED on the same session ended its context: %v", s.Err())
	}
	rec.never(t, zkrecipes.StateLost, "during a short cut")
}

// A cut longer than the session timeout: the session's context is done with
// ErrSessionLost before any listener hears LOST, one taken while LOST is already done,
// and after RECONNECTED with a new session a fresh one is live until Close, which ends it
// with ErrClosed.
func TestSessionEndsWhenLost(t *testing.T) {
	srv := zktest.Start(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(time.Second), zkrecipes.WithDialer(fd.Dial))
	s := c.Session()
	atLost := make(chan error, 1)
	c.Listen(func(sc zkrecipes.StateChange) {
		if sc.State == zkrecipes.StateLost {
			select {
			case atLost <- s.Err():
			default:
			}
		}
	})
	rec := record(c)

	fd.Cut()
	waitDone(t, s, "after a cut longer than the session timeout")
	if err := context.Cause(s.Context()); !errors.Is(err, zkrecipes.ErrSessionLost) {
		t.Fatalf("cause %v, want ErrSessionLost", err)
	}
	if !errors.Is(s.Context().Err(), context.Canceled) {
		t.Fatalf("ctx.Err() = %v", s.Context().Err())
	}
	_, i := rec.waitFor(t, 0, zkrecipes.StateLost)
	select {
	case err := <-atLost:
		if !errors.Is(err, zkrecipes.ErrSessionLost) {
			t.Fatalf("a listener hearing LOST found the session's cause %v", err)
		}
	case <-time.After(wait):
		t.Fatal("the listener never heard LOST")
	}
	// The cut holds, so the client stays LOST until the heal.
	if during := c.Session(); !isDone(during) || during.ID() != s.ID() || !errors.Is(during.Err(), zkrecipes.ErrSessionLost) {
		t.Fatalf("taken while %v: %#x done %v cause %v", c.State(), during.ID(), isDone(during), during.Err())
	}

	fd.Heal()
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	after := c.Session()
	if isDone(after) {
		t.Fatalf("taken after RECONNECTED %+v: already done: %v", sc, after.Err())
	}
	if after.ID() != sc.SessionID {
		t.Fatalf("taken after RECONNECTED: session %#x, RECONNECTED reported %#x", after.ID(), sc.SessionID)
	}
	if !errors.Is(s.Err(), zkrecipes.ErrSessionLost) {
		t.Fatalf("the lost session's cause changed to %v", s.Err())
	}

	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, after, "after Close")
	if !errors.Is(after.Err(), zkrecipes.ErrClosed) || errors.Is(after.Err(), zkrecipes.ErrSessionLost) {
		t.Fatalf("cause after Close %v, want ErrClosed", after.Err())
	}
	if err := context.Cause(c.SessionContext()); !errors.Is(err, zkrecipes.ErrClosed) {
		t.Fatalf("SessionContext after Close: cause %v", err)
	}
	if !errors.Is(s.Err(), zkrecipes.ErrSessionLost) {
		t.Fatalf("Close changed the lost session's cause to %v", s.Err())
	}
}

// Close of a healthy client ends the session's context with ErrClosed.
func TestSessionEndsOnClose(t *testing.T) {
	srv := zktest.Start(t)
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	ctx := c.SessionContext()
	work, cancel := context.WithCancel(ctx) // a derived context ends with it
	defer cancel()
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-work.Done():
	case <-time.After(wait):
		t.Fatal("a context derived from the session context not done after Close")
	}
	if err := context.Cause(ctx); !errors.Is(err, zkrecipes.ErrClosed) {
		t.Fatalf("cause %v, want ErrClosed", err)
	}
}

// A listener added with WithCurrentState hears the current state first (CONNECTED after
// Connect, SUSPENDED when added during a cut), marked Initial, then every transition in
// order.
func TestListenWithCurrentState(t *testing.T) {
	srv := zktest.Start(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial))
	sid := c.SessionID()
	first := &recorder{signal: make(chan struct{}, 1)}
	c.Listen(first.add, zkrecipes.WithCurrentState())
	sc, _ := first.waitFor(t, 0, zkrecipes.StateConnected)
	if !sc.Initial || sc.NewSession || sc.SessionID != sid || sc.Time.IsZero() {
		t.Fatalf("initial call %+v, want CONNECTED of session %#x marked Initial", sc, sid)
	}
	rec := record(c)

	fd.Cut()
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	during := &recorder{signal: make(chan struct{}, 1)}
	c.Listen(during.add, zkrecipes.WithCurrentState())
	fd.Heal()
	sc, _ = rec.waitFor(t, 0, zkrecipes.StateReconnected)
	during.waitFor(t, 0, zkrecipes.StateReconnected)
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	first.waitFor(t, 0, zkrecipes.StateClosed)
	during.waitFor(t, 0, zkrecipes.StateClosed)

	want := append([]string{"CONNECTED"}, rec.states()...)
	if got := first.states(); !equal(got, want) {
		t.Fatalf("listener added after Connect: %v, want %v", got, want)
	}
	for i, ch := range first.all() {
		if ch.Initial != (i == 0) {
			t.Fatalf("call %d %+v: Initial must be set on the first call only", i, ch)
		}
	}
	d := during.all()
	if d[0].State != zkrecipes.StateSuspended || !d[0].Initial || d[0].SessionID != sid {
		t.Fatalf("listener added during the cut: first call %+v, want SUSPENDED of %#x marked Initial", d[0], sid)
	}
	if got := during.states(); !equal(got, []string{"SUSPENDED", "RECONNECTED", "CLOSED"}) || d[1].NewSession != sc.NewSession {
		t.Fatalf("listener added during the cut: %v", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
