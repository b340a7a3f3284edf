package queue

import (
	"slices"
	"testing"
)

const u = "37a02f08-149f-45f3-a688-613d01e87f04"

func TestOrderKeyReadWrite(t *testing.T) {
	rw := NewOrder("__READ__", "__WRIT__")
	for _, tc := range []struct{ in, want string }{
		{"_c_" + u + "-__READ__0000000003", "0000000003"},
		{"_c_" + u + "-__WRIT__0000000004", "0000000004"},
		{"plain", "plain"},
		// Cut after the last __READ__, then after the last __WRIT__ of what is left.
		{"x__WRIT__y__READ__0000000001", "0000000001"},
		{"x__READ__y__WRIT__0000000002", "0000000002"},
	} {
		if got := rw.Key(tc.in); got != tc.want {
			t.Errorf("Key(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	sorted := rw.Sort([]string{
		"_c_b" + u[1:] + "-__WRIT__0000000002",
		"_c_a" + u[1:] + "-__READ__0000000001",
		"_c_c" + u[1:] + "-__READ__0000000000",
	})
	if !slices.Equal(sorted, []string{
		"_c_c" + u[1:] + "-__READ__0000000000",
		"_c_a" + u[1:] + "-__READ__0000000001",
		"_c_b" + u[1:] + "-__WRIT__0000000002",
	}) {
		t.Fatalf("Sort = %q", sorted)
	}
}

func TestOrderWellFormed(t *testing.T) {
	lock := NewOrder("lock-")
	rw := NewOrder("__READ__", "__WRIT__")
	for _, tc := range []struct {
		o    Order
		name string
		want bool
	}{
		{lock, "_c_" + u + "-lock-0000000001", true},
		{lock, "_c_" + u + "-latch-0000000001", false},
		{lock, "_c_" + u + "-lock-000000001", false},
		{lock, "_c_" + u + "-lock-00000000012", false},
		{lock, "_c_" + u + "lock-0000000001", false},
		{rw, "_c_" + u + "-__READ__0000000001", true},
		{rw, "_c_" + u + "-__WRIT__0000000001", true},
		{rw, "_c_" + u + "-lock-0000000001", false},
	} {
		if got := tc.o.WellFormed(tc.name); got != tc.want {
			t.Errorf("%v.WellFormed(%q) = %v", tc.o.Markers(), tc.name, got)
		}
	}
}

func TestExclusive(t *testing.T) {
	s := []string{"a", "b", "c"}
	if h, w := Exclusive(s, 0); !h || w != "" {
		t.Fatalf("first: %v %q", h, w)
	}
	if h, w := Exclusive(s, 2); h || w != "b" {
		t.Fatalf("third: %v %q", h, w)
	}
}

func TestRevokeData(t *testing.T) {
	if !IsRevoke([]byte("__REVOKE__")) || IsRevoke([]byte("__REVOKE_")) || IsRevoke(nil) {
		t.Fatal("IsRevoke")
	}
	if len(RevokeData) != 10 {
		t.Fatal("the revoke request is 10 bytes")
	}
}

func TestBackoff(t *testing.T) {
	for f := 0; f < 20; f++ {
		if d := Backoff(f); d <= 0 || d > 5e9 {
			t.Fatalf("Backoff(%d) = %v", f, d)
		}
	}
}
