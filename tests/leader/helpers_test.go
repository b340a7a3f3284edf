package leader_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
)

// startLatch makes and starts a latch whose transitions go into h under
// the name id, and closes it (if the test did not) when the test ends.
func startLatch(t testing.TB, c *zkrecipes.Client, path, id string, h *history, opts ...leader.Option) *leader.Latch {
	t.Helper()
	return startLatchWith(t, c, path, id, h, nil, opts...)
}

// startLatchWith is startLatch with a chance to set test hooks before Start.
func startLatchWith(t testing.TB, c *zkrecipes.Client, path, id string, h *history, prep func(*leader.Latch), opts ...leader.Option) *leader.Latch {
	t.Helper()
	all := append([]leader.Option{leader.WithID(id), leader.WithCloseMode(leader.CloseNotifyLeader)}, opts...)
	if h != nil {
		all = append(all, leader.WithListener(h.listener(id)))
	}
	l, err := leader.New(c, path, all...)
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	if prep != nil {
		prep(l)
	}
	if err := l.Start(testkit.Ctx(t)); err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
	t.Cleanup(func() { closeLatch(t, l) })
	return l
}

func closeLatch(t testing.TB, l *leader.Latch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Errorf("Close(%s): %v", l.ID(), err)
	}
}

// history records every listener callback of a test's latches in one
// sequence, under one mutex, so that "who led when" is judged on a single
// timeline: a participant is leader from its IsLeader record to its next
// NotLeader record. Two participants leading at once is a violation.
type history struct {
	mu          sync.Mutex
	seq         int
	events      []string
	leaders     map[string]bool
	counts      map[string]int // IsLeader callbacks per participant
	violations  []string       // overlaps, leaders at LOST
	alternation []string       // callbacks that did not alternate
	changed     chan struct{}  // closed and replaced on every record
}

func newHistory() *history {
	return &history{leaders: map[string]bool{}, counts: map[string]int{}, changed: make(chan struct{})}
}

func (h *history) listener(who string) leader.Listener {
	return leader.ListenerFuncs{
		OnIsLeader:  func() { h.record(who, true) },
		OnNotLeader: func() { h.record(who, false) },
	}
}

func (h *history) record(who string, leader bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	what := "NotLeader"
	if leader {
		what = "IsLeader"
	}
	h.events = append(h.events, fmt.Sprintf("%d %s %s", h.seq, who, what))
	if h.leaders[who] == leader {
		h.alternation = append(h.alternation, fmt.Sprintf("#%d: %s got %s twice in a row", h.seq, who, what))
	}
	if leader {
		for other := range h.leaders {
			if other != who && h.leaders[other] {
				h.violations = append(h.violations, fmt.Sprintf("#%d: %s became leader while %s still led", h.seq, who, other))
			}
		}
		h.counts[who]++
	}
	h.leaders[who] = leader
	close(h.changed)
	h.changed = make(chan struct{})
}

// note records a connection state of who's client. A participant must
// have stopped leading by the time its client reports LOST.
func (h *history) note(who string, state zkrecipes.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.events = append(h.events, fmt.Sprintf("%d %s client %s", h.seq, who, state))
	if state == zkrecipes.StateLost && h.leaders[who] {
		h.violations = append(h.violations, fmt.Sprintf("#%d: %s still led when its client reported LOST", h.seq, who))
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// current returns the participants that lead according to the history.
func (h *history) current() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for who, l := range h.leaders {
		if l {
			out = append(out, who)
		}
	}
	return out
}

// waitFor waits until cond holds over the leaders of the history.
func (h *history) waitFor(t testing.TB, what string, cond func(leaders []string) bool) {
	t.Helper()
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if cond(h.current()) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; leaders %v; history:\n%s", what, h.current(), h.dump())
		}
	}
}

// waitLeader waits until exactly who leads.
func (h *history) waitLeader(t testing.TB, who string) {
	t.Helper()
	h.waitFor(t, who+" to lead", func(l []string) bool { return len(l) == 1 && l[0] == who })
}

// check fails the test if two participants led at once, a participant led
// when its client reported LOST, or callbacks did not alternate.
func (h *history) check(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if v := append(slices.Clone(h.violations), h.alternation...); len(v) > 0 {
		t.Fatalf("leadership history violations:\n%s\nhistory:\n%s", strings.Join(v, "\n"), strings.Join(h.events, "\n"))
	}
}

// checkAlternation fails the test if some participant's callbacks did not
// strictly alternate.
func (h *history) checkAlternation(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.alternation) > 0 {
		t.Fatalf("callbacks did not alternate:\n%s\nhistory:\n%s", strings.Join(h.alternation, "\n"), strings.Join(h.events, "\n"))
	}
}

func (h *history) dump() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.events, "\n")
}

// fastHandovers counts the latch's claims made straight from the head's deletion.
func fastHandovers(l *leader.Latch) int64 {
	_, n := probe.LatchCounters(l)
	return n
}

// predWakeups counts the notifications the latch received from its predecessor's watch.
func predWakeups(l *leader.Latch) int64 {
	n, _ := probe.LatchCounters(l)
	return n
}
