package chaos

import (
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

// The checks themselves, on made-up histories: each must pass a correct history and catch
// the violation it is there for.

// seq builds a history of increments, one per token in tokens (who = token's index in
// owners), each applied in turn, and the log ZooKeeper would hold.
func seq(tokens ...int64) (*history, []entry) {
	h := newHistory()
	var log []entry
	t := int64(0)
	for i, tok := range tokens {
		who := int(tok) % 3
		h.reads = append(h.reads, readOp{who: who, call: t, ret: t + 1, got: entryAt(log)})
		w := &writeOp{id: i, who: who, token: tok, expect: i, call: t + 2, ret: t + 3, outcome: applied}
		h.writes = append(h.writes, w)
		log = append(log, entry{value: i + 1, token: tok, writer: who, op: i})
		t += 10
	}
	return h, log
}

func entryAt(log []entry) entry {
	if len(log) == 0 {
		return initial
	}
	return log[len(log)-1]
}

func wantBad(t *testing.T, bad []string, substr string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(b, substr) {
			return
		}
	}
	t.Errorf("want a violation containing %q, got %q", substr, bad)
}

func TestCheckLog(t *testing.T) {
	h, log := seq(3, 3, 4, 4, 7)
	if bad := checkLog(log, entryAt(log), h.writes); len(bad) > 0 {
		t.Fatalf("a correct history: %q", bad)
	}
	h.writes[2].outcome = unknown
	if bad := checkLog(log, entryAt(log), h.writes); len(bad) > 0 {
		t.Fatalf("an unknown outcome that applied: %q", bad)
	}
	lost := append(append([]entry{}, log[:2]...), log[3:]...)
	wantBad(t, checkLog(lost, entryAt(lost), h.writes), "lost or applied twice")

	h.writes[1].outcome = notLeader
	wantBad(t, checkLog(log, entryAt(log), h.writes), "returned a not-applied error")
	h.writes[1].outcome = applied

	twice := append(append([]entry{}, log...), entry{value: 6, token: 7, writer: 1, op: 4})
	wantBad(t, checkLog(twice, entryAt(twice), h.writes), "applied twice")

	back := append([]entry{}, log...)
	back[4].token = 2
	wantBad(t, checkLog(back, entryAt(back), h.writes), "fencing went backwards")

	shared := append([]entry{}, log...)
	shared[3].writer = 2
	wantBad(t, checkLog(shared, entryAt(shared), h.writes), "wrote for p1 and p2")

	wantBad(t, checkLog(log, initial, h.writes), "the counter holds")
}

func TestModels(t *testing.T) {
	check := func(m porcupine.Model, ops []porcupine.Operation) bool {
		return porcupine.CheckOperations(m, ops)
	}
	h, _ := seq(3, 3, 4, 4, 7)
	if !check(counterModel.ToModel(), h.counterOps()) {
		t.Fatal("counter: a correct history is not linearizable")
	}
	// An unknown increment that applied, then one that did not; later reads tell.
	h.writes[2].outcome = unknown
	if !check(counterModel.ToModel(), h.counterOps()) {
		t.Fatal("counter: an unknown increment that applied")
	}
	h2, _ := seq(3, 3)
	h2.writes[1].outcome = unknown
	h2.reads = append(h2.reads, readOp{who: 0, call: 100, ret: 101, got: entry{value: 1, token: 3}})
	if !check(counterModel.ToModel(), h2.counterOps()) {
		t.Fatal("counter: an unknown increment that did not apply")
	}
	// A read that sees an increment its writer was told had failed.
	h2.writes[1].outcome = failed
	h2.reads[len(h2.reads)-1].got = entry{value: 2, token: 3}
	if check(counterModel.ToModel(), h2.counterOps()) {
		t.Fatal("counter: a failed increment seen applied passes")
	}
	// A write with a lower token after a higher one.
	h3, _ := seq(4, 3)
	if check(counterModel.ToModel(), h3.counterOps()) {
		t.Fatal("counter: fencing backwards passes")
	}

	// Leadership: terms begin in token order, writes within their own term.
	lh, _ := seq(3, 4)
	lh.terms = []termOp{{who: 0, token: 3, call: 0, ret: 1}, {who: 1, token: 4, call: 5, ret: 9}}
	if !check(leadershipModel, lh.leadershipOps()) {
		t.Fatal("leadership: a correct history")
	}
	// Term 3 writes after term 4 began (ret 9 < call 12): two leaders at once.
	lh.writes = append(lh.writes, &writeOp{id: 2, who: 0, token: 3, call: 30, ret: 31, outcome: applied})
	if check(leadershipModel, lh.leadershipOps()) {
		t.Fatal("leadership: a deposed term's write after its successor began passes")
	}
}
