package lock

import (
	"errors"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

func TestNodeData(t *testing.T) {
	cfg := newConfig(nil)
	if got, want := string(cfg.nodeData()), string(defaultData()); got != want {
		t.Fatalf("default data %q, want %q", got, want)
	}
	cfg = newConfig([]Option{WithRevocable()})
	if d := cfg.nodeData(); d == nil || len(d) != 0 {
		t.Fatalf("revocable data %q, want empty", d)
	}
	cfg = newConfig([]Option{WithRevocable(), WithData([]byte("x"))})
	if d := cfg.nodeData(); string(d) != "x" {
		t.Fatalf("data %q", d)
	}
	cfg = newConfig([]Option{WithData(nil)})
	if d := cfg.nodeData(); d == nil || len(d) != 0 {
		t.Fatalf("WithData(nil) gives %q, want empty", d)
	}
}

func TestOptionErrors(t *testing.T) {
	cfg := newConfig([]Option{WithData([]byte("__REVOKE__")), WithErrorPolicy(9), nil})
	if len(cfg.errs) != 2 {
		t.Fatalf("errors %v", cfg.errs)
	}
	for _, err := range cfg.errs {
		if !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("%v does not wrap ErrInvalidOption", err)
		}
	}
	if StandardPolicy.String() != "standard" || SessionPolicy.String() != "session" || ErrorPolicy(5).String() != "ErrorPolicy(5)" {
		t.Fatal("policy names")
	}
}

func TestHoldCause(t *testing.T) {
	for _, tc := range []struct {
		r      queue.Reason
		detail error
		is     []error
	}{
		{queue.Suspended, nil, []error{ErrLockLost}},
		{queue.SessionEnded, zkrecipes.ErrSessionLost, []error{ErrLockLost, zkrecipes.ErrSessionLost}},
		{queue.SessionEnded, zkrecipes.ErrClosed, []error{ErrLockLost, zkrecipes.ErrClosed}},
		{queue.NodeDeleted, nil, []error{ErrLockLost}},
		{queue.Revoked, nil, []error{ErrRevoked}},
		{queue.Stopped, nil, []error{ErrReleased}},
	} {
		got := holdCause(tc.r, tc.detail)
		for _, want := range tc.is {
			if !errors.Is(got, want) {
				t.Errorf("reason %d: %v does not match %v", tc.r, got, want)
			}
		}
		if tc.r == queue.Revoked && errors.Is(got, ErrLockLost) {
			t.Errorf("a revoke request is not a loss: %v", got)
		}
	}
}

func TestDefaultDataIsStable(t *testing.T) {
	a, b := defaultData(), defaultData()
	if string(a) != string(b) {
		t.Fatalf("%q then %q", a, b)
	}
	if len(a) > 0 {
		a[0] = 'x'
		if c := defaultData(); c[0] == 'x' {
			t.Fatal("defaultData hands out its own buffer")
		}
	}
}

func TestReadRule(t *testing.T) {
	const u = "_c_37a02f08-149f-45f3-a688-613d01e87f04-"
	r := func(seq string) string { return u + readMarker + seq }
	w := func(seq string) string { return u + writeMarker + seq }
	sorted := []string{r("0000000000"), r("0000000001"), w("0000000002"), r("0000000003"), w("0000000004"), r("0000000005")}
	for _, tc := range []struct {
		idx  int
		hold bool
		wait string
	}{
		{0, true, ""},
		{1, true, ""},
		{3, false, w("0000000002")},
		{5, false, w("0000000002")}, // the first writer, not the predecessor
	} {
		hold, wait := readRule(sorted, tc.idx)
		if hold != tc.hold || wait != tc.wait {
			t.Errorf("readRule(%d) = %v %q, want %v %q", tc.idx, hold, wait, tc.hold, tc.wait)
		}
	}
	if got := rwOrder.Sort([]string{w("0000000004"), r("0000000003"), u + readMarker + "0000000004"}); got[0] != r("0000000003") {
		t.Fatalf("order %v", got)
	}
}
