package leader_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Go and Java (Curator 5.4's LeaderLatch) in one election: one leader across
// both, order by join sequence, handover Go -> Java and Java -> Go when the
// leader closes, and each side lists the other's participants with their ids
// (including Go's default empty id, which Java must read as "").
func TestLatchInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	const path = "/election"
	h := newHistory()
	c := testkit.Connect(t, srv.Servers(), ns)

	// Join order: g0 (Go), j0 (Java), g1 (Go, id ""), j1 (Java).
	g0 := startLatch(t, testkit.Connect(t, srv.Servers(), ns), path, "g0", h)
	j0Node, err := peer.LatchStart(ctx, "j0", path, "j0")
	if err != nil {
		t.Fatal(err)
	}
	g1 := startLatch(t, c, path, "", h)
	if _, err := peer.LatchStart(ctx, "j1", path, "j1"); err != nil {
		t.Fatal(err)
	}
	_, j0Name := zkrecipes.SplitPath(j0Node)
	if !strings.HasPrefix(j0Name, "_c_") || j0Name[39:46] != "-latch-" {
		t.Fatalf("Java's node %q does not look like ours", j0Name)
	}

	type who struct {
		id     string
		java   bool
		latch  *leader.Latch // Go
		handle string        // Java
	}
	all := []who{{"g0", false, g0, ""}, {"j0", true, nil, "j0"}, {"", false, g1, ""}, {"j1", true, nil, "j1"}}
	live := func(skip int) []who { return all[skip:] }

	// checkOne checks that exactly want leads among the live participants,
	// asking each side, and that both sides list them in join order.
	checkOne := func(members []who, want string) {
		t.Helper()
		var leaders []string
		for _, m := range members {
			var has bool
			if m.java {
				if has, err = peer.LatchHas(ctx, m.handle); err != nil {
					t.Fatal(err)
				}
			} else {
				has = m.latch.HasLeadership()
			}
			if has {
				leaders = append(leaders, fmt.Sprintf("%q", m.id))
			}
		}
		if len(leaders) != 1 || leaders[0] != fmt.Sprintf("%q", want) {
			t.Fatalf("leaders %v, want only %q", leaders, want)
		}
		goView, err := leader.ListParticipants(ctx, c, path)
		if err != nil {
			t.Fatal(err)
		}
		var javaHandle string
		for _, m := range members {
			if m.java {
				javaHandle = m.handle
			}
		}
		if javaHandle == "" {
			return
		}
		javaView, err := peer.LatchParticipants(ctx, javaHandle)
		if err != nil {
			t.Fatalf("Java's getParticipants: %v", err)
		}
		if len(goView) != len(members) || len(javaView) != len(members) {
			t.Fatalf("participants: Go %+v, Java %+v, want %d", goView, javaView, len(members))
		}
		for i, m := range members {
			if goView[i].ID != m.id || javaView[i].ID != m.id ||
				goView[i].IsLeader != (i == 0) || javaView[i].IsLeader != (i == 0) {
				t.Fatalf("participant %d: Go %+v, Java %+v, want id %q", i, goView[i], javaView[i], m.id)
			}
		}
		jl, err := peer.LatchLeader(ctx, javaHandle)
		if err != nil || jl.ID != want || !jl.IsLeader {
			t.Fatalf("Java's getLeader = %+v, %v", jl, err)
		}
	}

	h.waitLeader(t, "g0")
	checkOne(live(0), "g0")

	// Go -> Java.
	closeLatch(t, g0)
	if err := peer.WaitLeadership(ctx, "j0", true); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "no Go leader", func(l []string) bool { return len(l) == 0 })
	checkOne(live(1), "j0")

	// Java -> Go.
	if err := peer.LatchClose(ctx, "j0"); err != nil {
		t.Fatal(err)
	}
	h.waitLeader(t, "")
	checkOne(live(2), "")

	// Go -> Java once more, with the leader's NotLeader before Java leads.
	closeLatch(t, g1)
	if err := peer.WaitLeadership(ctx, "j1", true); err != nil {
		t.Fatal(err)
	}
	checkOne(live(3), "j1")
	if err := peer.LatchClose(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	h.check(t)
}
