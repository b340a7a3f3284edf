package leader_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A cut much shorter than the session: with the standard policy the leader
// stops leading on SUSPENDED and leads again on RECONNECTED with the same
// node; nobody else leads in between.
func TestLatchShortCutStandardPolicy(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	d := zktest.NewFaultDialer()
	// 4 s (the harness's maximum): go-zk waits a second before redialling.
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(d.Dial), zkrecipes.WithSessionTimeout(4*time.Second))
	st := testkit.WatchStates(t, ca, nil)
	a := startLatch(t, ca, "/e", "a", h)
	startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "b", h)
	h.waitLeader(t, "a")
	node := a.Node()

	m := st.Mark()
	d.Cut()
	h.waitFor(t, "a to step down", func(l []string) bool { return len(l) == 0 })
	if a.HasLeadership() {
		t.Fatal("HasLeadership after NotLeader")
	}
	st.WaitFor(t, m, zkrecipes.StateSuspended, nil)
	d.Heal()
	if rc := st.WaitFor(t, m, zkrecipes.StateReconnected, nil); rc.NewSession {
		t.Fatal("the session expired during a short cut (machine too slow?)")
	}
	h.waitLeader(t, "a")
	if a.Node() != node {
		t.Fatalf("a leads with node %s, had %s", a.Node(), node)
	}
	h.check(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts["b"] != 0 || h.counts["a"] != 2 {
		t.Fatalf("history:\n%s", strings.Join(h.events, "\n"))
	}
}

// The same cut under the session policy: the leader never reports
// NotLeader.
func TestLatchShortCutSessionPolicy(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	d := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(d.Dial), zkrecipes.WithSessionTimeout(4*time.Second))
	st := testkit.WatchStates(t, ca, nil)
	settled := make(chan struct{}, 100)
	a := startLatchWith(t, ca, "/e", "a", h, func(l *leader.Latch) {
		probe.SetLatchSettled(l, func() {
			select {
			case settled <- struct{}{}:
			default:
			}
		})
	}, leader.WithErrorPolicy(leader.SessionPolicy))
	startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "b", h)
	h.waitLeader(t, "a")
	node := a.Node()
	for len(settled) > 0 {
		<-settled
	}

	m := st.Mark()
	d.Cut()
	st.WaitFor(t, m, zkrecipes.StateSuspended, nil)
	if !a.HasLeadership() {
		t.Fatal("the session policy stepped down on SUSPENDED")
	}
	d.Heal()
	if rc := st.WaitFor(t, m, zkrecipes.StateReconnected, nil); rc.NewSession {
		t.Fatal("the session expired during a short cut (machine too slow?)")
	}
	// The latch reads the children again after RECONNECTED; once that round
	// is over it has handled SUSPENDED and RECONNECTED.
	select {
	case <-settled:
	case <-time.After(testkit.Patience):
		t.Fatal("the latch did not settle after RECONNECTED")
	}
	h.mu.Lock()
	events := slices.Clone(h.events)
	h.mu.Unlock()
	if len(events) != 1 || !strings.HasSuffix(events[0], "a IsLeader") || !a.HasLeadership() || a.Node() != node {
		t.Fatalf("history under the session policy:\n%s", strings.Join(events, "\n"))
	}
}

// faultyMember is a participant with its own client and fault dialer.
type faultyMember struct {
	name string
	c    *zkrecipes.Client
	d    *zktest.FaultDialer
	st   *testkit.States
	l    *leader.Latch
}

func newFaultyMember(t *testing.T, servers []string, ns, name string, h *history, session time.Duration, opts ...zkrecipes.Option) *faultyMember {
	m := &faultyMember{name: name, d: zktest.NewFaultDialer()}
	m.c = testkit.Connect(t, servers, ns, append([]zkrecipes.Option{zkrecipes.WithDialer(m.d.Dial), zkrecipes.WithSessionTimeout(session)}, opts...)...)
	m.st = testkit.WatchStates(t, m.c, func(sc zkrecipes.StateChange) {
		if sc.State == zkrecipes.StateLost {
			h.note(name, sc.State)
		}
	})
	return m
}

