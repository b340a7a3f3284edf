package discovery

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"
)

func staticSource(in ...Instance[int]) func(context.Context) ([]Instance[int], error) {
	return func(context.Context) ([]Instance[int], error) { return in, nil }
}

func inst(id string, payload int, enabled bool) Instance[int] {
	return Instance[int]{Name: "svc", ID: id, Payload: payload, Enabled: enabled}
}

func picks(t *testing.T, p *Provider[int], n int) []string {
	t.Helper()
	var out []string
	for range n {
		in, err := p.Instance(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in.ID)
	}
	return out
}

func TestProviderRoundRobinAndFilters(t *testing.T) {
	src := staticSource(inst("a", 1, true), inst("b", 2, true), inst("c", 3, false), inst("d", 4, true))
	p, err := newProvider(src, WithFilter(func(i Instance[int]) bool { return i.Payload != 4 }))
	if err != nil {
		t.Fatal(err)
	}
	got := picks(t, p, 5)
	if want := []string{"a", "b", "a", "b", "a"}; !equal(got, want) {
		t.Errorf("round robin over filtered, enabled instances: %v, want %v", got, want)
	}
	all, _ := p.All(context.Background())
	if ids := ids(all); !equal(ids, []string{"a", "b"}) {
		t.Errorf("All = %v", ids)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestProviderNoInstances(t *testing.T) {
	p, _ := newProvider(staticSource(inst("a", 1, false)))
	if _, err := p.Instance(context.Background()); !errors.Is(err, ErrNoInstances) {
		t.Errorf("Instance = %v, want ErrNoInstances", err)
	}
}

func TestProviderDownInstancePolicy(t *testing.T) {
	p, err := newProvider(staticSource(inst("a", 1, true), inst("b", 2, true)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	p.down.now = func() time.Time { return now }
	a := inst("a", 1, true)
	p.NoteError(a)
	if all, _ := p.All(context.Background()); len(all) != 2 {
		t.Errorf("one error took a down: %v", ids(all))
	}
	now = now.Add(29 * time.Second)
	p.NoteError(a)
	if all, _ := p.All(context.Background()); !equal(ids(all), []string{"b"}) {
		t.Errorf("two errors within 30 s: %v, want only b", ids(all))
	}
	now = now.Add(time.Second) // 30 s after the first error: the window ends
	if all, _ := p.All(context.Background()); len(all) != 2 {
		t.Errorf("a still down after the window: %v", ids(all))
	}
	// Errors in different windows do not add up.
	p.NoteError(a)
	now = now.Add(31 * time.Second)
	p.NoteError(a)
	if all, _ := p.All(context.Background()); len(all) != 2 {
		t.Errorf("errors 31 s apart took a down: %v", ids(all))
	}
}

func TestProviderCustomDownPolicy(t *testing.T) {
	p, err := newProvider(staticSource(inst("a", 1, true)), WithDownInstancePolicy(1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p.NoteError(inst("a", 1, true))
	if _, err := p.Instance(context.Background()); !errors.Is(err, ErrNoInstances) {
		t.Errorf("after one error with threshold 1: %v", err)
	}
}

func TestProviderOptionsValidated(t *testing.T) {
	for name, opt := range map[string]ProviderOption{
		"nil strategy": WithStrategy(nil),
		"nil filter":   WithFilter[int](nil),
		"wrong filter": WithFilter(func(Instance[string]) bool { return true }),
		"zero errors":  WithDownInstancePolicy(0, time.Second),
		"zero window":  WithDownInstancePolicy(2, 0),
	} {
		if _, err := newProvider(staticSource(), opt); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := NewProvider[int](nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil cache: %v", err)
	}
}

func TestStrategies(t *testing.T) {
	ids := []string{"a", "b", "c"}
	rr := RoundRobin()
	for i := range 7 {
		if got := rr.Pick(ids); got != i%3 {
			t.Errorf("round robin pick %d = %d", i, got)
		}
	}
	r := Random()
	seen := map[int]bool{}
	for range 300 {
		i := r.Pick(ids)
		if i < 0 || i >= 3 {
			t.Fatalf("random picked %d", i)
		}
		seen[i] = true
	}
	if len(seen) != 3 {
		t.Errorf("random never picked some: %v", seen)
	}
	s := Sticky(RoundRobin())
	first := s.Pick(ids)
	for range 5 {
		if got := s.Pick(ids); ids[got] != ids[first] {
			t.Errorf("sticky moved from %s to %s", ids[first], ids[got])
		}
	}
	rest := append([]string(nil), ids[:first]...)
	rest = append(rest, ids[first+1:]...)
	moved := s.Pick(rest)
	if rest[moved] == ids[first] {
		t.Error("sticky kept a gone instance")
	}
	if again := s.Pick(ids); ids[again] != rest[moved] {
		t.Errorf("sticky did not stick to its new choice %s: %s", rest[moved], ids[again])
	}
}

func TestProviderWithStrategy(t *testing.T) {
	p, err := newProvider(staticSource(inst("a", 1, true), inst("b", 2, true)), WithStrategy(Sticky(Random())))
	if err != nil {
		t.Fatal(err)
	}
	got := picks(t, p, 4)
	for _, id := range got {
		if id != got[0] {
			t.Errorf("sticky provider: %v", got)
		}
	}
}

func ids[T any](in []Instance[T]) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.ID
	}
	sort.Strings(out)
	return out
}
