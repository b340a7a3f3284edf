// Package testkit holds the helpers that several integration-test packages share: a
// bounded context, a namespace of the test's own, a Client closed at cleanup, a wait on a
// node by watch, a wait for a session's ephemeral children to go, a session expiry made
// by cutting a client off until the server has expired its session, logs of a client's
// state changes and of what a listener hears to wait on, counts of the watches a server
// holds and of the notifications a client receives, and a herd of such counting clients
// to check that a change wakes only the waiter it concerns.
package testkit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Patience bounds every wait: generous for a small shared machine, never an assertion
// about durations.
const Patience = 60 * time.Second

// Ctx returns a context that ends after three times Patience or when the test ends.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*Patience)
	t.Cleanup(cancel)
	return ctx
}

// Namespace returns a namespace no other test uses (the test's base path without its /).
func Namespace(t testing.TB) string { return strings.TrimPrefix(zktest.BasePath(t), "/") }

// Connect opens a Client in ns with a 2 s session and a short retry policy (opts come
// after and win), failing the test when it cannot; the Client is closed at cleanup.
func Connect(t testing.TB, servers []string, ns string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
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
		ctx, cancel := context.WithTimeout(context.Background(), Patience)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// Closer is anything with Close(ctx), closed when the test ends.
type Closer interface{ Close(context.Context) error }

// CloseAtEnd closes c at cleanup, failing the test when Close fails.
func CloseAtEnd(t testing.TB, c Closer) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Patience)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

// AwaitNode waits, by watch on the raw connection, until cond holds for the node at the
// server path p (exists false and a nil stat when it is absent).
func AwaitNode(t testing.TB, conn *zk.Conn, p, what string, cond func(data []byte, st *zk.Stat, exists bool) bool) {
	t.Helper()
	deadline := time.NewTimer(Patience)
	defer deadline.Stop()
	for {
		data, st, ch, err := conn.GetW(p)
		exists := err == nil
		if errors.Is(err, zk.ErrNoNode) {
			var ok bool
			ok, _, ch, err = conn.ExistsW(p)
			if err == nil && ok {
				continue
			}
			st = nil
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if cond(data, st, exists) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: not true after %v (exists %v, data %x)", what, Patience, exists, data)
		}
	}
}

// ExpireSession cuts c's connections (fd is its dialer) until the server has expired its
// session, which it shows by deleting an ephemeral probe node the session owns, runs
// during, and then heals the network; it returns once c reports the new session.
func ExpireSession(t testing.TB, c *zkrecipes.Client, fd *zktest.FaultDialer, raw *zk.Conn, during func()) {
	t.Helper()
	ctx := Ctx(t)
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
	case <-time.After(Patience):
		t.Fatal("the server did not expire the cut session")
	}
	if during != nil {
		during()
	}
	fd.Heal()
	select {
	case <-renewed:
	case <-time.After(Patience):
		t.Fatal("no new session after the heal")
	}
}

// WaitNoNodeOf waits, by child watch through observer, until no child of path is an
// ephemeral node of session (or path is gone), failing the test when ctx ends first.
func WaitNoNodeOf(t testing.TB, ctx context.Context, observer *zkrecipes.Client, path string, session int64) {
	t.Helper()
	for {
		kids, _, ch, err := observer.ChildrenW(ctx, path)
		if errors.Is(err, zk.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var mine []string
		for _, k := range kids {
			ok, st, err := observer.Exists(ctx, path+"/"+k)
			if err != nil {
				t.Fatal(err)
			}
			if ok && st.EphemeralOwner == session {
				mine = append(mine, k)
			}
		}
		if len(mine) == 0 {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("nodes of session %#x still under %s: %v", session, path, mine)
		}
	}
}
