package main

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// tracker keeps what the status page shows beyond the pool's own view: requests per
// instance and the gateway's last failover. Its methods are safe for concurrent use.
type tracker struct {
	mu       sync.Mutex
	counts   map[string]*requestCounts
	leader   string    // the write target at the last observation
	lostAt   time.Time // when the gateway first saw the current leader fail or vanish; zero while all is well
	last     *failover
	stop     chan struct{}
	done     chan struct{}
	held     func() int
	observed chan struct{} // tests: signalled after every observation
}

type requestCounts struct {
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
	Errors int64 `json:"errors"`
}

// failover is one change of the write target, as the gateway saw it.
type failover struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
	// Duration runs from the moment the gateway first saw the old leader fail (a refused
	// write) or lose its leadership, to the moment it saw the new one.
	Duration time.Duration `json:"-"`
	Millis   int64         `json:"durationMs"`
}

// newTracker follows pool: at each change it notes whether the leader moved. held reports
// the writes waiting for a leader right now. Close stops it.
func newTracker(pool Pool, held func() int) *tracker {
	t := &tracker{counts: map[string]*requestCounts{}, stop: make(chan struct{}), done: make(chan struct{}), held: held}
	changed := pool.Changed()
	t.observe(pool.Status().Leader, time.Now())
	go func() {
		defer close(t.done)
		for {
			select {
			case <-t.stop:
				return
			case <-changed:
			}
			changed = pool.Changed()
			t.observe(pool.Status().Leader, time.Now())
		}
	}()
	return t
}

// Close stops following the pool and waits for the goroutine to end.
func (t *tracker) Close() {
	close(t.stop)
	<-t.done
}

func (t *tracker) observe(leader string, now time.Time) {
	t.mu.Lock()
	switch {
	case leader == t.leader:
	case leader == "":
		// The leader is gone (expired, unregistered): the failover starts now, unless a
		// refused write showed it earlier.
		if t.lostAt.IsZero() {
			t.lostAt = now
		}
	default:
		if t.leader != "" || !t.lostAt.IsZero() {
			start := t.lostAt
			if start.IsZero() {
				start = now // a hand-over the gateway saw in one step
			}
			d := now.Sub(start)
			t.last = &failover{From: t.leader, To: leader, At: now, Duration: d, Millis: d.Milliseconds()}
		}
		t.lostAt = time.Time{}
	}
	if leader != "" || t.leader == "" {
		t.leader = leader
	}
	obs := t.observed
	t.mu.Unlock()
	if obs != nil {
		select {
		case obs <- struct{}{}:
		default:
		}
	}
}

// leaderFailed notes that a write to the current leader id failed: the failover, if one
// follows, started then.
func (t *tracker) leaderFailed(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == t.leader && t.lostAt.IsZero() {
		t.lostAt = now
	}
}

// count notes a request answered (ok) or failed by instance id.
func (t *tracker) count(id string, read, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts[id]
	if c == nil {
		c = &requestCounts{}
		t.counts[id] = c
	}
	switch {
	case !ok:
		c.Errors++
	case read:
		c.Reads++
	default:
		c.Writes++
	}
}

// statusPage is /_status.json.
type statusPage struct {
	Service      string           `json:"service"`
	Leader       string           `json:"leader"`
	Instances    []statusInstance `json:"instances"`
	LastFailover *failover        `json:"lastFailover"`
	HeldWrites   int              `json:"heldWrites"`
	Now          time.Time        `json:"now"`
}

type statusInstance struct {
	Backend
	Down bool `json:"down"`
	requestCounts
}

func (t *tracker) page(st PoolStatus) statusPage {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := statusPage{Service: st.Service, Leader: st.Leader, Instances: []statusInstance{}, Now: time.Now().UTC()}
	down := map[string]bool{}
	for _, id := range st.Down {
		down[id] = true
	}
	for _, b := range st.Instances {
		si := statusInstance{Backend: b, Down: down[b.ID]}
		if c := t.counts[b.ID]; c != nil {
			si.requestCounts = *c
		}
		p.Instances = append(p.Instances, si)
	}
	sort.Slice(p.Instances, func(i, j int) bool { return p.Instances[i].ID < p.Instances[j].ID })
	if t.last != nil {
		f := *t.last
		p.LastFailover = &f
	}
	if t.held != nil {
		p.HeldWrites = t.held()
	}
	return p
}

//go:embed status.html
var statusHTML []byte

// handleStatus serves the page (path) and its JSON (path + ".json").
func handleStatus(mux *http.ServeMux, path string, pool Pool, t *tracker) {
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(statusHTML)
	})
	mux.HandleFunc("GET "+path+".json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		st := pool.Status()
		t.observe(st.Leader, time.Now()) // in case the tracker has not seen the latest change yet
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(t.page(st))
	})
}
