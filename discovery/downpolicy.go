package discovery

import (
	"sync"
	"time"
)

// Curator's DownInstancePolicy defaults.
const (
	DefaultDownErrors = 2
	DefaultDownWindow = 30 * time.Second
)

// downInstances is Curator's DownInstanceManager: an instance with errorThreshold errors
// noted within window of its first one is down until that window ends.
type downInstances struct {
	threshold int
	window    time.Duration
	now       func() time.Time

	mu     sync.Mutex
	status map[string]*downStatus // by instance id and registration time
}

type downStatus struct {
	start  time.Time
	errors int
}

func newDownInstances(threshold int, window time.Duration) *downInstances {
	return &downInstances{threshold: threshold, window: window, now: time.Now, status: map[string]*downStatus{}}
}

func (m *downInstances) purge(now time.Time) {
	for id, s := range m.status {
		if now.Sub(s.start) >= m.window {
			delete(m.status, id)
		}
	}
}

func (m *downInstances) add(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.purge(now)
	s := m.status[id]
	if s == nil {
		s = &downStatus{start: now}
		m.status[id] = s
	}
	s.errors++
}

// up reports whether the instance passes (is not down).
func (m *downInstances) up(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.purge(m.now())
	s := m.status[id]
	return s == nil || s.errors < m.threshold
}
