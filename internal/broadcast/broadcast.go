// Package broadcast is a signal that can fire many times and wake every waiter each time.
package broadcast

import "sync"

// Signal is a broadcast: wait on the channel from C, which the next Fire closes. The zero
// value is not usable; make one with New. It is safe for concurrent use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// New returns a Signal that has not fired.
func New() *Signal { return &Signal{ch: make(chan struct{})} }

// C returns the channel that the next Fire closes.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Fire closes the channel C returned so far and starts a new one.
func (s *Signal) Fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
