package leader_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Killing the ZooKeeper server the leader is connected to: the leader's
// client moves to another member within its session, nobody else leads in
// the meantime, and the election settles with exactly one leader. Then the
// same with the ensemble's own leader, which forces a quorum election.
func TestLatchEnsembleServerKilled(t *testing.T) {
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	h := newHistory()
	connectE := func() *zkrecipes.Client {
		return testkit.Connect(t, e.Servers(), ns, zkrecipes.WithHostProvider(e.HostProvider()),
			zkrecipes.WithSessionTimeout(4*time.Second))
	}
	admin := connectE()
	const n = 3
	latches := map[string]*leader.Latch{}
	clients := map[string]*zkrecipes.Client{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%d", i)
		clients[name] = connectE()
		latches[name] = startLatch(t, clients[name], "/e", name, h)
	}
	leading := func(name string) bool { return latches[name].HasLeadership() }
	ctx := testkit.Ctx(t)

	leader := settle(t, h, admin, "/e", n, leading)
	server := clients[leader].Conn().Server()
	var victim *zktest.Node
	for _, node := range e.Nodes {
		if node.Addr() == server {
			victim = node
		}
	}
	if victim == nil {
		t.Fatalf("leader %s is connected to %s, which is no member of %v", leader, server, e.Servers())
	}
	t.Logf("leader %s is connected to member %d (%s); killing it", leader, victim.ID, server)
	st := testkit.WatchStates(t, clients[leader], nil)
	mark := st.Mark()
	if err := victim.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	st.WaitFor(t, mark, zkrecipes.StateSuspended, nil)
	st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)
	after := settle(t, h, admin, "/e", n, leading)
	t.Logf("settled: %s leads", after)
	h.check(t)

	if err := victim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	zkLeader, err := e.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing the ensemble's leader, member %d", zkLeader.ID)
	st = testkit.WatchStates(t, clients[after], nil)
	mark = st.Mark()
	if err := zkLeader.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	// Every member drops its clients while the quorum elects a new leader.
	st.WaitFor(t, mark, zkrecipes.StateSuspended, nil)
	st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)
	after = settle(t, h, admin, "/e", n, leading)
	t.Logf("settled: %s leads", after)
	h.check(t)
}
