package chaos

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
)

// entry is what every increment writes, both as the counter's data and as the data of the
// sequential log node the same transaction creates: the log's sequence numbers give the
// order in which ZooKeeper applied the increments.
type entry struct {
	value  int   // the counter after the increment
	token  int64 // the writing term's fencing token
	writer int   // participant index; -1 for the initial value
	op     int   // the increment's id in the history; -1 for the initial value
}

var initial = entry{value: 0, token: 0, writer: -1, op: -1}

func (e entry) encode() []byte {
	return fmt.Appendf(nil, "%d %d %d %d", e.value, e.token, e.writer, e.op)
}

func decodeEntry(b []byte) (entry, error) {
	f := strings.Fields(string(b))
	if len(f) != 4 {
		return entry{}, fmt.Errorf("entry %q: want 4 fields", b)
	}
	var e entry
	var err [4]error
	e.value, err[0] = strconv.Atoi(f[0])
	e.token, err[1] = strconv.ParseInt(f[1], 10, 64)
	e.writer, err[2] = strconv.Atoi(f[2])
	e.op, err[3] = strconv.Atoi(f[3])
	if e := errors.Join(err[:]...); e != nil {
		return entry{}, fmt.Errorf("entry %q: %w", b, e)
	}
	return e, nil
}

// outcome is what an increment's Term.Multi said about it.
type outcome int

const (
	applied   outcome = iota // nil: applied exactly once
	notLeader                // ErrNotLeader: not applied
	conflict                 // zk.ErrBadVersion from the counter's versioned set: not applied
	failed                   // any other error without ErrOutcomeUnknown: not applied
	unknown                  // ErrOutcomeUnknown: applied or not
)

var outcomeNames = [...]string{"applied", "not-leader", "conflict", "failed", "unknown"}

func (o outcome) String() string { return outcomeNames[o] }

func classify(err error) outcome {
	switch {
	case err == nil:
		return applied
	case errors.Is(err, zkrecipes.ErrOutcomeUnknown):
		return unknown
	case errors.Is(err, leader.ErrNotLeader):
		return notLeader
	case errors.Is(err, zk.ErrBadVersion):
		return conflict
	default:
		return failed
	}
}

// readOp is a Sync+Get of the counter by a leader, just before its increment.
type readOp struct {
	who       int
	call, ret int64
	got       entry
}

// writeOp is one increment: a Term.Multi of the counter's set at the version read and the
// log node's create, guarded by the term.
type writeOp struct {
	id        int
	who       int
	token     int64
	expect    int // the value read, which is the version the set requires
	call, ret int64
	outcome   outcome
	err       error
}

// termOp is one term as its participant saw it: it began (ZooKeeper made it the leader)
// some time between call (when the participant started campaigning for it) and ret (when
// Run called the term's function).
type termOp struct {
	who       int
	token     int64
	call, ret int64
}

// history records every operation of the campaign with call and return times on one
// monotonic clock (nanoseconds since the campaign began).
type history struct {
	start time.Time

	mu       sync.Mutex
	reads    []readOp
	writes   []*writeOp
	terms    []termOp
	problems []string
	unsure   []error         // errors of unknown-outcome writes, for zkrecipes.Settled
	progress chan struct{}   // closed and replaced at every applied increment
	lastOK   int64           // call time of the latest applied increment
	outcomes map[outcome]int // counts, for the log
	lastErr  map[outcome]error
}

func newHistory() *history {
	return &history{start: time.Now(), progress: make(chan struct{}), outcomes: map[outcome]int{},
		lastErr: map[outcome]error{}}
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) problemf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
}

func (h *history) read(who int, call, ret int64, got entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads = append(h.reads, readOp{who: who, call: call, ret: ret, got: got})
}

func (h *history) begin(who int, token int64, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.terms = append(h.terms, termOp{who: who, token: token, call: call, ret: ret})
}

