package leader_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// rawOrder lists the children of path straight from the server, ordered by
// their sequence number read as an integer: the creation order that
// Curator's text order must match for ordinary latch nodes.
func rawOrder(t testing.TB, c *zkrecipes.Client, path string) []string {
	t.Helper()
	kids, _, err := c.Conn().Children(c.Namespace() + path)
	if err != nil {
		t.Fatalf("children of %s: %v", path, err)
	}
	seq := func(name string) int {
		i := strings.LastIndex(name, "-")
		n, err := strconv.Atoi(name[i+1:])
		if err != nil {
			t.Fatalf("child %q has no sequence number", name)
		}
		return n
	}
	sort.Slice(kids, func(i, j int) bool { return seq(kids[i]) < seq(kids[j]) })
	return kids
}

func TestLatchFiveParticipantsHandOverInOrder(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const path = "/election"
	h := newHistory()
	var latches []*leader.Latch
	for i := 0; i < 5; i++ {
		c := testkit.Connect(t, srv.Servers(), ns)
		latches = append(latches, startLatch(t, c, path, fmt.Sprintf("p%d", i), h))
	}
	ctx := testkit.Ctx(t)
	observer := testkit.Connect(t, srv.Servers(), ns)

	for round := 0; round < 5; round++ {
		want := fmt.Sprintf("p%d", round)
		h.waitLeader(t, want)
		for i, l := range latches[round:] {
			if got := l.HasLeadership(); got != (i == 0) {
				t.Fatalf("round %d: %s.HasLeadership() = %v", round, l.ID(), got)
			}
		}

		// Participants and Leader must agree with the server's children in
		// creation order, node for node.
		raw := rawOrder(t, observer, path)
		ps, err := latches[round].Participants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != len(raw) || len(ps) != 5-round {
			t.Fatalf("round %d: participants %+v, children %v", round, ps, raw)
		}
		for i, p := range ps {
			if p.Node != raw[i] || p.ID != fmt.Sprintf("p%d", round+i) || p.IsLeader != (i == 0) {
				t.Fatalf("round %d: participant %d is %+v, child %s", round, i, p, raw[i])
			}
			if _, name := zkrecipes.SplitPath(latches[round+i].Node()); name != p.Node {
				t.Fatalf("round %d: %s reports node %s, participants say %s", round, p.ID, name, p.Node)
			}
		}
		ld, err := leader.CurrentLeader(ctx, observer, path)
		if err != nil || ld != ps[0] {
			t.Fatalf("round %d: CurrentLeader = %+v, %v; want %+v", round, ld, err, ps[0])
		}
		term, ok := latches[round].Term()
		if !ok || term.ID != want || term.Node != latches[round].Node() {
			t.Fatalf("round %d: Term() = %v, %v", round, term, ok)
		}

		closeLatch(t, latches[round])
		h.waitFor(t, want+" to step down", func(l []string) bool { return !slices.Contains(l, want) })
	}
	h.check(t)
	if _, err := leader.CurrentLeader(ctx, observer, path); !errors.Is(err, leader.ErrNoLeader) {
		t.Fatalf("CurrentLeader with nobody left = %v, want ErrNoLeader", err)
	}
	if ps, err := leader.ListParticipants(ctx, observer, "/nowhere"); err != nil || len(ps) != 0 {
		t.Fatalf("ListParticipants of a missing path = %v, %v", ps, err)
	}
}

func TestLatchNodeFormat(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	for _, id := range []string{"", "node-1 ünïcode"} {
		l := startLatch(t, c, "/a/b/format", id, nil)
		_, name := zkrecipes.SplitPath(l.Node())
		// _c_ + 36-char uuid + "-latch-" + 10 digits.
		if len(name) != 3+36+7+10 || !strings.HasPrefix(name, "_c_") || name[39:46] != "-latch-" {
			t.Fatalf("node name %q is not Curator's", name)
		}
		if _, err := strconv.Atoi(name[46:]); err != nil {
			t.Fatalf("node name %q has no sequence", name)
		}
		data, st, err := c.Get(ctx, l.Node())
		if err != nil || string(data) != id || st.EphemeralOwner != c.SessionID() {
			t.Fatalf("node data %q, owner %#x, err %v; want %q owned by %#x", data, st.EphemeralOwner, err, id, c.SessionID())
		}
		node := l.Node()
		closeLatch(t, l)
		if ok, _, err := c.Exists(ctx, node); ok || err != nil || l.Node() != "" {
			t.Fatalf("node %q still there after Close (%v)", node, err)
		}
	}
	// Parents are containers.
	for _, p := range []string{"/a", "/a/b", "/a/b/format"} {
		_, st, err := c.Conn().Get(c.Namespace() + p)
		if errors.Is(err, zk.ErrNoNode) {
			continue // already reaped
		}
		if err != nil {
			t.Fatal(err)
		}
		if st.DataLength != 0 {
			t.Fatalf("%s has data", p)
		}
	}
}

