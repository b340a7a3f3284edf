// Package adaptertest holds what the adapters' tests against real ZooKeeper share: a
// bound on every wait, signals of the states and leadership events a client's hooks
// see, a Client closed at cleanup, a check that a scripted lost reply happened, a
// server-side session expiry, and the latch and the discovery registration the tests
// make events of.
package adaptertest

import (
	"context"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Patience bounds every wait; it is never part of an assertion.
const Patience = 30 * time.Second

// Signals is joined after an adapter's hooks: by the time it hears an event, the
// adapter has recorded it.
type Signals struct {
	states     chan zkrecipes.State
	leadership chan bool
}

// NewSignals returns Signals with room for 64 events of each kind.
func NewSignals() *Signals {
	return &Signals{states: make(chan zkrecipes.State, 64), leadership: make(chan bool, 64)}
}

// Hooks are the hooks that feed s.
func (s *Signals) Hooks() zkrecipes.Hooks {
	return zkrecipes.Hooks{
		StateChange: func(_ context.Context, sc zkrecipes.StateChange) { s.states <- sc.State },
		Leadership:  func(_ context.Context, ev zkrecipes.LeadershipEvent) { s.leadership <- ev.Leader },
	}
}

// AwaitState waits for the state want, passing over the others.
func (s *Signals) AwaitState(t testing.TB, want zkrecipes.State) {
	t.Helper()
	deadline := time.After(Patience)
	for {
		select {
		case st := <-s.states:
			if st == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %v within %v", want, Patience)
		}
	}
}

// AwaitLeadership waits for the next leadership event and fails the test unless it is
// want.
func (s *Signals) AwaitLeadership(t testing.TB, want bool) {
	t.Helper()
	select {
	case got := <-s.leadership:
		if got != want {
			t.Fatalf("leadership event %v, want %v", got, want)
		}
	case <-time.After(Patience):
		t.Fatalf("no leadership event %v within %v", want, Patience)
	}
}

// Connect opens a Client of srv with opts, closed at cleanup (failing the test when
// Close fails).
func Connect(t testing.TB, srv *zktest.Server, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	c, err := zkrecipes.Connect(ctx, srv.Servers(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// MustFire fails the test unless lost (from zktest.FaultDialer.LoseNextReply) has fired.
func MustFire(t testing.TB, lost <-chan struct{}) {
	t.Helper()
	select {
	case <-lost:
	default:
		t.Fatal("the reply was never lost: the test proved nothing")
	}
}

// Expire has the server expire the session of the client that dials through fd and
// whose hooks feed s: it watches the ephemeral node that session owns at the server path
// ephemeral through observer, cuts fd, waits for LOST and for the node to go (until ctx
// ends), heals fd and waits for RECONNECTED.
func (s *Signals) Expire(t testing.TB, ctx context.Context, observer *zkrecipes.Client, fd *zktest.FaultDialer, ephemeral string) {
	t.Helper()
	_, _, gone, err := observer.ExistsW(ctx, ephemeral)
	if err != nil {
		t.Fatal(err)
	}
	fd.Cut()
	s.AwaitState(t, zkrecipes.StateLost)
	select {
	case <-gone:
	case <-ctx.Done():
		t.Fatal("the server never expired the session")
	}
	fd.Heal()
	s.AwaitState(t, zkrecipes.StateReconnected)
}

// StartLatch makes the latch "id" at path on c and starts it.
func StartLatch(t testing.TB, ctx context.Context, c *zkrecipes.Client, path, id string) *leader.Latch {
	t.Helper()
	l, err := leader.New(c, path, leader.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// Registration returns a Discovery on c at /services and the instance i1 of the service
// svc (127.0.0.1:8080, no payload) to register with it.
func Registration(t testing.TB, c *zkrecipes.Client) (*discovery.Discovery[map[string]any], discovery.Instance[map[string]any]) {
	t.Helper()
	d, err := discovery.New[map[string]any](c, "/services")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := discovery.NewInstance[map[string]any]("svc", nil, discovery.WithID("i1"), discovery.WithAddress("127.0.0.1"), discovery.WithPort(8080))
	if err != nil {
		t.Fatal(err)
	}
	return d, inst
}
