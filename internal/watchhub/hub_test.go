package watchhub

import (
	"slices"
	"sync"
	"testing"

	"github.com/go-zookeeper/zk"
)

func TestDispatchByPrefix(t *testing.T) {
	h := New()
	var mu sync.Mutex
	got := map[string][]string{}
	sub := func(name, prefix string) func() {
		return h.Subscribe(prefix, func(ev zk.Event) {
			mu.Lock()
			got[name] = append(got[name], ev.Path)
			mu.Unlock()
		})
	}
	sub("a", "/a")
	stopAB := sub("ab", "/a/b")
	sub("root", "/")
	sub("x", "/x")
	for _, p := range []string{"/a", "/a/b", "/a/b/c", "/ab", "/", "/x/y", ""} {
		h.Dispatch(zk.Event{Type: zk.EventNodeDataChanged, Path: p})
	}
	want := map[string][]string{
		"a":    {"/a", "/a/b", "/a/b/c"},
		"ab":   {"/a/b", "/a/b/c"},
		"root": {"/a", "/a/b", "/a/b/c", "/ab", "/", "/x/y"},
		"x":    {"/x/y"},
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s got %v, want %v", k, got[k], v)
		}
	}
	stopAB()
	stopAB() // idempotent
	got = map[string][]string{}
	h.Dispatch(zk.Event{Type: zk.EventNodeDeleted, Path: "/a/b"})
	if !slices.Equal(got["a"], []string{"/a/b"}) || got["ab"] != nil {
		t.Errorf("after unsubscribe: %v", got)
	}
}

func TestSameSubscriberTwice(t *testing.T) {
	h := New()
	n := 0
	fn := func(zk.Event) { n++ }
	stop1 := h.Subscribe("/a", fn)
	h.Subscribe("/a", fn)
	h.Dispatch(zk.Event{Path: "/a/x"})
	stop1()
	h.Dispatch(zk.Event{Path: "/a/x"})
	if n != 3 {
		t.Errorf("calls %d, want 3", n)
	}
}

func TestDispatchDoesNotAllocate(t *testing.T) {
	h := New()
	h.Subscribe("/a/b", func(zk.Event) {})
	ev := zk.Event{Type: zk.EventNodeDataChanged, Path: "/a/b/c/d"}
	if n := testing.AllocsPerRun(100, func() { h.Dispatch(ev) }); n != 0 {
		t.Errorf("Dispatch allocates %v times", n)
	}
}

func TestConcurrentSubscribe(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				stop := h.Subscribe("/a", func(zk.Event) {})
				h.Dispatch(zk.Event{Path: "/a/b"})
				stop()
			}
		}()
	}
	wg.Wait()
	if n := len(*h.subs.Load()); n != 0 {
		t.Errorf("%d prefixes left", n)
	}
}
