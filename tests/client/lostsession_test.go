package client_test

import (
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A standalone server stopped for longer than the session timeout and started again with
// its data: the Client's own timer reports LOST, but the restarted server restores the
// session from its data (with a fresh timeout), so the Client, which keeps resuming its
// session, gets it back: RECONNECTED with NewSession false and the same session id. The
// session's ephemeral node is still there, still owned by it, and a watch set before the
// outage still fires. Curator would have forced a new session here (see StateLost).
func TestLostThenReconnectedSameSession(t *testing.T) {
	srv := zktest.StartDedicated(t, zktest.WithTickTime(200*time.Millisecond))
	node := srv.Node()
	if node == nil {
		t.Skip("this backend cannot restart a server")
	}
	base := zktest.BasePath(t)
	c := connect(t, srv.Servers(), zkrecipes.WithHostProvider(srv.HostProvider()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	rec := record(c)
	ctx := ctxT(t)
	if _, err := c.Create(ctx, base+"/eph", []byte("x"), zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, base+"/watched", nil, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	_, _, fired, err := c.GetW(ctx, base+"/watched")
	if err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()

	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	lost, j := rec.waitFor(t, i, zkrecipes.StateLost)
	if lost.SessionID != sid {
		t.Fatalf("LOST for session %#x, want %#x", lost.SessionID, sid)
	}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sc, _ := rec.waitFor(t, j, zkrecipes.StateReconnected)
	t.Logf("states: %v", rec.states())
	if sc.NewSession || sc.SessionID != sid || c.SessionID() != sid {
		t.Fatalf("RECONNECTED %+v (client session %#x), want the old session %#x back", sc, c.SessionID(), sid)
	}
	_, st, err := c.Get(ctx, base+"/eph")
	if err != nil {
		t.Fatalf("the session's ephemeral after LOST and RECONNECTED: %v", err)
	}
	if st.EphemeralOwner != sid {
		t.Fatalf("ephemeral owned by %#x, want %#x", st.EphemeralOwner, sid)
	}
	if _, err := c.Set(ctx, base+"/watched", []byte("changed"), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-fired:
		if ev.Path != base+"/watched" {
			t.Fatalf("watch fired %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("a watch set before LOST did not fire after RECONNECTED on the same session")
	}
}
