package leader_test

import (
	"errors"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestTermGuardsWrites(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	ca := testkit.Connect(t, srv.Servers(), ns)
	cb := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	if _, err := ca.Create(ctx, "/data", []byte("0"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	a := startLatch(t, ca, "/e", "a", h)
	b := startLatch(t, cb, "/e", "b", h)
	h.waitLeader(t, "a")
	ta, ok := a.Term()
	if !ok || ta.IsZero() || ta.Guard() == nil || ta.Guard().Path != a.Node() {
		t.Fatalf("a's term %v %v", ta, ok)
	}
	resp, err := ta.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("a"), Version: -1})
	if err != nil || len(resp) != 1 || resp[0].Stat == nil {
		t.Fatalf("leader's guarded write: %+v, %v", resp, err)
	}

	closeLatch(t, a)
	h.waitLeader(t, "b")
	tb, _ := b.Term()
	if tb.Token <= ta.Token {
		t.Fatalf("tokens do not increase: %v then %v", ta, tb)
	}
	_, err = ta.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("late"), Version: -1})
	if !errors.Is(err, leader.ErrNotLeader) || !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("deposed leader's write = %v, want ErrNotLeader and zk.ErrNoNode", err)
	}
	if _, err := tb.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("b"), Version: -1}); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	// A failure of the caller's own op is not mistaken for lost leadership.
	_, err = tb.Multi(ctx, &zk.SetDataRequest{Path: "/missing", Data: []byte("b"), Version: -1})
	if errors.Is(err, leader.ErrNotLeader) || !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("write to a missing node = %v", err)
	}
	data, _, err := ca.Get(ctx, "/data")
	if err != nil || string(data) != "b" {
		t.Fatalf("/data = %q, %v", data, err)
	}
	if _, err := (leader.Term{}).Multi(ctx); !errors.Is(err, leader.ErrNotLeader) {
		t.Fatalf("zero term Multi = %v", err)
	}
	if (leader.Term{}).Guard() != nil || !(leader.Term{}).IsZero() || (leader.Term{}).String() != "term(none)" {
		t.Fatal("zero Term misbehaves")
	}
	h.check(t)
}
