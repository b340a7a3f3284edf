package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The Client feeds its watch hub from go-zk's event callback: a subscriber hears the watch
// events under its prefix, with their server paths (the namespace included), without
// reading the watch channels; session events and other paths do not reach it; when the
// Client closes, go-zk's EventNotWatching for each watched path does.
func TestHubGetsWatchEvents(t *testing.T) {
	srv := zktest.Start(t)
	ns := strings.TrimPrefix(zktest.BasePath(t), "/")
	c := connect(t, srv.Servers(), zkrecipes.WithNamespace(ns))
	ctx := ctxT(t)
	hub := watchhub.Of(c)
	if hub == nil {
		t.Fatal("no hub for a Client")
	}
	if watchhub.Of("not a client") != nil {
		t.Fatal("a hub for something that is not a Client")
	}
	events := make(chan zk.Event, 16)
	stop := hub.Subscribe("/"+ns+"/w", func(ev zk.Event) { events <- ev })
	defer stop()
	for _, p := range []string{"/w/a", "/other"} {
		if _, err := c.Create(ctx, p, []byte("1"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := c.GetW(ctx, "/w/a"); err != nil { // the channel is never read
		t.Fatal(err)
	}
	if _, _, _, err := c.GetW(ctx, "/other"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.ChildrenW(ctx, "/w"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/other", []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/w/a", []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	next := func() zk.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(wait):
			t.Fatal("no event")
		}
		return zk.Event{}
	}
	if ev := next(); ev.Type != zk.EventNodeDataChanged || ev.Path != "/"+ns+"/w/a" {
		t.Fatalf("got %+v, want a data change of /%s/w/a", ev, ns)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The child watch on /w was still set: Close reports it as no longer watched.
	if ev := next(); ev.Type != zk.EventNotWatching || ev.Path != "/"+ns+"/w" {
		t.Fatalf("got %+v, want EventNotWatching for /%s/w", ev, ns)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// With a ctx marked by watchhub.Inline, an operation's attempt runs on the caller's
// goroutine and is not abandoned when ctx ends: while the network is black-holed, a plain
// call returns at its deadline and the inline one only once its reply comes, after the heal.
func TestInlineCallWaitsForItsAttempt(t *testing.T) {
	srv := zktest.Start(t)
	ns := strings.TrimPrefix(zktest.BasePath(t), "/")
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithNamespace(ns), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if _, err := c.Create(ctxT(t), "/n", []byte("1"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	fd.BlackHole()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	plain, inline := make(chan error, 1), make(chan error, 1)
	go func() { _, _, _, err := c.GetW(ctx, "/n"); plain <- err }()
	go func() { _, _, _, err := c.GetW(watchhub.Inline(ctx), "/n"); inline <- err }()
	if err := <-plain; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("plain call: %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-inline:
		t.Fatalf("the inline call returned while its attempt was in flight: %v", err)
	default:
	}
	fd.Heal()
	if err := <-inline; err != nil {
		t.Fatalf("inline call after the heal: %v", err)
	}
	if _, _, err := c.Get(watchhub.Inline(ctx), "/n"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("inline call with an ended ctx: %v, want DeadlineExceeded before sending", err)
	}
}
