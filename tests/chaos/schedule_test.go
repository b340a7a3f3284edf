package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// faultKind is one kind of fault a round can inject.
type faultKind int

const (
	// Client faults: one participant's FaultDialer.
	cutShort       faultKind = iota // Cut, healed well within the session timeout
	cutLong                         // Cut, held past the session timeout: the session expires
	blackHoleShort                  // BlackHole within the session timeout
	blackHoleLong                   // BlackHole past the session timeout
	loseReply                       // every participant's next multi reaches the server, its reply is lost
	// Ensemble faults: one member.
	killZKLeader  // Kill the member that is ZooKeeper's leader, Start it at heal
	killConnected // Kill the member a participant is connected to, Start it at heal
	partitionNode // Partition a member from its peers
	pauseNode     // Pause a member (frozen process)
	numKinds
)

var kindNames = [...]string{"cut-short", "cut-long", "blackhole-short", "blackhole-long", "lose-reply",
	"kill-zk-leader", "kill-connected", "partition", "pause"}

func (k faultKind) String() string { return kindNames[k] }

// anyone, as a fault's target, means "whoever leads when the fault is injected" (a
// participant for client faults and killConnected, ZooKeeper's leader for partition and
// pause), and falls back to target's index when there is none.
const anyone = -1

// fault is one fault of a round, as the schedule draws it: what, on whom, for how long.
// The hold is in units of the session timeout so that a schedule does not depend on the
// campaign's settings.
type fault struct {
	kind faultKind
	// target is a participant index (client faults, killConnected) or a member index
	// (partitionNode, pauseNode), or anyone.
	target int
	// fallback is the index used when target is anyone and nobody qualifies.
	fallback int
	hold     float64 // in session timeouts
}

func (f fault) String() string {
	who := "the leader"
	switch {
	case f.kind == loseReply || f.kind == killZKLeader:
		who = ""
	case f.target == anyone:
	case f.kind == partitionNode || f.kind == pauseNode:
		who = fmt.Sprintf("zk%d", f.target+1)
	default:
		who = fmt.Sprintf("p%d", f.target)
	}
	if f.kind == partitionNode || f.kind == pauseNode {
		if f.target == anyone {
			who = "the zk leader"
		}
	}
	if who != "" {
		who = " " + who
	}
	return fmt.Sprintf("%s%s for %.2fx session", f.kind, who, f.hold)
}

// round is one fault round: its faults start together, each is healed when its hold ends,
// and the round settles once every one is healed.
type round struct {
	n      int
	faults []fault
}

func (r round) String() string {
	parts := make([]string, len(r.faults))
	for i, f := range r.faults {
		parts[i] = f.String()
	}
	return fmt.Sprintf("round %d: %s", r.n, strings.Join(parts, " + "))
}

// schedule draws the rounds of a campaign from seed alone: the same seed gives the same
// schedule, whatever happens while it runs.
func schedule(seed uint64, rounds, participants, members int) []round {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	draw := func() fault {
		f := fault{kind: faultKind(rng.IntN(int(numKinds)))}
		switch f.kind {
		case cutShort, blackHoleShort:
			f.hold = 0.2 + 0.4*rng.Float64()
		case cutLong, blackHoleLong:
			f.hold = 1.5 + 0.5*rng.Float64()
		case loseReply:
			f.hold = 0.5 + 0.5*rng.Float64()
		default:
			f.hold = 0.3 + 1.2*rng.Float64()
		}
		n := participants
		if f.kind == partitionNode || f.kind == pauseNode {
			n = members
		}
		f.fallback = rng.IntN(n)
		f.target = f.fallback
		if rng.IntN(2) == 0 {
			f.target = anyone
		}
		return f
	}
	out := make([]round, rounds)
	for i := range out {
		out[i] = round{n: i + 1, faults: []fault{draw()}}
		if rng.IntN(3) == 0 { // a combination: a second fault, not of the same kind
			for {
				g := draw()
				if g.kind != out[i].faults[0].kind {
					out[i].faults = append(out[i].faults, g)
					break
				}
			}
		}
	}
	return out
}

func TestScheduleReplays(t *testing.T) {
	a, b := schedule(42, 50, 3, 3), schedule(42, 50, 3, 3)
	if !slices.EqualFunc(a, b, func(x, y round) bool { return x.String() == y.String() }) {
		t.Fatal("two schedules of seed 42 differ")
	}
	if c := schedule(43, 50, 3, 3); slices.EqualFunc(a, c, func(x, y round) bool { return x.String() == y.String() }) {
		t.Fatal("seeds 42 and 43 give the same schedule")
	}
	seen := map[faultKind]bool{}
	combos := 0
	for _, r := range a {
		for _, f := range r.faults {
			seen[f.kind] = true
		}
		if len(r.faults) > 1 {
			combos++
		}
	}
	if len(seen) != int(numKinds) || combos == 0 {
		t.Fatalf("50 rounds drew kinds %v and %d combinations", seen, combos)
	}
}
