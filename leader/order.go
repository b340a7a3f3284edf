package leader

import (
	"sort"
	"strings"
)

// nodeMarker is the name that Curator's LeaderLatch gives its nodes before the
// sequence number. LeaderSelector uses "lock-" instead, so the two recipes
// cannot share a parent: their nodes would not order against each other.
const nodeMarker = "latch-"

// sortKey is the text a child is ordered by: what follows the last "latch-",
// or the whole name if there is none. Curator compares these as strings, not
// integers: once the parent's counter passes 2^31 the suffix is negative and
// must still order the same way in Go and Java.
func sortKey(child string) string {
	if i := strings.LastIndex(child, nodeMarker); i >= 0 {
		return child[i+len(nodeMarker):]
	}
	return child
}

// sortChildren orders the children of a latch path the way every participant,
// Go or Java, must see them: index 0 is the leader. Every child takes part,
// including ones not written by a latch. Ties on the key (possible only for
// nodes created by hand) are broken by the full name so that all Go
// participants at least agree with each other.
func sortChildren(children []string) []string {
	out := append([]string(nil), children...)
	sort.Slice(out, func(i, j int) bool {
		ki, kj := sortKey(out[i]), sortKey(out[j])
		if ki != kj {
			return ki < kj
		}
		return out[i] < out[j]
	})
	return out
}

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
func indexOf(sorted []string, name string) int {
	for i, c := range sorted {
		if c == name {
			return i
		}
	}
	return -1
}
