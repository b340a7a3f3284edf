package zktest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// writeEventually creates path, retrying connection-class errors until it succeeds: the
// ensemble is expected to keep (or resume) serving writes.
func writeEventually(ctx context.Context, t *testing.T, conn *zk.Conn, path string) {
	t.Helper()
	for {
		_, err := conn.Create(path, nil, 0, zk.WorldACL(zk.PermAll))
		if err == nil || err == zk.ErrNodeExists {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("create %s: %v (gave up: %v)", path, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitMode waits until n answers `srvr` with mode want.
func waitMode(ctx context.Context, t *testing.T, n *zktest.Node, want zktest.Mode) {
	t.Helper()
	for {
		m, err := n.Mode(ctx)
		if err == nil && m == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: mode %q (%v), want %q", n.Name, m, err, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSyncedFollowers waits until leader's `mntr` counts want synced followers.
func waitSyncedFollowers(ctx context.Context, t *testing.T, leader *zktest.Node, want int) {
	t.Helper()
	line := fmt.Sprintf("zk_synced_followers\t%d\n", want)
	for {
		out, err := zktest.FourLetter(ctx, leader.Addr(), "mntr")
		if err == nil && strings.Contains(out, line) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never counted %d synced followers: %v\n%s", leader.Name, want, err, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// One ensemble carries all the fault scenarios, in sequence: each ensemble costs three JVMs.
func TestEnsemble(t *testing.T) {
	t.Parallel()
	ens := zktest.StartEnsemble(t, 3)
	events := make(sessionEvents, 100)
	conn, _ := zktest.Connect(t, ens.Servers(), 4*time.Second,
		zk.WithHostProvider(ens.HostProvider()), zk.WithEventCallback(events.callback))
	session := conn.SessionID()
	base := zktest.BasePath(t)
	createAll(t, conn, base, nil)
	seq := 0
	write := func(ctx context.Context, t *testing.T) {
		t.Helper()
		seq++
		writeEventually(ctx, t, conn, fmt.Sprintf("%s/n%d", base, seq))
	}

	var killed *zktest.Node
	t.Run("leader killed", func(t *testing.T) {
		ctx := ctxFor(t)
		old, err := ens.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := old.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		killed = old
		write(ctx, t)
		leader, err := ens.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if leader == old {
			t.Fatalf("%s still leads after it was killed", old.Name)
		}
		t.Logf("leader %s killed, %s leads", old.Name, leader.Name)
	})

	t.Run("killed node restarts", func(t *testing.T) {
		if killed == nil {
			t.Skip("no node was killed")
		}
		ctx := ctxFor(t)
		before := killed.Addr()
		if err := killed.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := killed.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s back at %s (was %s)", killed.Name, killed.Addr(), before)
		write(ctx, t)
	})

	t.Run("paused follower comes back", func(t *testing.T) {
		ctx := ctxFor(t)
		leader, err := ens.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Pause a follower the client is not using: go-zk waits 10 x its read timeout for a
		// handshake with a frozen server, which is go-zk's business, not this test's.
		var paused *zktest.Node
		for _, n := range ens.Nodes {
			if n != leader && n.Addr() != conn.Server() {
				paused = n
			}
		}
		if paused == nil {
			t.Fatalf("no follower apart from the client's %s", conn.Server())
		}
		if err := paused.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		// The leader drops the silent follower after syncLimit and keeps serving.
		waitSyncedFollowers(ctx, t, leader, 1)
		write(ctx, t)
		if err := paused.Unpause(ctx); err != nil {
			t.Fatal(err)
		}
		waitSyncedFollowers(ctx, t, leader, 2)
		waitMode(ctx, t, paused, zktest.ModeFollower)
		write(ctx, t)
	})

	t.Run("partitioned leader is replaced and rejoins", func(t *testing.T) {
		ctx := ctxFor(t)
		old, err := ens.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := old.Partition(ctx); err != nil {
			t.Fatal(err)
		}
		leader, err := ens.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if leader == old {
			t.Fatalf("partitioned %s still reported as leader", old.Name)
		}
		t.Logf("%v: %s partitioned, %s leads", time.Since(start), old.Name, leader.Name)
		write(ctx, t)
		// Cut off from the majority, the old leader stops serving.
		waitMode(ctx, t, old, zktest.ModeNone)
		t.Logf("%v: %s stopped serving", time.Since(start), old.Name)
		if err := old.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		waitMode(ctx, t, old, zktest.ModeFollower)
		t.Logf("%v: %s healed, back as a follower", time.Since(start), old.Name)
		write(ctx, t)
	})

	// A session may legitimately expire while no member serves (an election can outlast a
	// 4 s session on a loaded machine); the writes above are the test.
	t.Logf("session %#x at the start, %#x at the end", session, conn.SessionID())
	children, _, err := conn.Children(base)
	if err != nil || len(children) != seq {
		t.Fatalf("children of %s: %d (%v), want %d", base, len(children), err, seq)
	}
}
