package nodes_test

import (
	"context"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The helpers live in tests/internal/testkit; these names keep the tests short.

const patience = testkit.Patience

func testCtx(t testing.TB) context.Context { return testkit.Ctx(t) }

func namespace(t testing.TB) string { return testkit.Namespace(t) }

func connect(t testing.TB, servers []string, ns string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	return testkit.Connect(t, servers, ns, opts...)
}

func closeAtEnd(t testing.TB, c testkit.Closer) { testkit.CloseAtEnd(t, c) }

func expireSession(t testing.TB, c *zkrecipes.Client, fd *zktest.FaultDialer, raw *zk.Conn, during func()) {
	t.Helper()
	testkit.ExpireSession(t, c, fd, raw, during)
}

func awaitNode(t testing.TB, conn *zk.Conn, p, what string, cond func(data []byte, st *zk.Stat, exists bool) bool) {
	t.Helper()
	testkit.AwaitNode(t, conn, p, what, cond)
}
