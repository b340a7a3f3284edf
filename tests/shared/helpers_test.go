package shared_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
