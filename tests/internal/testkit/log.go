package testkit

import (
	"sync"
	"time"
)

// Log keeps what a listener hears (events, state changes), in the order heard, for a
// test to wait on.
type Log[E any] struct {
	mu     sync.Mutex
	items  []E
	notify chan struct{}
}

// NewLog returns an empty Log.
func NewLog[E any]() *Log[E] { return &Log[E]{notify: make(chan struct{}, 1)} }

// Add appends e and wakes a waiter; it is the listener to register.
func (l *Log[E]) Add(e E) {
	l.mu.Lock()
	l.items = append(l.items, e)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// All returns a copy of what the Log holds.
func (l *Log[E]) All() []E {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]E(nil), l.items...)
}

// Len is how many items the Log holds.
func (l *Log[E]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// Notify receives (at most one pending value) after each Add.
func (l *Log[E]) Notify() <-chan struct{} { return l.notify }

// Await waits up to Patience for an item at index from or later that satisfies match and
// returns its index and the items then; the index is -1 when none did by the deadline.
func (l *Log[E]) Await(from int, match func(E) bool) (int, []E) {
	deadline := time.NewTimer(Patience)
	defer deadline.Stop()
	for {
		items := l.All()
		for i := from; i < len(items); i++ {
			if match(items[i]) {
				return i, items
			}
		}
		select {
		case <-l.notify:
		case <-deadline.C:
			return -1, items
		}
	}
}
