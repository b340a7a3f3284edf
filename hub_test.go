package zkrecipes_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchhub"
	"github.com/zkrecipes/zkrecipes/internal/zktest"
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
