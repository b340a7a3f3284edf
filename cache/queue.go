package cache

import (
	"sync"

	"github.com/zkrecipes/zkrecipes"
)

// queue holds the events not yet delivered, coalesced so that its size is bounded by the
// number of znodes, whatever the rate of changes and however slow the listeners:
//
//   - A znode has at most one pending entry per segment, a segment being the stretch
//     between two markers (connection states, Initialized, Resynced). A later change of the
//     znode in the same segment folds into that entry, which keeps the copy the listeners
//     last saw (the "old" of the first change) and the latest copy, and its place in the
//     queue. An entry whose two ends are both absent (created, then deleted before it was
//     delivered) is dropped. An entry becomes the events between its ends when it is
//     delivered (see slot.events).
//   - Connection states never fold into node entries. Of a run of consecutive pending
//     states, only the first and the last are kept; when a dropped RECONNECTED started a
//     new session (or lost the watches), the next RECONNECTED kept says NewSession (or
//     WatchesLost). A pending Resynced is moved
//     to the end when another one comes.
//   - Once more than maxMarkers markers are pending, changes fold into the znode's newest
//     entry whatever its segment, and a state into the newest pending state: the order
//     relative to the markers then bends, but the queue stops growing.
type queue[T any] struct {
	mu         sync.Mutex
	head, tail *slot[T]
	byPath     map[string]*slot[T] // the newest pending entry of each znode
	seg        uint64              // current segment: markers appended so far
	markers    int                 // markers pending
	resynced   *slot[T]            // the pending Resynced marker, if any
	lastState  *slot[T]            // the newest pending state, if any
	sticky     bool                // a dropped RECONNECTED had NewSession (see above)
	stickyLost bool                // a dropped RECONNECTED had WatchesLost (likewise)
	signal     chan struct{}
	len        int // entries pending, for tests
	highWater  int // the most entries pending at once (internal/cacheopt.QueueHighWater)
}

// maxMarkers bounds the markers pending before node changes fold across them.
const maxMarkers = 32

type slotKind uint8

const (
	slotNode slotKind = iota
	slotState
	slotMarker  // Initialized or Resynced
	slotBarrier // not an event: Sync calls to release once delivery reaches it
)

type slot[T any] struct {
	prev, next *slot[T]
	kind       slotKind
	seg        uint64
	path       string
	old, new   *Node[T] // what listeners had seen before, and the latest; nil: absent
	err        error    // a NodeError to report after the node's events
	state      zkrecipes.StateChange
	marker     EventType
	release    []chan struct{} // slotBarrier
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{byPath: map[string]*slot[T]{}, signal: make(chan struct{}, 1)}
}

func (q *queue[T]) link(s *slot[T]) {
	s.prev = q.tail
	if q.tail == nil {
		q.head = s
	} else {
		q.tail.next = s
	}
	q.tail = s
	q.len++
	q.highWater = max(q.highWater, q.len)
	if s.kind == slotState || s.kind == slotMarker {
		q.markers++
	}
}

func (q *queue[T]) unlink(s *slot[T]) {
	if s.prev == nil {
		q.head = s.next
	} else {
		s.prev.next = s.next
	}
	if s.next == nil {
		q.tail = s.prev
	} else {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	q.len--
	if s.kind == slotState || s.kind == slotMarker {
		q.markers--
	}
	if s.kind == slotNode && q.byPath[s.path] == s {
		delete(q.byPath, s.path)
	}
	if s == q.resynced {
		q.resynced = nil
	}
	if s == q.lastState {
		q.lastState = nil
	}
}

func (q *queue[T]) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// item is one thing the loop hands to the queue; a batch keeps the loop's order.
type item[T any] struct {
	kind     slotKind
	path     string
	old, new *Node[T]
	err      error
	state    zkrecipes.StateChange
	marker   EventType
}

// push appends a batch of items under one lock.
func (q *queue[T]) push(items []item[T]) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	for i := range items {
		it := &items[i]
		switch it.kind {
		case slotNode:
			if it.err != nil {
				q.nodeError(it.path, it.err, it.old)
			} else {
				q.change(it.path, it.old, it.new)
			}
		case slotState:
			q.state(it.state)
		case slotMarker:
			q.mark(it.marker)
		}
	}
	q.mu.Unlock()
	q.wake()
}

// foldable returns the entry a change of path folds into, nil for a new one.
func (q *queue[T]) foldable(path string) *slot[T] {
	s := q.byPath[path]
	if s != nil && (s.seg == q.seg || q.markers > maxMarkers) {
		return s
	}
	return nil
}

