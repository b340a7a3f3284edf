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

// wrapGuard bounds the parent's child version (its sequence counter) under
// which a hand-over may skip reading the children (see sequenceOrdered): the
// counter would have to move by another 2^30 during one wait to wrap.
const wrapGuard = 1 << 30

// sequenceOrdered reports whether a listing of the latch path proves that
// nodes created after it sort after all of its nodes: every child is a
// well-formed latch node (_c_<uuid>-latch-<10 digits>), their keys strictly
// increase, each sequence is below the parent's child version cversion (as
// the server assigns them), and that counter is far from the 2^31 wrap. A
// later sequential create then takes a number at least cversion and sorts
// after every node of the listing. sorted is in Curator's order.
func sequenceOrdered(sorted []string, cversion int32) bool {
	if cversion < 0 || cversion > wrapGuard {
		return false
	}
	prev := ""
	for _, c := range sorted {
		if !wellFormedLatchNode(c) {
			return false
		}
		key := sortKey(c)
		if key <= prev {
			return false
		}
		prev = key
		var seq int64
		for i := 0; i < len(key); i++ {
			seq = seq*10 + int64(key[i]-'0')
		}
		if seq >= int64(cversion) {
			return false
		}
	}
	return true
}

// wellFormedLatchNode reports whether name is exactly what a latch (Go or
// Curator) creates: "_c_", a 36-character uuid, "-latch-", 10 digits.
func wellFormedLatchNode(name string) bool {
	const uuidLen = 36
	if len(name) != len("_c_")+uuidLen+len("-"+nodeMarker)+10 || !strings.HasPrefix(name, "_c_") {
		return false
	}
	uuid := name[3 : 3+uuidLen]
	for i := 0; i < len(uuid); i++ {
		switch c := uuid[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	rest := name[3+uuidLen:]
	if rest[:len("-"+nodeMarker)] != "-"+nodeMarker {
		return false
	}
	for _, c := range []byte(rest[len("-"+nodeMarker):]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