// Randomized cut / black-hole / heal / close rounds. Every listener callback
// and every LOST goes into one history under one mutex; the history must
// never show two leaders at once, and never a leader whose client already
// reported LOST.
//
// Why this holds (standard policy): a participant leads only while its node
// is first, and a successor's node becomes first only when the server
// deletes the leader's node at session expiry, which happens a whole
// session timeout after the server last heard from the leader. The leader's
// client notices the broken connection earlier: at once when the connection
// is cut, after 2/3 of the timeout when it is black-holed (go-zk's read
// timeout). Its NotLeader is recorded when SUSPENDED arrives, so before the
// successor can even be notified.
func TestLatchCrashRounds(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	h := newHistory()
	admin := testkit.Connect(t, srv.Servers(), ns)
	const n = 3
	members := make([]*faultyMember, n)
	for i := range members {
		members[i] = newFaultyMember(t, srv.Servers(), ns, fmt.Sprintf("m%d", i), h, 3*time.Second)
		members[i].l = startLatch(t, members[i].c, "/e", members[i].name, h)
	}
	byName := func(name string) *faultyMember {
		for _, m := range members {
			if m.name == name {
				return m
			}
		}
		t.Fatalf("no member %s", name)
		return nil
	}
	settle := func() *faultyMember {
		t.Helper()
		return byName(settle(t, h, admin, "/e", n, func(name string) bool { return byName(name).l.HasLeadership() }))
	}

	const rounds = 20
	for round := 0; round < rounds; round++ {
		leader := settle()
		followers := slices.DeleteFunc(slices.Clone(members), func(m *faultyMember) bool { return m == leader })
		others := func(l []string) bool { return len(l) == 1 && l[0] != leader.name }
		none := func(l []string) bool { return !slices.Contains(l, leader.name) }
		mark := leader.st.Mark()
		switch action := rng.IntN(10); {
		case action < 3: // the leader is cut past its session timeout
			t.Logf("round %d: cut leader %s until it expires", round, leader.name)
			leader.d.Cut()
			h.waitFor(t, leader.name+" to step down", none)
			h.waitFor(t, "a successor", others)
			leader.st.WaitFor(t, mark, zkrecipes.StateLost, nil)
			leader.d.Heal()
			leader.st.WaitFor(t, mark, zkrecipes.StateReconnected, func(sc zkrecipes.StateChange) bool { return sc.NewSession })
		case action < 4: // the leader is black-holed past its session timeout
			t.Logf("round %d: black-hole leader %s until it expires", round, leader.name)
			leader.d.BlackHole()
			h.waitFor(t, "a successor", others)
			leader.st.WaitFor(t, mark, zkrecipes.StateLost, nil)
			leader.d.Heal()
			leader.st.WaitFor(t, mark, zkrecipes.StateReconnected, func(sc zkrecipes.StateChange) bool { return sc.NewSession })
		case action < 6: // a short cut: who leads afterwards is up to timing
			t.Logf("round %d: short cut of leader %s", round, leader.name)
			leader.d.Cut()
			h.waitFor(t, leader.name+" to step down", none)
			leader.d.Heal()
		case action < 8: // the leader leaves and joins again
			t.Logf("round %d: leader %s closes and rejoins", round, leader.name)
			closeLatch(t, leader.l)
			h.waitFor(t, leader.name+" to step down", none)
			leader.l = startLatch(t, leader.c, "/e", leader.name, h)
		default: // a follower expires; the leader must not notice
			f := followers[rng.IntN(len(followers))]
			t.Logf("round %d: cut follower %s until it expires", round, f.name)
			node := leader.l.Node()
			fm := f.st.Mark()
			f.d.Cut()
			f.st.WaitFor(t, fm, zkrecipes.StateLost, nil)
			f.d.Heal()
			f.st.WaitFor(t, fm, zkrecipes.StateReconnected, nil)
			// The leader keeps its node and its leadership, unless its own
			// connection had trouble meanwhile (a loaded machine).
			if after := settle(); (after != leader || after.l.Node() != node) && leader.st.Mark() == mark {
				t.Fatalf("round %d: leadership moved from %s to %s when follower %s expired; history:\n%s",
					round, leader.name, after.name, f.name, h.dump())
			} else if leader.st.Mark() != mark {
				t.Logf("round %d: leader %s's own connection changed state meanwhile: %v", round, leader.name, leader.st.Since(mark))
			}
		}
		h.check(t)
	}
	settle()
	h.check(t)
}

// Fencing: a leader deposed by a partition cannot write with its old Term
// once it is back; the new leader can, and its token is higher.
func TestTermFencesDeposedLeader(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	a := newFaultyMember(t, srv.Servers(), ns, "a", h, 2*time.Second)
	a.l = startLatch(t, a.c, "/e", "a", h)
	b := newFaultyMember(t, srv.Servers(), ns, "b", h, 2*time.Second)
	b.l = startLatch(t, b.c, "/e", "b", h)
	ctx := testkit.Ctx(t)
	if _, err := b.c.Create(ctx, "/data", []byte("0"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	h.waitLeader(t, "a")
	ta, _ := a.l.Term()

	mark := a.st.Mark()
	a.d.Cut()
	h.waitLeader(t, "b")
	tb, ok := b.l.Term()
	if !ok || tb.Token <= ta.Token {
		t.Fatalf("new term %v (%v) after %v", tb, ok, ta)
	}
	a.st.WaitFor(t, mark, zkrecipes.StateLost, nil)
	a.d.Heal()
	a.st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)

	_, err := ta.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("late write of a"), Version: -1})
	if !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("deposed leader's write = %v, want ErrNotLeader", err)
	}
	if _, err := tb.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("b"), Version: -1}); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	if data, _, err := a.c.Get(ctx, "/data"); err != nil || string(data) != "b" {
		t.Fatalf("/data = %q, %v", data, err)
	}
	// b leaves; a (rejoined with a new node) leads with a third, higher token.
	closeLatch(t, b.l)
	h.waitLeader(t, "a")
	ta2, _ := a.l.Term()
	if ta2.Token <= tb.Token {
		t.Fatalf("third term %v after %v", ta2, tb)
	}
	h.check(t)
}

