package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

func node(path string, czxid, mzxid int64, v string) *Node[string] {
	return &Node[string]{Path: path, Stat: zk.Stat{Czxid: czxid, Mzxid: mzxid, Version: int32(mzxid - czxid)}, Value: v}
}

// drain delivers everything pending and describes it, one event per line.
func drain(q *queue[string]) string {
	var b strings.Builder
	var evs []Event[string]
	for s := q.pop(); s != nil; s = q.pop() {
		evs = s.events(evs[:0])
		for _, ev := range evs {
			switch ev.Type {
			case NodeCreated:
				fmt.Fprintf(&b, "created %s=%s;", ev.Path, ev.New.Value)
			case NodeChanged:
				fmt.Fprintf(&b, "changed %s %s>%s;", ev.Path, ev.Old.Value, ev.New.Value)
			case NodeDeleted:
				fmt.Fprintf(&b, "deleted %s=%s;", ev.Path, ev.Old.Value)
			case ConnectionStateChanged:
				fmt.Fprintf(&b, "%s", ev.State.State)
				if ev.State.NewSession {
					b.WriteString("(new)")
				}
				b.WriteString(";")
			case Error:
				fmt.Fprintf(&b, "error %s;", ev.Path)
			default:
				fmt.Fprintf(&b, "%s;", ev.Type)
			}
		}
	}
	return b.String()
}

func change(path string, old, new *Node[string]) item[string] {
	return item[string]{kind: slotNode, path: path, old: old, new: new}
}

func state(s zkrecipes.State, newSession bool) item[string] {
	return item[string]{kind: slotState, state: zkrecipes.StateChange{State: s, NewSession: newSession}}
}

func TestCoalescing(t *testing.T) {
	a1, a2, a3 := node("/a", 1, 1, "1"), node("/a", 1, 2, "2"), node("/a", 1, 3, "3")
	a9 := node("/a", 9, 9, "9") // a new incarnation
	b1 := node("/b", 4, 4, "b")
	for _, c := range []struct {
		name  string
		items []item[string]
		want  string
	}{
		{"single change", []item[string]{change("/a", a1, a2)}, "changed /a 1>2;"},
		{"first old, last new", []item[string]{change("/a", a1, a2), change("/a", a2, a3)}, "changed /a 1>3;"},
		{"created then deleted cancels", []item[string]{change("/a", nil, a1), change("/a", a1, a2), change("/a", a2, nil)}, ""},
		{"created then changed is created", []item[string]{change("/a", nil, a1), change("/a", a1, a2)}, "created /a=2;"},
		{"deleted and created again", []item[string]{change("/a", a1, nil), change("/a", nil, a9)}, "deleted /a=1;created /a=9;"},
		{"changed then deleted", []item[string]{change("/a", a1, a2), change("/a", a2, nil)}, "deleted /a=1;"},
		{"place of the first change", []item[string]{change("/a", a1, a2), change("/b", nil, b1), change("/a", a2, a3)}, "changed /a 1>3;created /b=b;"},
		{"no change without a version move", []item[string]{change("/a", a1, node("/a", 1, 1, "1"))}, ""},
		{"segments keep the order of states", []item[string]{change("/a", a1, a2), state(zkrecipes.StateSuspended, false), change("/a", a2, a3)},
			"changed /a 1>2;SUSPENDED;changed /a 2>3;"},
		{"error after the deletion it explains", []item[string]{change("/a", a1, nil), {kind: slotNode, path: "/a", err: errors.New("x")}}, "deleted /a=1;error /a;"},
		{"an error about a version that is gone", []item[string]{{kind: slotNode, path: "/a", err: errors.New("x")}, change("/a", nil, a2)}, "created /a=2;"},
		{"error alone", []item[string]{{kind: slotNode, path: "/a", err: errors.New("x"), old: a1}}, "error /a;"},
		{"error then change of a visible node", []item[string]{{kind: slotNode, path: "/a", err: errors.New("x"), old: a1}, change("/a", a1, a2)}, "changed /a 1>2;"},
		{"state runs keep first and last", []item[string]{
			state(zkrecipes.StateSuspended, false), state(zkrecipes.StateReconnected, false),
			state(zkrecipes.StateSuspended, false), state(zkrecipes.StateReconnected, false)}, "SUSPENDED;RECONNECTED;"},
		{"a dropped new session is not lost", []item[string]{
			state(zkrecipes.StateSuspended, false), state(zkrecipes.StateLost, false), state(zkrecipes.StateReconnected, true),
			state(zkrecipes.StateSuspended, false), state(zkrecipes.StateReconnected, false)}, "SUSPENDED;RECONNECTED(new);"},
		{"markers", []item[string]{{kind: slotMarker, marker: Initialized}, change("/a", a1, a2), {kind: slotMarker, marker: Resynced},
			change("/b", nil, b1), {kind: slotMarker, marker: Resynced}}, "Initialized;changed /a 1>2;created /b=b;Resynced;"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue[string]()
			q.push(c.items)
			if got := drain(q); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			if q.len != 0 || len(q.byPath) != 0 || q.markers != 0 {
				t.Errorf("left len=%d byPath=%d markers=%d", q.len, len(q.byPath), q.markers)
			}
		})
	}
}

