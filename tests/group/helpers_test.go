package group_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// patience bounds every wait: generous for a small shared machine, never an assertion
// about durations.
const patience = 60 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	t.Cleanup(cancel)
	return ctx
}

func namespace(t testing.TB) string { return strings.TrimPrefix(zktest.BasePath(t), "/") }

func connect(t testing.TB, servers []string, ns string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	all := append([]zkrecipes.Option{
		zkrecipes.WithSessionTimeout(2 * time.Second),
		zkrecipes.WithNamespace(ns),
		zkrecipes.WithRetryPolicy(retry.ExponentialBackoffMax(50*time.Millisecond, 5, 500*time.Millisecond)),
	}, opts...)
	c, err := zkrecipes.Connect(ctx, servers, all...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// closer is anything with Close(ctx), closed when the test ends.
type closer interface{ Close(context.Context) error }

func closeAtEnd(t testing.TB, c closer) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

// expireSession cuts c's connections (fd is its dialer) until the server has expired its
// session, which it shows by deleting an ephemeral probe node the session owns, runs
// during, and then heals the network; it returns once c reports the new session.
func expireSession(t testing.TB, c *zkrecipes.Client, fd *zktest.FaultDialer, raw *zk.Conn, during func()) {
	t.Helper()
	ctx := testCtx(t)
	probe, err := c.Create(ctx, "/probe-", nil, zkrecipes.ModeEphemeralSequential, zkrecipes.WithParents())
	if err != nil {
		t.Fatal(err)
	}
	full := c.Namespace() + probe
	ok, _, gone, err := raw.ExistsW(full)
	if err != nil || !ok {
		t.Fatalf("probe %s: %v %v", full, ok, err)
	}
	renewed := make(chan struct{})
	var once sync.Once
	stop := c.Listen(func(sc zkrecipes.StateChange) {
		if sc.State == zkrecipes.StateReconnected && sc.NewSession {
			once.Do(func() { close(renewed) })
		}
	})
	defer stop()
	fd.Cut()
	select {
	case <-gone:
	case <-time.After(patience):
		t.Fatal("the server did not expire the cut session")
	}
	if during != nil {
		during()
	}
	fd.Heal()
	select {
	case <-renewed:
	case <-time.After(patience):
		t.Fatal("no new session after the heal")
	}
}
