package discovery

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Strategy picks one instance among the candidates a Provider offers. Pick gets their ids
// (never empty) and returns an index into them. It must be safe for concurrent use.
type Strategy interface {
	Pick(ids []string) int
}

// RoundRobin returns Curator's default strategy: each call takes the next candidate,
// counting across calls.
func RoundRobin() Strategy { return &roundRobin{} }

type roundRobin struct{ n atomic.Uint64 }

// Pick takes the next index, modulo the number of candidates.
func (r *roundRobin) Pick(ids []string) int { return int((r.n.Add(1) - 1) % uint64(len(ids))) }

// Random returns a strategy that picks a candidate uniformly at random.
func Random() Strategy { return random{} }

type random struct{}

// Pick draws an index uniformly.
func (random) Pick(ids []string) int { return rand.IntN(len(ids)) }

// Sticky returns a strategy that keeps returning the same instance (by id) for as long as
// it is a candidate, and asks next for a new one when it is not.
func Sticky(next Strategy) Strategy { return &sticky{next: next} }

type sticky struct {
	next Strategy
	mu   sync.Mutex
	id   string
	has  bool
}

// Pick keeps the remembered id while it is a candidate.
func (s *sticky) Pick(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.has {
		if i := slices.Index(ids, s.id); i >= 0 {
			return i
		}
	}
	i := s.next.Pick(ids)
	if i < 0 || i >= len(ids) {
		return i
	}
	s.id, s.has = ids[i], true
	return i
}