// A sticky new session survives a delivery between the dropped RECONNECTED and the next.
func TestStickyNewSessionAcrossDelivery(t *testing.T) {
	q := newQueue[string]()
	q.push([]item[string]{state(zkrecipes.StateSuspended, false), state(zkrecipes.StateReconnected, true), state(zkrecipes.StateSuspended, false)})
	if got := drain(q); got != "SUSPENDED;SUSPENDED;" {
		t.Fatalf("got %q", got)
	}
	q.push([]item[string]{state(zkrecipes.StateReconnected, false)})
	if got := drain(q); got != "RECONNECTED(new);" {
		t.Fatalf("got %q", got)
	}
}

// Nothing delivered, an endless stream of changes over 100 paths, with connection flaps in
// between: the queue stays bounded by the number of paths, not by the number of changes.
func TestQueueBoundedUnderStuckListener(t *testing.T) {
	q := newQueue[string]()
	rng := rand.New(rand.NewPCG(3, 4))
	const paths = 100
	cur := make([]*Node[string], paths)
	zxid := int64(1)
	high := 0
	for step := 0; step < 200000; step++ {
		var it item[string]
		switch r := rng.IntN(100); {
		case r < 2:
			s := []zkrecipes.State{zkrecipes.StateSuspended, zkrecipes.StateReconnected, zkrecipes.StateLost}[rng.IntN(3)]
			it = state(s, rng.IntN(2) == 0)
		case r < 3:
			it = item[string]{kind: slotMarker, marker: Resynced}
		default:
			i := rng.IntN(paths)
			p := fmt.Sprintf("/n%d", i)
			zxid++
			var next *Node[string]
			if rng.IntN(4) > 0 {
				czxid := zxid
				if cur[i] != nil {
					czxid = cur[i].Stat.Czxid
				}
				next = node(p, czxid, zxid, fmt.Sprint(zxid))
			}
			it = change(p, cur[i], next)
			cur[i] = next
		}
		q.push([]item[string]{it})
		high = max(high, q.len)
	}
	// Per path at most one entry per segment until maxMarkers are pending, and state runs
	// of at most two.
	if limit := paths*(maxMarkers+2) + 3*(maxMarkers+2); high > limit {
		t.Fatalf("queue grew to %d entries (limit %d)", high, limit)
	}
	t.Logf("high water: %d entries", high)
	// What is finally delivered, applied to what listeners had (nothing), gives the truth.
	seen := map[string]string{}
	var evs []Event[string]
	for s := q.pop(); s != nil; s = q.pop() {
		for _, ev := range s.events(evs[:0]) {
			switch ev.Type {
			case NodeCreated:
				if _, ok := seen[ev.Path]; ok {
					t.Fatalf("created %s twice", ev.Path)
				}
				seen[ev.Path] = ev.New.Value
			case NodeChanged:
				if seen[ev.Path] != ev.Old.Value {
					t.Fatalf("changed %s from %s, listener had %s", ev.Path, ev.Old.Value, seen[ev.Path])
				}
				seen[ev.Path] = ev.New.Value
			case NodeDeleted:
				if seen[ev.Path] != ev.Old.Value {
					t.Fatalf("deleted %s=%s, listener had %s", ev.Path, ev.Old.Value, seen[ev.Path])
				}
				delete(seen, ev.Path)
			}
		}
	}
	for i, n := range cur {
		p := fmt.Sprintf("/n%d", i)
		if n == nil {
			if _, ok := seen[p]; ok {
				t.Errorf("%s should be absent", p)
			}
		} else if seen[p] != n.Value {
			t.Errorf("%s = %q, want %q", p, seen[p], n.Value)
		}
	}
}
