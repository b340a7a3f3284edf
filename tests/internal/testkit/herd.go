package testkit

import (
	"context"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes"
)

// Herd is n Clients of one namespace, each with a NotificationCounter as its dialer, for
// the herd tests: in a queue of ephemeral sequential nodes where each waiter watches only
// its predecessor, a change must wake exactly the one waiter it concerns.
type Herd struct {
	Clients  []*zkrecipes.Client
	Counters []*NotificationCounter
}

// NewHerd connects the n Clients of a Herd in ns with Connect (opts come after the
// dialer).
func NewHerd(t testing.TB, servers []string, ns string, n int, opts ...zkrecipes.Option) *Herd {
	t.Helper()
	h := &Herd{Clients: make([]*zkrecipes.Client, n), Counters: make([]*NotificationCounter, n)}
	for i := range n {
		h.Counters[i] = &NotificationCounter{}
		h.Clients[i] = Connect(t, servers, ns, append([]zkrecipes.Option{zkrecipes.WithDialer(h.Counters[i].Dial)}, opts...)...)
	}
	return h
}

// Counts returns each Client's notification count so far, for Since.
func (h *Herd) Counts() []int64 {
	out := make([]int64, len(h.Counters))
	for i, c := range h.Counters {
		out[i] = c.Count()
	}
	return out
}

// Since makes a round trip (a Sync on path) on every Client but skip: the server sends a
// notification before the replies to requests it handles after the change, so once each
// reply is in, every notification caused by the change has been received (and counted).
// It returns how many notifications each Client received after before (from Counts);
// skip's is 0.
func (h *Herd) Since(t testing.TB, ctx context.Context, path string, before []int64, skip int) []int64 {
	t.Helper()
	for i, c := range h.Clients {
		if i != skip {
			if err := c.Sync(ctx, path); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := make([]int64, len(h.Counters))
	for i, c := range h.Counters {
		if i != skip {
			out[i] = c.Count() - before[i]
		}
	}
	return out
}

// ChainWatches checks the server's watch table (from WatchesBySession) against such a
// queue: the session of the k-th node (sessions[k]; nodes[k] is the node's server path)
// watches its own node and, unless k is 0, nodes[k-1]; nothing else. It returns the first
// k for which that does not hold, with what that session watches and what it should, both
// sorted; k is -1 when it holds for all.
func ChainWatches(watches map[int64][]string, sessions []int64, nodes []string) (k int, got, want []string) {
	for k := range nodes {
		want := []string{nodes[k]}
		if k > 0 {
			want = append(want, nodes[k-1])
		}
		got := slices.Sorted(slices.Values(watches[sessions[k]]))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return k, got, want
		}
	}
	return -1, nil, nil
}