func TestLatchAwaitAndEvents(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c1 := testkit.Connect(t, srv.Servers(), ns)
	c2 := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)

	first := startLatch(t, c1, "/e", "first", nil)
	if err := first.Await(ctx); err != nil {
		t.Fatal(err)
	}
	events := make(chan leader.Event, 10)
	second, err := leader.New(c2, "/e", leader.WithID("second"), leader.WithEvents(events))
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := second.Await(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await of a follower = %v", err)
	}
	cancel()

	firstTerm, _ := first.Term()
	closeLatch(t, first)
	if err := second.Await(ctx); err != nil {
		t.Fatal(err)
	}
	ev := <-events
	if !ev.Leader || ev.Term.ID != "second" || ev.Term.Token <= firstTerm.Token {
		t.Fatalf("event %+v after first term %v", ev, firstTerm)
	}
	// SILENT (the default) close: no NotLeader event.
	closeLatch(t, second)
	select {
	case ev := <-events:
		t.Fatalf("silent close delivered %+v", ev)
	default:
	}
	if err := second.Await(ctx); !errors.Is(err, leader.ErrClosed) {
		t.Fatalf("Await after Close = %v", err)
	}
	if err := second.Start(ctx); !errors.Is(err, leader.ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
	if err := second.Close(ctx); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestLatchRejoinsWhenItsNodeIsDeleted(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	a := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "a", h)
	startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "b", h)
	admin := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	h.waitLeader(t, "a")

	// Someone deletes the leader's node: Java's latch would go on leading;
	// ours steps down and joins again behind b.
	old := a.Node()
	if err := admin.Delete(ctx, old, -1); err != nil {
		t.Fatal(err)
	}
	h.waitLeader(t, "b")
	ps := waitParticipants(t, admin, "/e", 2)
	if ps[0].ID != "b" || ps[1].ID != "a" || a.Node() == old || a.HasLeadership() {
		t.Fatalf("after deleting a's node: %+v, a.Node()=%s", ps, a.Node())
	}

	// A follower's node deleted: it joins again, at the back.
	c := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "c", h)
	if err := admin.Delete(ctx, a.Node(), -1); err != nil {
		t.Fatal(err)
	}
	ps = waitParticipantsFunc(t, admin, "/e", func(ps []leader.Participant) bool {
		return len(ps) == 3 && ps[2].ID == "a"
	})
	if ps[0].ID != "b" || ps[1].ID != "c" {
		t.Fatalf("participants %+v", ps)
	}
	_ = c
	// No h.check: a deletion by someone else notifies the deposed leader and
	// its successor at the same time, so their callbacks may overlap. Only
	// the order of each participant's own callbacks is guaranteed.
	h.checkAlternation(t)
}

func TestLatchRejoinsWhenThePathIsDeleted(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	a := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/p/e", "a", h)
	admin := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	h.waitLeader(t, "a")
	// Delete the node and the latch path in one transaction, as a reaped
	// container looks: a must create both again and lead.
	if _, err := admin.Multi(ctx, &zk.DeleteRequest{Path: a.Node(), Version: -1}, &zk.DeleteRequest{Path: "/p/e", Version: -1}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "a to lead again", func([]string) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.counts["a"] == 2 && h.leaders["a"]
	})
	if ok, _, err := admin.Exists(ctx, a.Node()); !ok || err != nil {
		t.Fatalf("a's new node %s: %v %v", a.Node(), ok, err)
	}
	h.check(t)
}

func TestLatchArguments(t *testing.T) {
	if _, err := leader.New(nil, "relative", leader.WithListener(nil)); !errors.Is(err, leader.ErrInvalidOption) ||
		!strings.Contains(err.Error(), "nil client") || !strings.Contains(err.Error(), "latch path") ||
		!strings.Contains(err.Error(), "nil listener") {
		t.Fatalf("New with bad arguments = %v", err)
	}
	srv := zktest.Start(t)
	c := testkit.Connect(t, srv.Servers(), testkit.Namespace(t))
	if _, err := leader.New(c, "/"); !errors.Is(err, leader.ErrInvalidOption) {
		t.Fatalf("New at the root = %v", err)
	}
	l, err := leader.New(c, "/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(testkit.Ctx(t)); err != nil {
		t.Fatalf("Close before Start = %v", err)
	}
	l = startLatch(t, c, "/x", "", nil)
	if err := l.Start(testkit.Ctx(t)); !errors.Is(err, leader.ErrStarted) {
		t.Fatalf("second Start = %v", err)
	}
}