// write starts recording an increment; finish completes it.
func (h *history) write(who int, token int64, expect int) *writeOp {
	call := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	op := &writeOp{id: len(h.writes), who: who, token: token, expect: expect, call: call}
	h.writes = append(h.writes, op)
	return op
}

func (h *history) finish(op *writeOp, err error) {
	ret := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ret, op.err, op.outcome = ret, err, classify(err)
	h.outcomes[op.outcome]++
	if err != nil {
		h.lastErr[op.outcome] = err
	}
	switch op.outcome {
	case applied:
		h.lastOK = max(h.lastOK, op.call)
		close(h.progress)
		h.progress = make(chan struct{})
	case unknown:
		h.unsure = append(h.unsure, err)
	}
}

// appliedSince returns whether an increment called at or after t was applied, and a
// channel closed at the next applied one.
func (h *history) appliedSince(t int64) (bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastOK >= t, h.progress
}

func (h *history) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d terms, %d reads, %d increments (", len(h.terms), len(h.reads), len(h.writes))
	for o := applied; o <= unknown; o++ {
		if o > applied {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", o, h.outcomes[o])
	}
	b.WriteString(")")
	for o := notLeader; o <= unknown; o++ {
		if err := h.lastErr[o]; err != nil {
			fmt.Fprintf(&b, "; last %s: %v", o, err)
		}
	}
	return b.String()
}

// forever is the return time of an increment whose outcome is unknown: it may take effect
// at any point after its call.
const forever = math.MaxInt64

// checkLog checks the log of applied increments (in the order ZooKeeper applied them) and
// the counter's final data against the history, and returns every violation:
//   - the values are 1, 2, 3, ... in apply order: no increment lost, none applied twice;
//   - every increment that returned nil is in the log exactly once, none that returned a
//     not-applied error is, and an unknown one at most once;
//   - each entry increments the value its writer read;
//   - fencing tokens never go backwards in apply order, and each token belongs to one
//     participant, so the writes of two terms never interleave: no two leaders at once;
//   - the counter holds the last entry.
func checkLog(log []entry, final entry, writes []*writeOp) []string {
	var bad []string
	badf := func(format string, args ...any) {
		if len(bad) < 40 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	seen := make(map[int]int, len(log))
	owner := map[int64]int{}
	prev := initial
	for i, e := range log {
		if e.value != i+1 {
			badf("log[%d] (op %d by p%d) has value %d, want %d: an increment was lost or applied twice", i, e.op, e.writer, e.value, i+1)
		}
		if e.token < prev.token {
			badf("log[%d] (op %d by p%d) has token %#x after token %#x (op %d by p%d): fencing went backwards", i, e.op, e.writer, e.token, prev.token, prev.op, prev.writer)
		}
		if w, ok := owner[e.token]; ok && w != e.writer {
			badf("token %#x wrote for p%d and p%d", e.token, w, e.writer)
		}
		owner[e.token] = e.writer
		if e.op < 0 || e.op >= len(writes) {
			badf("log[%d] names op %d, which was never issued", i, e.op)
		} else {
			if n := seen[e.op]; n > 0 {
				badf("op %d (p%d) is in the log %d times: applied twice", e.op, e.writer, n+1)
			}
			seen[e.op]++
			w := writes[e.op]
			if w.expect+1 != e.value || w.token != e.token || w.who != e.writer {
				badf("log[%d] = %+v does not match op %d (p%d read %d, token %#x)", i, e, w.id, w.who, w.expect, w.token)
			}
		}
		prev = e
	}
	if final != prev {
		badf("the counter holds %+v, the log ends with %+v", final, prev)
	}
	for _, w := range writes {
		n := seen[w.id]
		switch {
		case w.outcome == applied && n != 1:
			badf("op %d (p%d, token %#x) returned nil but is in the log %d times", w.id, w.who, w.token, n)
		case w.outcome != applied && w.outcome != unknown && n != 0:
			badf("op %d (p%d, token %#x) returned a not-applied error (%s: %v) but is in the log %d times", w.id, w.who, w.token, w.outcome, w.err, n)
		}
	}
	return bad
}
