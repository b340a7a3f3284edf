package shared_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
	"github.com/zkrecipes/zkrecipes/shared"
)

// Share a counter with other processes (Go or Java's SharedCount): read it, increment it
// with a version-checked TrySet loop, and hear about changes.
func ExampleCount() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble, e.g. []string{"zk1:2181", "zk2:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	count, err := shared.NewCount(client, "/myapp/checkpoints", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := count.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer count.Close(ctx)

	for {
		cur, err := count.Get()
		if err != nil {
			fmt.Println(err) // e.g. shared.ErrMalformed: the node is not a count
			return
		}
		ok, err := count.TrySet(ctx, cur, cur.Value+1)
		if errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			fmt.Println("the increment may or may not have been applied")
			return
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if ok {
			break // otherwise another process came first: Get has the newer value now
		}
	}
	v, _ := count.Get()
	fmt.Println("count:", v.Value, "version:", v.Version)
	// Output:
	// count: 1 version: 1
}

// Add to a counter shared with Java's DistributedAtomicLong; each result says whether it
// applied and what it replaced.
func ExampleAtomicLong() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(),
		zkrecipes.WithNamespace(examplezk.Namespace()))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	hits, err := shared.NewAtomicLong(client, "/myapp/hits")
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := hits.Add(ctx, 5) // creates the node on first use
	if err != nil {
		fmt.Println(err) // with zkrecipes.ErrOutcomeUnknown, it may have been applied
		return
	}
	fmt.Println(v.Succeeded, v.PreValue, "->", v.PostValue)
	v, _ = hits.CompareAndSet(ctx, 4, 100)
	fmt.Println("compare 4:", v.Succeeded)
	v, _ = hits.CompareAndSet(ctx, 5, 100)
	fmt.Println("compare 5:", v.Succeeded, v.PostValue)
	// Output:
	// true 0 -> 5
	// compare 4: false
	// compare 5: true 100
}

// Keep a local copy of a shared configuration blob and listen for changes.
func ExampleValue() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(),
		zkrecipes.WithNamespace(examplezk.Namespace()))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	cfg, err := shared.NewValue(client, "/myapp/config", []byte("mode=a"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := cfg.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer cfg.Close(ctx)
	changes := make(chan string, 4)
	stop := cfg.Listen(func(v shared.Versioned[[]byte]) { changes <- string(v.Value) })
	defer stop()

	fmt.Println("now:", string(cfg.Get().Value))
	if err := cfg.Set(ctx, []byte("mode=b")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("changed to:", <-changes)
	// Output:
	// now: mode=a
	// changed to: mode=b
}

func TestMain(m *testing.M) { examplezk.Main(m) }
