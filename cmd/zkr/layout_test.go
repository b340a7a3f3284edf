package main

import (
	"slices"
	"testing"
)

func TestOrderKeys(t *testing.T) {
	latch := []string{
		"_c_b2c3d4e5-0000-4000-8000-000000000000-latch-0000000002",
		"_c_a1b2c3d4-0000-4000-8000-000000000000-latch-0000000010",
		"_c_ffffffff-0000-4000-8000-000000000000-latch-0000000001",
	}
	sortByKey(latch, func(s string) string { return orderKey(s, markerLatch) })
	for i, want := range []string{"0000000001", "0000000002", "0000000010"} {
		if got := orderKey(latch[i], markerLatch); got != want {
			t.Errorf("latch order[%d] = %s, want sequence %s", i, got, want)
		}
	}
	rw := []string{"_c_x-__WRIT__0000000001", "_c_y-__READ__0000000000", "_c_z-__READ__0000000002"}
	sortByKey(rw, rwOrderKey)
	if !slices.Equal(rw, []string{"_c_y-__READ__0000000000", "_c_x-__WRIT__0000000001", "_c_z-__READ__0000000002"}) {
		t.Errorf("rw order = %v", rw)
	}
	if got := orderKey("junk", markerLock); got != "junk" {
		t.Errorf("orderKey without a marker = %q, want the whole name", got)
	}
}

func TestRecognition(t *testing.T) {
	for name, want := range map[string]string{
		"_c_a1b2c3d4-0000-4000-8000-000000000000-latch-0000000000":   "latch participant",
		"_c_a1b2c3d4-0000-4000-8000-000000000000-lock-0000000003":    "lock node",
		"_c_a1b2c3d4-0000-4000-8000-000000000000-lease-0000000003":   "semaphore lease",
		"_c_a1b2c3d4-0000-4000-8000-000000000000-__READ__0000000001": "read-lock node",
		"_c_a1b2c3d4-0000-4000-8000-000000000000-__WRIT__0000000001": "write-lock node",
		"latch-0000000000": "latch participant", // unprotected, as old Curator wrote
		"lock-manager":     "",
		"services":         "",
	} {
		if got := recipeNode(name); got != want {
			t.Errorf("recipeNode(%q) = %q, want %q", name, got, want)
		}
	}
	if !isProtected("_c_a1b2c3d4-0000-4000-8000-000000000000-latch-0000000000") || isProtected("_c_nope-latch-0000000000") {
		t.Error("isProtected")
	}
}

func TestPreview(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{nil, ""},
		{[]byte("node-1"), `"node-1"`},
		{[]byte{0, 0, 0, 7}, "4 bytes 0x00000007"},
		{[]byte("ab\x00"), "3 bytes 0x616200"},
		{[]byte("ééééééé"), `"éééééé"…`},
		{make([]byte, 20), "20 bytes 0x00000000000000000000000000000000…"},
	} {
		if got := preview(tc.data, 6); got != tc.want {
			t.Errorf("preview(%q) = %s, want %s", tc.data, got, tc.want)
		}
	}
}

func TestExitStatusOfUsageErrors(t *testing.T) {
	var out, errb stringsBuilder
	if code := run(t.Context(), []string{"leader", "show"}, &out, &errb); code != exitUsage {
		t.Errorf("leader show without PATH: exit %d, want %d", code, exitUsage)
	}
	if code := run(t.Context(), []string{"--help"}, &out, &errb); code != exitOK {
		t.Errorf("--help: exit %d, want 0", code)
	}
}

type stringsBuilder struct{ b []byte }

func (s *stringsBuilder) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