func TestLatchStartCancelledLeavesNothing(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	l, err := leader.New(c, "/e")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled ctx = %v", err)
	}
	waitParticipants(t, c, "/e", 0)
}

func TestLatchClientClosed(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	h := newHistory()
	l := startLatch(t, c, "/e", "a", h)
	h.waitLeader(t, "a")
	if err := c.Close(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "a to step down", func(l []string) bool { return len(l) == 0 })
	if err := l.Await(testkit.Ctx(t)); !errors.Is(err, zkrecipes.ErrClosed) {
		t.Fatalf("Await with a closed client = %v", err)
	}
	closeLatch(t, l)
	// New refuses a closed client at once (see TestNewAndRunOnClosedClient).
	if _, err := leader.New(c, "/e"); !errors.Is(err, zkrecipes.ErrClosed) {
		t.Fatalf("New on a closed client = %v", err)
	}
}

// waitParticipants waits, with a children watch, until the latch path has n
// participants.
func waitParticipants(t testing.TB, c *zkrecipes.Client, path string, n int) []leader.Participant {
	t.Helper()
	return waitParticipantsFunc(t, c, path, func(ps []leader.Participant) bool { return len(ps) == n })
}

func waitParticipantsFunc(t testing.TB, c *zkrecipes.Client, path string, cond func([]leader.Participant) bool) []leader.Participant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	for {
		// Arm the watch first, then read, so no change slips between.
		var ch <-chan zk.Event
		_, _, w, err := c.ExistsW(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		ch = w
		if ok, _, _ := c.Exists(ctx, path); ok {
			_, _, cw, err := c.ChildrenW(ctx, path)
			if err == nil {
				ch = cw
			}
		}
		ps, err := leader.ListParticipants(ctx, c, path)
		if err != nil {
			t.Fatal(err)
		}
		if cond(ps) {
			return ps
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for participants of %s; last %+v", path, ps)
		}
	}
}

// The Client's Leadership hook sees every gain and loss of leadership, with the term's
// token: a leader that closes loses leadership before its successor gains it.
func TestLatchLeadershipHook(t *testing.T) {
	srv := zktest.Start(t)
	events := make(chan zkrecipes.LeadershipEvent, 16)
	c := testkit.Connect(t, srv.Servers(), testkit.Namespace(t), zkrecipes.WithHooks(zkrecipes.Hooks{
		Leadership: func(ctx context.Context, ev zkrecipes.LeadershipEvent) {
			if ctx == nil || ev.Time.IsZero() {
				t.Errorf("leadership event %+v with context %v", ev, ctx)
			}
			events <- ev
		},
	}))
	ctx := testkit.Ctx(t)
	next := func() zkrecipes.LeadershipEvent {
		select {
		case ev := <-events:
			return ev
		case <-ctx.Done():
			t.Fatal("no leadership event")
			return zkrecipes.LeadershipEvent{}
		}
	}
	a, err := leader.New(c, "/latch", leader.WithID("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	gained := next()
	term, _ := a.Term()
	if !gained.Leader || gained.Path != "/latch" || gained.ID != "a" || gained.Token != term.Token || gained.Node != a.Node() {
		t.Fatalf("gain event %+v, term %+v, node %q", gained, term, a.Node())
	}
	b, err := leader.New(c, "/latch", leader.WithID("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if _, err := b.Participants(ctx); err != nil { // b's node is there
		t.Fatal(err)
	}
	aNode := a.Node()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if lost := next(); lost.Leader || lost.Path != "/latch" || lost.ID != "a" || lost.Node != aNode || lost.Token != 0 {
		t.Fatalf("loss event %+v", lost)
	}
	gained = next()
	term, _ = b.Term()
	if !gained.Leader || gained.ID != "b" || gained.Token != term.Token || gained.Node != b.Node() {
		t.Fatalf("successor's gain event %+v, term %+v, node %q", gained, term, b.Node())
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if lost := next(); lost.Leader || lost.ID != "b" {
		t.Fatalf("successor's loss event %+v", lost)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}
