package queue

import (
	"sort"
	"strings"
)

// Order is how one recipe's nodes line up: by the text after the last occurrence of each
// marker in turn (Curator's fixForSorting, applied once per marker), compared as strings.
// A single marker ("latch-", "lock-", "lease-") is the common case; the read/write lock
// cuts after "__READ__" and then after "__WRIT__", so that readers and writers form one
// queue. A name without any marker sorts by its whole text.
//
// Keys are compared as text, never as integers: once a parent's counter passes 2^31 the
// suffix is negative, and Go and Java must still agree on the order.
type Order struct {
	markers []string
}

// NewOrder returns the order of a recipe whose nodes carry the given markers.
func NewOrder(markers ...string) Order { return Order{markers: markers} }

// Markers returns the markers the order cuts at.
func (o Order) Markers() []string { return o.markers }

// Key is the text a child is ordered by.
func (o Order) Key(child string) string {
	for _, m := range o.markers {
		if i := strings.LastIndex(child, m); i >= 0 {
			child = child[i+len(m):]
		}
	}
	return child
}

// Sort returns children (not modified) in the order every participant, Go or Java, must
// see them. Every child takes part, including ones a recipe did not write. Ties on the key
// (possible only for nodes created by hand, or a downgrade node that shares its writer's
// number) are broken by the full name, so that Go participants at least agree with each
// other.
func (o Order) Sort(children []string) []string {
	out := append([]string(nil), children...)
	sort.Slice(out, func(i, j int) bool {
		ki, kj := o.Key(out[i]), o.Key(out[j])
		if ki != kj {
			return ki < kj
		}
		return out[i] < out[j]
	})
	return out
}

// IndexOf returns the position of name in sorted, or -1.
func IndexOf(sorted []string, name string) int {
	for i, c := range sorted {
		if c == name {
			return i
		}
	}
	return -1
}

// WrapGuard bounds the parent's child version (its sequence counter) under which a
// hand-over may skip reading the children (see SequenceOrdered): the counter would have
// to move by another 2^30 during one wait to wrap.
const WrapGuard = 1 << 30

// SequenceOrdered reports whether a listing proves that nodes created after it sort after
// all of its nodes: every child is a well-formed node of this order
// (_c_<uuid>-<marker><10 digits>), their keys strictly increase, each sequence is below
// the parent's child version cversion (as the server assigns them), and that counter is
// far from the 2^31 wrap. A later sequential create then takes a number at least cversion
// and sorts after every node of the listing. sorted is in the order's order.
func (o Order) SequenceOrdered(sorted []string, cversion int32) bool {
	if cversion < 0 || cversion > WrapGuard {
		return false
	}
	prev := ""
	for _, c := range sorted {
		if !o.WellFormed(c) {
			return false
		}
		key := o.Key(c)
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

// WellFormed reports whether name is exactly what a recipe of this order (Go or Curator)
// creates: "_c_", a 36-character uuid, "-", one of the markers, 10 digits.
func (o Order) WellFormed(name string) bool {
	const uuidLen = 36
	if len(name) < len("_c_")+uuidLen+1+10 || !strings.HasPrefix(name, "_c_") {
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
	for _, m := range o.markers {
		if len(rest) != 1+len(m)+10 || rest[0] != '-' || rest[1:1+len(m)] != m {
			continue
		}
		digits := true
		for _, c := range []byte(rest[1+len(m):]) {
			if c < '0' || c > '9' {
				digits = false
				break
			}
		}
		if digits {
			return true
		}
	}
	return false
}
