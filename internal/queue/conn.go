package queue

import (
	"sync"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/broadcast"
)

// connWatch is one Client's connection-state broadcast, shared by every acquisition and
// hold on that Client: one state listener (one goroutine) per Client while any of them
// is live, instead of one per held lock.
type connWatch struct {
	sig  *broadcast.Signal
	refs int
	stop func()
}

var (
	connMu  sync.Mutex
	watches = map[*zkrecipes.Client]*connWatch{}
)

// stateSignal returns a function giving the channel that the Client's next connection
// state change closes, and a release function to call once (after which the channels
// may never close). Take the channel before reading the state it guards, so that no
// change falls in between.
func stateSignal(c *zkrecipes.Client) (next func() <-chan struct{}, release func()) {
	connMu.Lock()
	w := watches[c]
	if w == nil {
		w = &connWatch{sig: broadcast.New()}
		watches[c] = w
		sig := w.sig
		w.stop = c.Listen(func(zkrecipes.StateChange) { sig.Fire() })
	}
	w.refs++
	connMu.Unlock()
	var once sync.Once
	return w.sig.C, func() {
		once.Do(func() {
			connMu.Lock()
			defer connMu.Unlock()
			w.refs--
			if w.refs == 0 {
				w.stop()
				delete(watches, c)
			}
		})
	}
}
