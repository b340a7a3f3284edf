package leader

import (
	"slices"
	"testing"
)

func TestSortKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"_c_37a02f08-149f-45f3-a688-613d01e87f04-latch-0000000007", "0000000007"},
		{"latch-0000000001", "0000000001"},
		{"foo", "foo"},
		{"a-latch-b-latch-0000000003", "0000000003"}, // the last marker counts
		{"x-latch-", ""},
		{"_c_37a02f08-149f-45f3-a688-613d01e87f04-lock-0000000002", "_c_37a02f08-149f-45f3-a688-613d01e87f04-lock-0000000002"},
	} {
		if got := sortKey(tc.in); got != tc.want {
			t.Errorf("sortKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSortChildrenCuratorOrder(t *testing.T) {
	children := []string{
		"_c_b0000000-0000-4000-8000-000000000000-latch-0000000010",
		"_c_a0000000-0000-4000-8000-000000000000-latch-0000000002",
		"_c_c0000000-0000-4000-8000-000000000000-latch-0000000009",
		// After 2^31 creates the suffix is negative: as text it sorts
		// first, as Curator does; an integer sort would differ.
		"_c_d0000000-0000-4000-8000-000000000000-latch--2147483648",
		"manual",
		"latch-0000000003",
	}
	in := slices.Clone(children)
	got := sortChildren(children)
	want := []string{
		"_c_d0000000-0000-4000-8000-000000000000-latch--2147483648",
		"_c_a0000000-0000-4000-8000-000000000000-latch-0000000002",
		"latch-0000000003",
		"_c_c0000000-0000-4000-8000-000000000000-latch-0000000009",
		"_c_b0000000-0000-4000-8000-000000000000-latch-0000000010",
		"manual",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sortChildren:\n got %q\nwant %q", got, want)
	}
	if !slices.Equal(children, in) {
		t.Fatalf("sortChildren modified its input")
	}
	if indexOf(got, "manual") != 5 || indexOf(got, "nope") != -1 {
		t.Fatalf("indexOf is wrong")
	}
}

func TestSortChildrenTiesAreDeterministic(t *testing.T) {
	a := sortChildren([]string{"y-latch-0000000001", "x-latch-0000000001"})
	b := sortChildren([]string{"x-latch-0000000001", "y-latch-0000000001"})
	if !slices.Equal(a, b) || a[0] != "x-latch-0000000001" {
		t.Fatalf("ties not broken by name: %q vs %q", a, b)
	}
}

func TestHasForeignNodes(t *testing.T) {
	if hasForeignNodes([]string{"_c_a-latch-0000000001", "latch-0000000002"}) {
		t.Error("latch nodes reported as foreign")
	}
	if !hasForeignNodes([]string{"_c_a-latch-0000000001", "_c_b-lock-0000000002"}) {
		t.Error("a LeaderSelector node was not noticed")
	}
}

func TestSequenceOrdered(t *testing.T) {
	n := func(u, seq string) string { return "_c_" + u + "0000000-0000-4000-8000-000000000000-latch-" + seq }
	good := []string{n("a", "0000000003"), n("b", "0000000007")}
	for _, tc := range []struct {
		name     string
		sorted   []string
		cversion int32
		want     bool
	}{
		{"latch nodes", good, 8, true},
		{"sequence not given yet", good, 7, false},
		{"near the wrap", good, wrapGuard + 1, false},
		{"wrapped counter", good, -5, false},
		{"wrapped node", []string{n("c", "-000000001"), n("a", "0000000003")}, 8, false},
		{"lock node", append(slices.Clone(good), "_c_e0000000-0000-4000-8000-000000000000-lock-0000000004"), 8, false},
		{"no protection prefix", []string{"latch-0000000001", n("a", "0000000003")}, 8, false},
		{"hand-made", []string{n("a", "0000000003"), "x-latch-0000000004"}, 8, false},
		{"bad uuid", []string{"_c_z0000000-0000-4000-8000-000000000000-latch-0000000001"}, 8, false},
		{"short sequence", []string{n("a", "000000003")}, 8, false},
		{"tie", []string{n("a", "0000000003"), n("b", "0000000003")}, 8, false},
	} {
		if got := sequenceOrdered(tc.sorted, tc.cversion); got != tc.want {
			t.Errorf("%s: sequenceOrdered = %v, want %v", tc.name, got, tc.want)
		}
	}
}
