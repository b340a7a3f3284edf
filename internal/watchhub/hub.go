// Package watchhub routes a Client's watch events by path, from the one place go-zk
// reports them all: its event callback, which runs on go-zk's receive goroutine for every
// event (watch events included, with their server path) before go-zk sends the event to
// the per-watch channels.
//
// A recipe that watches many nodes (the cache package) subscribes once, by path prefix,
// instead of reading one go-zk channel per watch: it needs no goroutine per watched node.
// It still sets its watches with go-zk's GetW / ChildrenW / ExistsW and simply never reads
// the returned channels (each has a buffer of one and receives exactly one event, so go-zk
// never blocks on them).
package watchhub

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
)

// Hub dispatches watch events to the subscribers whose prefix is the event's path or one
// of its ancestors. Dispatch never blocks and never allocates; Subscribe and the function
// it returns are safe for concurrent use with it and with each other.
type Hub struct {
	mu   sync.Mutex                           // serializes changes of subs
	subs atomic.Pointer[map[string][]*handle] // copy on write: Dispatch reads it lock-free
	// epoch counts the times every watch set so far was lost while the session lived on
	// (the Client replaced a wedged go-zk connection: StateChange.WatchesLost); lost is
	// closed (and replaced) each time.
	epoch  atomic.Uint64
	lostMu sync.Mutex
	lost   chan struct{}
}

// LoseWatches records that every watch set so far is gone although the session lives on:
// their channels never fire. The Client calls it before it reports the loss.
func (h *Hub) LoseWatches() {
	h.lostMu.Lock()
	defer h.lostMu.Unlock()
	h.epoch.Add(1)
	if h.lost != nil {
		close(h.lost)
	}
	h.lost = make(chan struct{})
}

// Lost returns a channel closed at the next LoseWatches (nil for a nil hub: it never
// closes). A recipe that waits on watch channels takes it before it sets them and waits on
// it too, to set them again once it closes.
func (h *Hub) Lost() <-chan struct{} {
	if h == nil {
		return nil
	}
	h.lostMu.Lock()
	defer h.lostMu.Unlock()
	if h.lost == nil {
		h.lost = make(chan struct{})
	}
	return h.lost
}

// Epoch returns how many times LoseWatches was called. A recipe that keeps watch channels
// across connection states reads it before it sets them and drops them once it moved.
func (h *Hub) Epoch() uint64 {
	if h == nil {
		return 0
	}
	return h.epoch.Load()
}

type handle struct{ fn func(zk.Event) }

// New returns a hub with no subscribers.
func New() *Hub {
	h := &Hub{}
	m := map[string][]*handle{}
	h.subs.Store(&m)
	return h
}

// Of returns the hub of a *zkrecipes.Client (nil for anything else). The root package
// sets it in an init function: it cannot be imported from here without an import cycle.
var Of func(client any) *Hub

// Subscribe calls fn for every watch event whose server path is prefix or lies under it
// (for prefix "/a": "/a" and "/a/b", not "/ab"), and for EventNotWatching events of such
// paths. fn runs on go-zk's receive goroutine, so it must only enqueue: it must not block
// and must not call the connection. The returned function unsubscribes; fn may still be
// running, or be called once more, while it returns.
func (h *Hub) Subscribe(prefix string, fn func(zk.Event)) (unsubscribe func()) {
	hd := &handle{fn: fn}
	h.update(func(m map[string][]*handle) {
		m[prefix] = append(m[prefix][:len(m[prefix]):len(m[prefix])], hd)
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			h.update(func(m map[string][]*handle) {
				list := m[prefix]
				out := make([]*handle, 0, len(list))
				for _, x := range list {
					if x != hd {
						out = append(out, x)
					}
				}
				if len(out) == 0 {
					delete(m, prefix)
				} else {
					m[prefix] = out
				}
			})
		})
	}
}

func (h *Hub) update(change func(map[string][]*handle)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.subs.Load()
	m := make(map[string][]*handle, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	change(m)
	h.subs.Store(&m)
}

// Dispatch hands ev to the subscribers of its path and of every ancestor of it. Events
// without a path (session events) are ignored. It costs one map look-up per path level,
// whatever the number of subscribers and watches.
func (h *Hub) Dispatch(ev zk.Event) {
	p := ev.Path
	if p == "" || p[0] != '/' {
		return
	}
	m := *h.subs.Load()
	if len(m) == 0 {
		return
	}
	for {
		for _, hd := range m[p] {
			hd.fn(ev)
		}
		if p == "/" {
			return
		}
		i := lastSlash(p)
		if i == 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

type inlineKey struct{}

// Inline marks ctx for the Client's operations to run each attempt on the calling
// goroutine: ctx still ends the waits before and between attempts, but not an attempt
// already handed to go-zk, which returns when go-zk answers or fails it (at once on a
// healthy connection, within about the session timeout when the connection has just gone
// silent, at once when the Client's watchdog replaces a wedged go-zk connection and closes
// the old one). A recipe whose own worker goroutines make the calls (the cache's readers)
// saves the goroutine the Client otherwise starts per call so that it can return on ctx at
// once.
func Inline(ctx context.Context) context.Context { return context.WithValue(ctx, inlineKey{}, true) }

// IsInline reports whether ctx was marked by Inline.
func IsInline(ctx context.Context) bool { return ctx.Value(inlineKey{}) != nil }
