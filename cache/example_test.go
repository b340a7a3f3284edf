package cache_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
)

// Depth 0 caches one znode, like Curator's NodeCache: here a configuration value, decoded
// into an int. Every change of its data version is an event with the old and the new copy.
func ExampleNew_node() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble, e.g. []string{"zk1:2181", "zk2:2181", "zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)
	if _, err := client.Create(ctx, "/config/max-connections", []byte("100"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		fmt.Println(err)
		return
	}

	atoi := func(_ string, data []byte) (int, error) { return strconv.Atoi(string(data)) }
	c, err := cache.New(client, "/config/max-connections", atoi, cache.WithDepth(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	changed := make(chan cache.Event[int], 1)
	c.Listen(func(ev cache.Event[int]) {
		if ev.Type == cache.NodeChanged {
			changed <- ev
		}
	})
	if err := c.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	n, _ := c.Get("/config/max-connections")
	fmt.Println("max connections:", n.Value)

	if _, err := client.Set(ctx, "/config/max-connections", []byte("250"), -1); err != nil {
		fmt.Println(err)
		return
	}
	ev := <-changed
	fmt.Printf("changed from %d (version %d) to %d (version %d)\n", ev.Old.Value, ev.Old.Stat.Version, ev.New.Value, ev.New.Stat.Version)
	// Output:
	// max connections: 100
	// changed from 100 (version 0) to 250 (version 1)
}

// Depth 1 caches a znode and its children, like Curator's PathChildrenCache: here the
// members of a group. The initial load is reported as NodeCreated events (children by
// name) and Initialized; later members come and go as events, and Children reads the
// current set.
func ExampleNew_children() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)
	for _, m := range []string{"worker-b", "worker-a"} {
		if _, err := client.Create(ctx, "/group/"+m, []byte(m+":8080"), zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
			fmt.Println(err)
			return
		}
	}

	c, err := cache.New(client, "/group", cache.String, cache.WithDepth(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	events := make(chan cache.Event[string], 16)
	c.Listen(func(ev cache.Event[string]) { events <- ev })
	if err := c.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	show := func(ev cache.Event[string]) {
		switch ev.Type {
		case cache.NodeCreated:
			fmt.Printf("created %s=%q\n", ev.Path, ev.New.Value)
		case cache.NodeDeleted:
			fmt.Printf("deleted %s=%q\n", ev.Path, ev.Old.Value)
		default:
			fmt.Println(ev.Type)
		}
	}
	for ev := range events {
		show(ev)
		if ev.Type == cache.Initialized {
			break
		}
	}

	if _, err := client.Create(ctx, "/group/worker-c", []byte("worker-c:8080"), zkrecipes.ModeEphemeral); err != nil {
		fmt.Println(err)
		return
	}
	show(<-events)
	if err := client.Delete(ctx, "/group/worker-a", -1); err != nil {
		fmt.Println(err)
		return
	}
	show(<-events)
	for _, m := range c.Children("/group") {
		fmt.Println("member", m.Name(), m.Value)
	}
	// Output:
	// created /group=""
	// created /group/worker-a="worker-a:8080"
	// created /group/worker-b="worker-b:8080"
	// Initialized
	// created /group/worker-c="worker-c:8080"
	// deleted /group/worker-a="worker-a:8080"
	// member worker-b worker-b:8080
	// member worker-c worker-c:8080
}

// Unlimited depth (the default) caches a whole subtree, like Curator's TreeCache and
// CuratorCache. A Snapshot is an immutable view taken in constant time, whatever the size
// of the tree; Sync waits until the cache holds every change made before it.
func ExampleNew_tree() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)
	for _, p := range []string{"/app/db/primary", "/app/db/replica", "/app/cache"} {
		if _, err := client.Create(ctx, p, []byte("on"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
			fmt.Println(err)
			return
		}
	}

	c, err := cache.New(client, "/app", cache.String) // cache.Unlimited by default
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	before := c.Snapshot()

	if _, err := client.Set(ctx, "/app/db/replica", []byte("off"), -1); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Sync(ctx); err != nil { // read your own write through the cache
		fmt.Println(err)
		return
	}
	for n := range c.Snapshot().All() {
		fmt.Printf("%s %q\n", n.Path, n.Data)
	}
	old, _ := before.Get("/app/db/replica")
	fmt.Printf("before: %d znodes, replica %q\n", before.Len(), old.Data)
	// Output:
	// /app ""
	// /app/cache "on"
	// /app/db ""
	// /app/db/primary "on"
	// /app/db/replica "off"
	// before: 5 znodes, replica "on"
}

func TestMain(m *testing.M) { examplezk.Main(m) }
