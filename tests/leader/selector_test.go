package leader_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// selectorRun runs leader.RunSelector on its own goroutine. Each term is reported on
// started; fn returns when relinquish receives or its context ends, and reports why on
// ended.
type selectorRun struct {
	started    chan leader.Term
	ended      chan error
	relinquish chan struct{}
	done       chan struct{} // closed once RunSelector returned err
	err        error
	cancel     context.CancelFunc
}

func runSelector(t *testing.T, c *zkrecipes.Client, path, id string, opts ...leader.Option) *selectorRun {
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	r := &selectorRun{started: make(chan leader.Term, 10), ended: make(chan error, 10),
		relinquish: make(chan struct{}, 10), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		r.err = leader.RunSelector(ctx, c, path, id, func(fctx context.Context, term leader.Term) error {
			r.started <- term
			select {
			case <-r.relinquish:
				r.ended <- nil
			case <-fctx.Done():
				r.ended <- context.Cause(fctx)
			}
			return nil
		}, opts...)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func awaitTerm(t *testing.T, ch <-chan leader.Term) leader.Term {
	t.Helper()
	select {
	case term := <-ch:
		return term
	case <-time.After(testkit.Patience):
		t.Fatal("timed out waiting for a term")
		return leader.Term{}
	}
}

// Go (RunSelector, on lock.Mutex) and Java (Curator 5.4's LeaderSelector with autoRequeue)
// in one group: the nodes are InterProcessMutex nodes holding the ids, both sides list the
// same participants, and leadership passes Go -> Java -> Go with increasing tokens.
func TestSelectorInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	const path = "/selector"
	c := testkit.Connect(t, srv.Servers(), ns)
	g := runSelector(t, testkit.Connect(t, srv.Servers(), ns), path, "g1")
	first := awaitTerm(t, g.started)
	_, nodeName := zkrecipes.SplitPath(first.Node)
	if !strings.HasPrefix(nodeName, "_c_") || nodeName[39:45] != "-lock-" || first.ID != "g1" {
		t.Fatalf("Go's node %s (id %q) is not a LeaderSelector node", first.Node, first.ID)
	}
	if data, _, err := c.Get(ctx, first.Node); err != nil || string(data) != "g1" {
		t.Fatalf("node data %q, %v", data, err)
	}
	if err := peer.SelectorStart(ctx, "j1", path, "j1"); err != nil {
		t.Fatal(err)
	}
	check := func(want ...string) {
		t.Helper()
		goView, err := leader.ListSelectorParticipants(ctx, c, path)
		if err != nil {
			t.Fatal(err)
		}
		javaView, err := peer.SelectorParticipants(ctx, "j1")
		if err != nil {
			t.Fatal(err)
		}
		if len(goView) != len(want) || len(javaView) != len(want) {
			t.Fatalf("participants: Go %+v, Java %+v, want %v", goView, javaView, want)
		}
		for i, id := range want {
			if goView[i].ID != id || javaView[i].ID != id || goView[i].IsLeader != (i == 0) || javaView[i].IsLeader != (i == 0) {
				t.Fatalf("participant %d: Go %+v, Java %+v, want %s", i, goView[i], javaView[i], id)
			}
		}
		gl, err := leader.CurrentSelectorLeader(ctx, c, path)
		if err != nil || gl.ID != want[0] {
			t.Fatalf("CurrentSelectorLeader = %+v, %v", gl, err)
		}
		jl, err := peer.SelectorLeader(ctx, "j1")
		if err != nil || jl.ID != want[0] || !jl.IsLeader {
			t.Fatalf("Java's getLeader = %+v, %v", jl, err)
		}
	}
	check("g1", "j1")

	// Go -> Java: fn returns, the node goes, Go requeues behind Java.
	g.relinquish <- struct{}{}
	if err := peer.WaitSelector(ctx, "j1", true); err != nil {
		t.Fatal(err)
	}
	waitSelectorParticipants(t, c, path, 2)
	check("j1", "g1")
	// Java -> Go.
	if err := peer.SelectorRelinquish(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	second := awaitTerm(t, g.started)
	if second.Token <= first.Token || second.Node == first.Node {
		t.Fatalf("second term %v after %v", second, first)
	}
	if _, err := second.Multi(ctx, &zk.CreateRequest{Path: "/fenced", Data: []byte("g1")}); err != nil {
		t.Fatalf("guarded write in a selector term: %v", err)
	}
	if _, err := first.Multi(ctx, &zk.CreateRequest{Path: "/late", Data: []byte("g1")}); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("first term's write = %v, want ErrNotLeader", err)
	}
	// Go leaves: Java leads once more.
	g.cancel()
	if <-g.done; !errors.Is(g.err, context.Canceled) {
		t.Fatalf("RunSelector = %v", g.err)
	}
	if err := peer.WaitSelector(ctx, "j1", true); err != nil {
		t.Fatal(err)
	}
	if err := peer.SelectorClose(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
}

// waitSelectorParticipants waits until the selector group has n participants.
func waitSelectorParticipants(t *testing.T, c *zkrecipes.Client, path string, n int) []leader.Participant {
	t.Helper()
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		_, _, ch, err := c.ChildrenW(testkit.Ctx(t), path)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := leader.ListSelectorParticipants(testkit.Ctx(t), c, path)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == n {
			return ps
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("participants %+v, want %d", ps, n)
		}
	}
}

// A short cut: the selector term's context is cancelled on SUSPENDED with a cause that
// wraps ErrLeadershipLost and lock.ErrLockLost, the node lives until fn returned, and the
// selector campaigns again with a new node once reconnected.
func TestSelectorCancelsOnSuspended(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	a := newFaultyMember(t, srv.Servers(), ns, "a", h, 4*time.Second)
	admin := testkit.Connect(t, srv.Servers(), ns)
	r := runSelector(t, a.c, "/s", "a")
	first := awaitTerm(t, r.started)
	mark := a.st.Mark()
	a.d.Cut()
	var cause error
	select {
	case cause = <-r.ended:
	case <-time.After(testkit.Patience):
		t.Fatal("the term did not end on SUSPENDED")
	}
	if !errors.Is(cause, leader.ErrLeadershipLost) || !errors.Is(cause, lock.ErrLockLost) || !strings.Contains(cause.Error(), "suspended") {
		t.Fatalf("cause %v", cause)
	}
	a.d.Heal()
	a.st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)
	second := awaitTerm(t, r.started)
	if second.Node == first.Node || second.Token <= first.Token {
		t.Fatalf("second term %v after %v", second, first)
	}
	if ok, _, err := admin.Exists(testkit.Ctx(t), first.Node); ok || err != nil {
		t.Fatalf("the first term's node is still there (%v)", err)
	}
}