// settle waits until the history shows one leader, the latch path has n
// participants, ZooKeeper's first participant is that leader and leading
// says it leads; it returns the leader's name.
func settle(t *testing.T, h *history, admin *zkrecipes.Client, path string, n int, leading func(string) bool) string {
	t.Helper()
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		h.waitFor(t, "one leader", func(l []string) bool { return len(l) == 1 })
		ps := waitParticipants(t, admin, path, n)
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if cur := h.current(); len(cur) == 1 && ps[0].ID == cur[0] && leading(cur[0]) {
			return cur[0]
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no settled leader: participants %+v, history:\n%s", ps, h.dump())
		}
	}
}

// Run under a short cut: the term's context is cancelled on SUSPENDED, the
// node is still there while fn winds down (it is released only after fn
// returned), and Run campaigns again with a new node once reconnected.
func TestRunCancelsOnSuspended(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	a := newFaultyMember(t, srv.Servers(), ns, "a", h, 4*time.Second)
	admin := testkit.Connect(t, srv.Servers(), ns)
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	defer cancel()
	type termEnd struct {
		term      leader.Term
		cause     error
		nodeAlive bool
	}
	started := make(chan leader.Term, 10)
	ends := make(chan termEnd, 10)
	done := make(chan error, 1)
	go func() {
		done <- leader.Run(ctx, a.c, "/e", "a", func(fctx context.Context, term leader.Term) error {
			started <- term
			<-fctx.Done()
			// Still winding down: the node must not be released yet.
			ok, _, err := admin.Exists(ctx, term.Node)
			ends <- termEnd{term, context.Cause(fctx), ok && err == nil}
			return fctx.Err()
		})
	}()
	first := <-started
	mark := a.st.Mark()
	a.d.Cut()
	end := <-ends
	if end.term != first || !errors.Is(end.cause, leader.ErrLeadershipLost) || !strings.Contains(end.cause.Error(), "suspended") {
		t.Fatalf("term ended with cause %v", end.cause)
	}
	if !end.nodeAlive {
		t.Fatal("the node was released before fn returned")
	}
	a.d.Heal()
	a.st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)
	second := <-started
	if second.Node == first.Node || second.Token <= first.Token {
		t.Fatalf("second term %v after %v", second, first)
	}
	if ok, _, err := admin.Exists(ctx, first.Node); ok || err != nil {
		t.Fatalf("first term's node %s still exists (%v)", first.Node, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	<-ends
}

// Production-like settings: ZooKeeper's default tickTime (2 s) and Curator's default 60 s
// session (negotiated down to 40 s). A short cut deposes the leader on SUSPENDED and it
// leads again with the same node; a Close then hands over to the next participant.
func TestLatchProductionLikeSettings(t *testing.T) {
	srv := zktest.StartDedicated(t, zktest.WithTickTime(2*time.Second))
	ns := testkit.Namespace(t)
	h := newHistory()
	d := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(d.Dial), zkrecipes.WithSessionTimeout(60*time.Second))
	if got := ca.SessionTimeout(); got != 40*time.Second {
		t.Fatalf("negotiated session timeout %v, want 40s", got)
	}
	st := testkit.WatchStates(t, ca, nil)
	a := startLatch(t, ca, "/e", "a", h)
	startLatch(t, testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithSessionTimeout(60*time.Second)), "/e", "b", h)
	h.waitLeader(t, "a")
	node := a.Node()

	m := st.Mark()
	d.Cut()
	h.waitFor(t, "a to step down", func(l []string) bool { return len(l) == 0 })
	d.Heal()
	if rc := st.WaitFor(t, m, zkrecipes.StateReconnected, nil); rc.NewSession {
		t.Fatal("a 40 s session expired during a short cut")
	}
	h.waitLeader(t, "a")
	if a.Node() != node {
		t.Fatalf("a leads with node %s, had %s", a.Node(), node)
	}
	closeLatch(t, a)
	h.waitLeader(t, "b")
	h.check(t)
}
