package leader

import (
	"strings"

	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// nodeMarker is the name that Curator's LeaderLatch gives its nodes before the
// sequence number. LeaderSelector uses "lock-" instead, so the two recipes
// cannot share a parent: their nodes would not order against each other.
const nodeMarker = "latch-"

// latchOrder is Curator's order of latch nodes: by the text after the last
// "latch-", or the whole name if there is none, compared as strings, not
// integers: once the parent's counter passes 2^31 the suffix is negative and
// must still order the same way in Go and Java. The rules live in
// internal/queue, shared with the lock recipes.
var latchOrder = queue.NewOrder(nodeMarker)

// sortKey is the text a child is ordered by.
func sortKey(child string) string { return latchOrder.Key(child) }

// sortChildren orders the children of a latch path the way every participant,
// Go or Java, must see them: index 0 is the leader. Every child takes part,
// including ones not written by a latch. Ties on the key (possible only for
// nodes created by hand) are broken by the full name so that all Go
// participants at least agree with each other.
func sortChildren(children []string) []string { return latchOrder.Sort(children) }

// hasForeignNodes reports whether children include a node of Curator's
// LeaderSelector (a "lock-" node without "latch-"). Such a node still takes
// part in the order, but it means two recipes share one parent by mistake.
func hasForeignNodes(children []string) bool {
	for _, c := range children {
		if strings.Contains(c, "lock-") && !strings.Contains(c, nodeMarker) {
			return true
		}
	}
	return false
}

// indexOf returns the position of name in sorted, or -1.
func indexOf(sorted []string, name string) int { return queue.IndexOf(sorted, name) }

// wrapGuard bounds the parent's child version (its sequence counter) under
// which a hand-over may skip reading the children (see sequenceOrdered).
const wrapGuard = queue.WrapGuard

// sequenceOrdered reports whether a listing of the latch path proves that
// nodes created after it sort after all of its nodes: every child is a
// well-formed latch node (_c_<uuid>-latch-<10 digits>), their keys strictly
// increase, each sequence is below the parent's child version cversion (as
// the server assigns them), and that counter is far from the 2^31 wrap. A
// later sequential create then takes a number at least cversion and sorts
// after every node of the listing. sorted is in Curator's order.
func sequenceOrdered(sorted []string, cversion int32) bool {
	return latchOrder.SequenceOrdered(sorted, cversion)
}
