package lock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
	"github.com/zkrecipes/zkrecipes/lock"
)

// Take a lock, do the work under its context, and make the write that must never come
// from a deposed holder through the lock's guard.
func ExampleMutex() {
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
	if _, err := client.Create(ctx, "/myapp/config", []byte("v1"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		fmt.Println(err)
		return
	}

	mu, err := lock.NewMutex(client, "/myapp/locks/config", lock.WithData([]byte("worker-1")))
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := mu.Acquire(ctx) // an InterProcessMutex in Java on the same path waits too
	if err != nil {
		fmt.Println(err)
		return
	}
	// The work runs under the lock's context: it ends the moment holding is in doubt.
	work := l.Context()

	// ZooKeeper applies this only while the lock's node exists, and at most once.
	_, err = l.Multi(work, &zk.SetDataRequest{Path: "/myapp/config", Data: []byte("v2"), Version: -1})
	fmt.Println("fenced write:", err)

	if err := l.Release(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after release:", context.Cause(work))
	_, err = l.Multi(ctx, &zk.SetDataRequest{Path: "/myapp/config", Data: []byte("v3"), Version: -1})
	fmt.Println("write after release refused:", errors.Is(err, lock.ErrNotHeld))
	data, _, _ := client.Get(ctx, "/myapp/config")
	fmt.Println("config:", string(data))
	// Output:
	// fenced write: <nil>
	// after release: lock: released
	// write after release refused: true
	// config: v2
}

// A second contender cannot take a held lock with TryAcquire, and a revocable holder is
// told when someone asks for the lock.
func ExampleRevoke() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(),
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	mu, err := lock.NewMutex(client, "/myapp/locks/report", lock.WithRevocable())
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := mu.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = mu.TryAcquire(ctx)
	fmt.Println("second try:", errors.Is(err, lock.ErrLocked))

	// Another process (here the same one) asks the holder to let go.
	if err := lock.Revoke(ctx, client, l.Node()); err != nil {
		fmt.Println(err)
		return
	}
	<-l.Context().Done()
	fmt.Println("holder told:", errors.Is(context.Cause(l.Context()), lock.ErrRevoked))
	fmt.Println("release:", l.Release(ctx))
	// Output:
	// second try: true
	// holder told: true
	// release: <nil>
}

// Bound the jobs that run at once across every process: each job takes a lease first.
func ExampleSemaphore() {
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

	// Two leases, as an InterProcessSemaphoreV2 with maxLeases 2 in Java would have.
	sem, err := lock.NewSemaphore(client, "/myapp/jobs", 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for job := 0; job < 5; job++ {
		wg.Go(func() {
			lease, err := sem.Acquire(ctx)
			if err != nil {
				fmt.Println(err)
				return
			}
			defer lease.Release(context.Background())
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			select { // the job, which stops early if the lease comes into doubt
			case <-time.After(50 * time.Millisecond):
			case <-lease.Context().Done():
			}
			mu.Lock()
			running--
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Println("jobs at once, at most:", most)
	// Output:
	// jobs at once, at most: 2
}

// Run a job only if a lease is free right now, and skip it otherwise instead of queueing.
func ExampleSemaphore_TryAcquire() {
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

	sem, err := lock.NewSemaphore(client, "/myapp/reports", 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	first, err := sem.TryAcquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("first report runs")

	// Another process (here the same one) finds no free lease and does not wait.
	_, err = sem.TryAcquire(ctx)
	fmt.Println("second report skipped:", errors.Is(err, lock.ErrLocked))
	leases, _ := sem.Leases(ctx)
	fmt.Println("leases out:", len(leases))

	if err := first.Release(ctx); err != nil {
		fmt.Println(err)
		return
	}
	again, err := sem.TryAcquire(ctx)
	fmt.Println("after release:", err)
	if err == nil {
		_ = again.Release(ctx)
	}
	// Output:
	// first report runs
	// second report skipped: true
	// leases out: 1
	// after release: <nil>
}

func TestMain(m *testing.M) { examplezk.Main(m) }
