package shared_test

import (
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/shared"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A SharedCount incremented at once by Java (Curator 5.4's trySetCount loop) and Go
// (Count.TrySet loops) contenders loses no increment, and each side reads the other's
// layout.
func TestInteropCountNoLostIncrement(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	if err := java.CountStart(ctx, "c", "/hot", 0); err != nil {
		t.Fatal(err)
	}
	const goWorkers, goEach, javaEach = 3, 30, 60
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := java.CountIncrement(ctx, "c", javaEach); err != nil {
			t.Error(err)
		}
	}()
	for w := 0; w < goWorkers; w++ {
		c := startCount(t, testkit.Connect(t, srv.Servers(), ns), "/hot", 99) // the seed never overwrites
		wg.Add(1)
		go func() {
			defer wg.Done()
			increment(t, ctx, c, goEach)
		}()
	}
	wg.Wait()
	want := int32(goWorkers*goEach + javaEach)
	c := startCount(t, testkit.Connect(t, srv.Servers(), ns), "/hot", 0)
	if v, err := c.Get(); err != nil || v.Value != want {
		t.Fatalf("Go reads %+v, %v; want %d", v, err, want)
	}
	if err := java.WaitCount(ctx, "c", want); err != nil {
		t.Fatalf("Java's SharedCount never heard %d: %v", want, err)
	}
	if v, err := java.CountGet(ctx, "c"); err != nil || v.Value != want {
		t.Fatalf("Java reads %+v, %v; want %d", v, err, want)
	}
}

// A DistributedAtomicLong incremented by Java and Go at once ends at the exact sum.
func TestInteropAtomicLongExactSum(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	const goWorkers, goEach, javaEach = 2, 40, 80
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ok, err := java.AtomicIncrement(ctx, "/sum", javaEach)
		if err != nil || ok != javaEach {
			t.Errorf("Java increments: %d succeeded, %v", ok, err)
		}
	}()
	for w := 0; w < goWorkers; w++ {
		al, err := shared.NewAtomicLong(testkit.Connect(t, srv.Servers(), ns), "/sum",
			shared.WithRetryPolicy(retry.Forever(time.Millisecond)))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < goEach; i++ {
				if v, err := al.Increment(ctx); err != nil || !v.Succeeded {
					t.Errorf("Go Increment = %+v, %v", v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := int64(goWorkers*goEach + javaEach)
	if got, err := java.AtomicGet(ctx, "/sum"); err != nil || got != want {
		t.Errorf("Java reads %d, %v; want %d", got, err, want)
	}
	al, _ := shared.NewAtomicLong(testkit.Connect(t, srv.Servers(), ns), "/sum")
	if v, err := al.Get(ctx); err != nil || v.PostValue != want {
		t.Errorf("Go reads %+v, %v; want %d", v, err, want)
	}
}
