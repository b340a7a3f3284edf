package watchcache_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/watchcache"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestMain(m *testing.M) { zktest.Main(m) }

const patience = 60 * time.Second

type fixture struct {
	t       *testing.T
	client  *zkrecipes.Client
	cache   *watchcache.Cache[string]
	mu      sync.Mutex
	state   map[string]string // what the changes say the children are
	notify  chan struct{}
	changes int
	bad     []error
}

func start(t *testing.T) *fixture {
	srv := zktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithNamespace(strings.TrimPrefix(zktest.BasePath(t), "/")),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	f := &fixture{t: t, client: c, state: map[string]string{}, notify: make(chan struct{}, 1)}
	f.cache = watchcache.New(c, watchcache.Config[string]{
		Path: "/dir",
		Decode: func(_ string, data []byte) (string, error) {
			if string(data) == "bad" {
				return "", zk.ErrBadArguments
			}
			return string(data), nil
		},
		OnError: func(err error) {
			f.mu.Lock()
			f.bad = append(f.bad, err)
			f.mu.Unlock()
		},
		OnChange: func(ch watchcache.Change[string]) {
			f.mu.Lock()
			for _, it := range ch.Removed {
				delete(f.state, it.Name)
			}
			for _, it := range append(ch.Added, ch.Updated...) {
				f.state[it.Name] = it.Value
			}
			if len(ch.All) != len(f.state) {
				t.Errorf("All has %d items, the changes add up to %d", len(ch.All), len(f.state))
			}
			f.changes++
			f.mu.Unlock()
			select {
			case f.notify <- struct{}{}:
			default:
			}
		},
	})
	if err := f.cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.cache.Close)
	return f
}

// await waits until the state the changes describe equals want.
func (f *fixture) await(what string, want map[string]string) {
	f.t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok := len(f.state) == len(want)
		for k, v := range want {
			ok = ok && f.state[k] == v
		}
		got := fmtState(f.state)
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.notify:
		case <-deadline.C:
			f.t.Fatalf("%s: cache has %s, want %s", what, got, fmtState(want))
		}
	}
}

func fmtState(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k + "=" + v + " ")
	}
	return b.String()
}

func (f *fixture) create(path, data string) {
	f.t.Helper()
	if _, err := f.client.Create(context.Background(), path, []byte(data), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		f.t.Fatal(err)
	}
}

func TestFollowsChildren(t *testing.T) {
	f := start(t)
	f.await("missing parent", map[string]string{})
	f.create("/dir/a", "1")
	f.create("/dir/b", "1")
	f.await("two children", map[string]string{"a": "1", "b": "1"})
	if _, err := f.client.Set(context.Background(), "/dir/a", []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	f.await("update", map[string]string{"a": "2", "b": "1"})
	// Deleted and created again in one transaction: the name never leaves the listing.
	_, err := f.client.Multi(context.Background(),
		&zk.DeleteRequest{Path: "/dir/b", Version: -1},
		&zk.CreateRequest{Path: "/dir/b", Data: []byte("3")})
	if err != nil {
		t.Fatal(err)
	}
	f.await("re-created child", map[string]string{"a": "2", "b": "3"})
	// The parent goes away (as a container is reaped) and comes back.
	for _, p := range []string{"/dir/a", "/dir/b", "/dir"} {
		if err := f.client.Delete(context.Background(), p, -1); err != nil {
			t.Fatal(err)
		}
	}
	f.await("parent deleted", map[string]string{})
	f.create("/dir/c", "1")
	f.await("parent re-created", map[string]string{"c": "1"})
}

func TestDecodeFailureSkipsChild(t *testing.T) {
	f := start(t)
	f.create("/dir/good", "ok")
	f.await("good child", map[string]string{"good": "ok"})
	f.create("/dir/broken", "bad")
	f.create("/dir/sentinel", "ok")
	f.await("bad child skipped", map[string]string{"good": "ok", "sentinel": "ok"})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) != 1 {
		t.Errorf("reported %v", f.bad)
	}
}