// change records that path went from old to new (nil: absent, or not visible).
func (q *queue[T]) change(path string, old, new *Node[T]) {
	if s := q.foldable(path); s != nil {
		s.new = new
		if new != nil {
			s.err = nil // the error was about a version that is gone
		}
		if s.old == nil && s.new == nil && s.err == nil {
			q.unlink(s)
		}
		return
	}
	if old == nil && new == nil {
		return
	}
	s := &slot[T]{kind: slotNode, seg: q.seg, path: path, old: old, new: new}
	q.link(s)
	q.byPath[path] = s
}

// nodeError records a NodeError for path, which listeners currently see as cur.
func (q *queue[T]) nodeError(path string, err error, cur *Node[T]) {
	if s := q.foldable(path); s != nil {
		s.err = err
		return
	}
	s := &slot[T]{kind: slotNode, seg: q.seg, path: path, old: cur, new: cur, err: err}
	q.link(s)
	q.byPath[path] = s
}

func (q *queue[T]) state(sc zkrecipes.StateChange) {
	t := q.tail
	run := t != nil && t.kind == slotState && t.prev != nil && t.prev.kind == slotState
	if !run && q.markers > maxMarkers && q.lastState != nil {
		t, run = q.lastState, true // too many pending: fold into the newest state
	}
	if run {
		// Keep the first and the last of a run of states.
		if t.state.State == zkrecipes.StateReconnected && t.state.NewSession {
			q.sticky = true
		}
		if t.state.State == zkrecipes.StateReconnected && t.state.WatchesLost {
			q.stickyLost = true
		}
		q.applySticky(&sc)
		t.state = sc
		return
	}
	q.applySticky(&sc)
	q.seg++
	s := &slot[T]{kind: slotState, seg: q.seg, state: sc}
	q.link(s)
	q.lastState = s
}

func (q *queue[T]) applySticky(sc *zkrecipes.StateChange) {
	if sc.State == zkrecipes.StateReconnected {
		if q.sticky {
			sc.NewSession = true
		}
		if q.stickyLost || sc.NewSession {
			sc.WatchesLost = true
		}
		q.sticky, q.stickyLost = false, false
	}
}

func (q *queue[T]) mark(m EventType) {
	if m == Resynced && q.resynced != nil {
		q.unlink(q.resynced)
	}
	q.seg++
	s := &slot[T]{kind: slotMarker, seg: q.seg, marker: m}
	q.link(s)
	if m == Resynced {
		q.resynced = s
	}
}

// barrier queues the release of Sync calls, after everything queued before.
func (q *queue[T]) barrier(release []chan struct{}) {
	q.mu.Lock()
	q.link(&slot[T]{kind: slotBarrier, seg: q.seg, release: release})
	q.mu.Unlock()
	q.wake()
}

// pop removes the first entry; nil when there is none.
func (q *queue[T]) pop() *slot[T] {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.head
	if s != nil {
		q.unlink(s)
	}
	return s
}

// events appends the events an entry stands for.
func (s *slot[T]) events(out []Event[T]) []Event[T] {
	switch s.kind {
	case slotState:
		return append(out, Event[T]{Type: ConnectionStateChanged, State: s.state})
	case slotMarker:
		return append(out, Event[T]{Type: s.marker})
	case slotBarrier:
		for _, ch := range s.release {
			close(ch)
		}
		return out
	}
	o, n := s.old, s.new
	switch {
	case o == nil && n == nil:
	case o == nil:
		out = append(out, Event[T]{Type: NodeCreated, Path: s.path, New: *n})
	case n == nil:
		out = append(out, Event[T]{Type: NodeDeleted, Path: s.path, Old: *o})
	case o.Stat.Czxid != n.Stat.Czxid:
		// Deleted and created again: two incarnations, as Curator's CuratorCache reports.
		out = append(out, Event[T]{Type: NodeDeleted, Path: s.path, Old: *o},
			Event[T]{Type: NodeCreated, Path: s.path, New: *n})
	case o.Stat.Mzxid != n.Stat.Mzxid || o.Stat.Version != n.Stat.Version:
		out = append(out, Event[T]{Type: NodeChanged, Path: s.path, Old: *o, New: *n})
	}
	if s.err != nil {
		out = append(out, Event[T]{Type: Error, Path: s.path, Err: s.err})
	}
	return out
}
