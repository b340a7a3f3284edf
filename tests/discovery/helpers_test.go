package discovery_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

const seedClass = "com.example.InstanceDetails"

// connect opens a Client of srv in ns (testkit.Connect) with a 4 s session; opts come
// after and win.
func connect(t testing.TB, srv *zktest.Server, ns string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	return testkit.Connect(t, srv.Servers(), ns, append([]zkrecipes.Option{zkrecipes.WithSessionTimeout(4 * time.Second)}, opts...)...)
}

// errs collects what an error handler receives.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, err)
}

func (e *errs) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.list...)
}

func newDiscovery(t testing.TB, c *zkrecipes.Client, opts ...discovery.Option) *discovery.Discovery[instanceDetails] {
	t.Helper()
	d, err := discovery.New[instanceDetails](c, "/services",
		append([]discovery.Option{discovery.WithSerializer(discovery.JSON[instanceDetails](discovery.WithJavaClass(seedClass)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close discovery: %v", err)
		}
	})
	return d
}

func mustInstance(t testing.TB, name string, leader bool, opts ...discovery.InstanceOption) discovery.Instance[instanceDetails] {
	t.Helper()
	in, err := discovery.NewInstance(name, instanceDetails{Leader: leader}, append([]discovery.InstanceOption{discovery.WithAddress("127.0.0.1"), discovery.WithPort(8080)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// recorder keeps a Cache's events for a test to wait on.
type recorder[T any] struct {
	*testkit.Log[discovery.CacheEvent[T]]
}

func record[T any](c *discovery.Cache[T]) *recorder[T] {
	r := &recorder[T]{testkit.NewLog[discovery.CacheEvent[T]]()}
	c.Listen(r.Add)
	return r
}

// waitFor waits until an event at index >= from satisfies match and returns its index.
func (r *recorder[T]) waitFor(t testing.TB, from int, what string, match func(discovery.CacheEvent[T]) bool) int {
	t.Helper()
	i, evs := r.Await(from, match)
	if i < 0 {
		t.Fatalf("no cache event %s after %v; events: %s", what, testkit.Patience, describe(evs[min(from, len(evs)):]))
	}
	return i
}

func describe[T any](evs []discovery.CacheEvent[T]) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Kind == discovery.ConnectionStateChanged {
			fmt.Fprintf(&b, "[state %v new=%v] ", ev.State.State, ev.State.NewSession)
			continue
		}
		fmt.Fprintf(&b, "[+%d ~%d -%d =%d] ", len(ev.Added), len(ev.Updated), len(ev.Removed), len(ev.Instances))
	}
	return b.String()
}

func startCache(t testing.TB, d *discovery.Discovery[instanceDetails], name string, opts ...discovery.Option) *discovery.Cache[instanceDetails] {
	t.Helper()
	c, err := d.Cache(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// children lists a znode's children through a raw connection (server paths).
func children(t testing.TB, conn *zk.Conn, path string) []string {
	t.Helper()
	kids, _, err := conn.Children(path)
	if err != nil && err != zk.ErrNoNode {
		t.Fatal(err)
	}
	return kids
}

// awaitChildren waits, with children watches, until the children of path (a server
// path) satisfy cond, and returns them.
func awaitChildren(t testing.TB, conn *zk.Conn, path, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		kids, _, ch, err := conn.ChildrenW(path)
		if err == zk.ErrNoNode {
			var ok bool
			ok, _, ch, err = conn.ExistsW(path)
			if err == nil && ok {
				continue
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if cond(kids) {
			return kids
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: not true after %v (children %v)", what, testkit.Patience, kids)
		}
	}
}

// stateLog records a Client's state changes from the moment it is made.
type stateLog struct {
	*testkit.Log[zkrecipes.StateChange]
}

func logStates(t testing.TB, c *zkrecipes.Client) *stateLog {
	l := &stateLog{testkit.NewLog[zkrecipes.StateChange]()}
	t.Cleanup(c.Listen(l.Add))
	return l
}

// waitFor waits for a state change at index >= from that matches and returns its index.
func (l *stateLog) waitFor(t testing.TB, from int, want zkrecipes.State) (int, zkrecipes.StateChange) {
	t.Helper()
	i, states := l.Await(from, func(sc zkrecipes.StateChange) bool { return sc.State == want })
	if i < 0 {
		t.Fatalf("client never reached %v; states %v", want, states)
	}
	return i, states[i]
}

// instanceDetails is the payload the tests register (com.example.InstanceDetails in Java).
type instanceDetails struct {
	Leader bool `json:"leader"`
}

// The golden instance's id and registration time (as in discovery/golden_test.go).
const (
	goldenID   = "3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b"
	goldenTime = 1700000000000
)

func intp(v int) *int { return &v }

// cacheReads counts the data reads the cache has made.
func cacheReads(c any) int64 { n, _, _ := probe.CacheCounters(c); return n }

// cacheWatches counts the cache's watch goroutines.
func cacheWatches(c any) int { _, n, _ := probe.CacheCounters(c); return n }

// cacheQueueHighWater is the high-water mark of the cache's listener queue.
func cacheQueueHighWater(c any) int { _, _, n := probe.CacheCounters(c); return n }
