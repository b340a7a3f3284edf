package watchcache

import (
	"sync"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

type eventKind int

const (
	evWatch eventKind = iota // a one-shot watch fired
	evState                  // the Client changed state
	evRetry                  // time to retry after a failed read
)

// event is one thing for the loop to handle.
type event struct {
	kind  eventKind
	id    uint64 // watch id (evWatch)
	name  string // child name, "" for the parent (evWatch)
	zev   zk.Event
	state zkrecipes.StateChange
}

// mailbox is an unbounded queue, so that the goroutines feeding it (watch forwarders,
// the Client's listener) never block on a busy loop.
type mailbox struct {
	mu     sync.Mutex
	queue  []event
	signal chan struct{}
}

func newMailbox() *mailbox { return &mailbox{signal: make(chan struct{}, 1)} }

func (m *mailbox) post(ev event) {
	m.mu.Lock()
	m.queue = append(m.queue, ev)
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() []event {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queue
	m.queue = nil
	return q
}
