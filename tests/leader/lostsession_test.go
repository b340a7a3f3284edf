package leader_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// restartable starts a dedicated standalone server with a short tickTime,
// whose sessions survive a restart: stopped for longer than the session
// timeout and started again with its data, it restores them, so clients
// whose own timers reported LOST get their old sessions back.
func restartable(t *testing.T) *zktest.Server {
	t.Helper()
	srv := zktest.StartDedicated(t, zktest.WithTickTime(200*time.Millisecond))
	if srv.Node() == nil {
		t.Skip("this backend cannot restart a server")
	}
	return srv
}

// outage stops the server until every client in sts has reported LOST
// after mark, starts it again, and waits until each of them reported
// RECONNECTED on its old session (NewSession false, same session id).
func outage(t *testing.T, srv *zktest.Server, clients []*zkrecipes.Client, sts []*testkit.States, also func()) {
	t.Helper()
	ctx := testkit.Ctx(t)
	marks := make([]int, len(sts))
	sids := make([]int64, len(clients))
	for i := range sts {
		marks[i] = sts[i].Mark()
		sids[i] = clients[i].SessionID()
	}
	if err := srv.Node().Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i, st := range sts {
		st.WaitFor(t, marks[i], zkrecipes.StateLost, nil)
	}
	if also != nil {
		also()
	}
	if err := srv.Node().Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, st := range sts {
		sc := st.WaitFor(t, marks[i], zkrecipes.StateReconnected, nil)
		if sc.NewSession || sc.SessionID != sids[i] {
			t.Fatalf("client %d: RECONNECTED %+v after %v, want the old session %#x back", i, sc, st.Since(marks[i]), sids[i])
		}
	}
}

// LOST (by the client's timer) followed by RECONNECTED on the same session:
// the leader stops leading before its client reports LOST and leads again
// afterwards with the very node it had (same path, still owned by its
// session); the follower stays behind it; no two leaders at any time.
func TestLatchLostThenSameSession(t *testing.T) {
	srv := restartable(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	hp := func() zkrecipes.Option { return zkrecipes.WithHostProvider(srv.HostProvider()) }
	ca := testkit.Connect(t, srv.Servers(), ns, hp(), zkrecipes.WithSessionTimeout(4*time.Second))
	cb := testkit.Connect(t, srv.Servers(), ns, hp(), zkrecipes.WithSessionTimeout(4*time.Second))
	sa := testkit.WatchStates(t, ca, func(sc zkrecipes.StateChange) { h.note("a", sc.State) })
	sb := testkit.WatchStates(t, cb, func(sc zkrecipes.StateChange) { h.note("b", sc.State) })
	a := startLatch(t, ca, "/e", "a", h)
	h.waitLeader(t, "a")
	b := startLatch(t, cb, "/e", "b", h)
	nodeA, nodeB := a.Node(), b.Node()
	termA, _ := a.Term()

	outage(t, srv, []*zkrecipes.Client{ca, cb}, []*testkit.States{sa, sb}, func() {
		if a.HasLeadership() {
			t.Fatal("a still leads after its client reported LOST")
		}
	})
	h.waitFor(t, "a to lead again", func(l []string) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(l) == 1 && l[0] == "a" && h.counts["a"] == 2
	})
	h.check(t)
	if a.Node() != nodeA || b.Node() != nodeB {
		t.Fatalf("nodes changed across LOST on the same session: a %s -> %s, b %s -> %s", nodeA, a.Node(), nodeB, b.Node())
	}
	_, st, err := ca.Get(testkit.Ctx(t), nodeA)
	if err != nil || st.EphemeralOwner != ca.SessionID() {
		t.Fatalf("a's node %s after the outage: %v, owner %#x, want %#x", nodeA, err, st.EphemeralOwner, ca.SessionID())
	}
	term, ok := a.Term()
	if !ok || term.Node != nodeA || term.Token != termA.Token {
		t.Fatalf("term after the outage %v (leading %v), want the old node again, as %v", term, ok, termA)
	}
	if b.HasLeadership() {
		t.Fatal("b leads behind a")
	}
	ps, err := a.Participants(testkit.Ctx(t))
	if err != nil || len(ps) != 2 || ps[0].ID != "a" || !ps[0].IsLeader || ps[1].ID != "b" {
		t.Fatalf("participants after the outage: %+v, %v", ps, err)
	}
	// The term is usable: its guard passes on the resumed session.
	if _, err := term.Multi(testkit.Ctx(t)); err != nil {
		t.Fatalf("Multi in the resumed term: %v", err)
	}
}

// Run under SessionPolicy across LOST then RECONNECTED on the same session:
// the term's context is cancelled on LOST (cause: session lost), and once
// reconnected the work starts again in a new term, with a new node that
// belongs to the session; the first term's node is released.
func TestRunLostThenSameSession(t *testing.T) {
	srv := restartable(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithHostProvider(srv.HostProvider()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	st := testkit.WatchStates(t, c, nil)
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	defer cancel()
	type termEnd struct {
		term  leader.Term
		cause error
	}
	started := make(chan leader.Term, 10)
	ends := make(chan termEnd, 10)
	done := make(chan error, 1)
	go func() {
		done <- leader.Run(ctx, c, "/e", "a", func(fctx context.Context, term leader.Term) error {
			started <- term
			<-fctx.Done()
			ends <- termEnd{term, context.Cause(fctx)}
			return fctx.Err()
		}, leader.WithErrorPolicy(leader.SessionPolicy))
	}()
	first := <-started

	outage(t, srv, []*zkrecipes.Client{c}, []*testkit.States{st}, func() {
		// Cancelled by LOST at the latest (SessionPolicy rides out SUSPENDED).
		select {
		case end := <-ends:
			if end.term != first || !errors.Is(end.cause, leader.ErrLeadershipLost) || !strings.Contains(end.cause.Error(), "lost") {
				t.Fatalf("first term ended with cause %v", end.cause)
			}
		case <-time.After(testkit.Patience):
			t.Fatal("the term's context was not cancelled on LOST")
		}
	})
	var second leader.Term
	select {
	case second = <-started:
	case <-time.After(testkit.Patience):
		t.Fatal("the work did not start again after RECONNECTED")
	}
	if second.Node == first.Node || second.Token <= first.Token {
		t.Fatalf("second term %v after %v", second, first)
	}
	_, stat, err := c.Get(ctx, second.Node)
	if err != nil || stat.EphemeralOwner != c.SessionID() {
		t.Fatalf("second term's node: %v, owner %#x, want %#x", err, stat.EphemeralOwner, c.SessionID())
	}
	// The first node is released (in the background if the outage outlasted
	// Run's release): wait until the latch path holds the second node only.
	deadline := time.Now().Add(testkit.Patience)
	for {
		children, _, err := c.Children(ctx, "/e")
		if err != nil {
			t.Fatal(err)
		}
		if len(children) == 1 && "/e/"+children[0] == second.Node {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("latch path holds %v, want only %s", children, second.Node)
		}
		_, _, w, err := c.ChildrenW(ctx, "/e")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-w:
		case <-time.After(time.Until(deadline)):
		}
	}
	if _, err := second.Multi(ctx); err != nil {
		t.Fatalf("Multi in the second term: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	<-ends
}
