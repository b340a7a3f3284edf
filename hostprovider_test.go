package zkrecipes

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"
)

// The host provider is pure logic over a resolver and a sleep; these tests fake both. Its
// behaviour against real servers is covered in hostprovider_real_test.go.

type fakeResolver struct {
	addrs   map[string][]string
	lookups []string
}

func (r *fakeResolver) lookup(_ context.Context, host string) ([]string, error) {
	r.lookups = append(r.lookups, host)
	if a, ok := r.addrs[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

type fakeProvider struct {
	*hostProvider
	res   *fakeResolver
	waits []time.Duration
}

func newFakeProvider(t *testing.T, life context.Context, addrs map[string][]string, servers ...string) *fakeProvider {
	t.Helper()
	f := &fakeProvider{res: &fakeResolver{addrs: addrs}}
	f.hostProvider = newHostProvider(life, slog.New(slog.DiscardHandler))
	f.lookup = f.res.lookup
	f.jitter = func(d time.Duration) time.Duration { return d }
	f.wait = func(_ context.Context, d time.Duration) { f.waits = append(f.waits, d) }
	if err := f.Init(servers); err != nil {
		t.Fatal(err)
	}
	// Undo the shuffle: the tests want the given order.
	for i, s := range servers {
		f.hosts[i].raw = s
		f.hosts[i].host, f.hosts[i].port, _ = net.SplitHostPort(s)
	}
	return f
}

// next calls Next n times and returns the servers and the retryStart flags.
func (f *fakeProvider) next(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for range n {
		s, retry := f.Next()
		if retry {
			t.Fatalf("Next() = %q, retryStart = true on an open client", s)
		}
		got = append(got, s)
	}
	return got
}

func TestHostProviderRotationAndBackoff(t *testing.T) {
	f := newFakeProvider(t, context.Background(), map[string][]string{
		"a": {"10.0.0.1"},
		"b": {"10.0.0.2", "10.0.0.3"},
	}, "a:2181", "b:2182", "10.0.0.9:2183")

	got := f.next(t, 4)
	want := []string{"10.0.0.1:2181", "10.0.0.2:2182", "10.0.0.3:2182", "10.0.0.9:2183"}
	if !slices.Equal(got, want) {
		t.Fatalf("first pass %v, want %v", got, want)
	}
	if len(f.waits) != 0 {
		t.Fatalf("first pass waited %v", f.waits)
	}
	// Every server failed: each later pass waits, longer each time, up to the cap.
	for pass := 1; pass <= 8; pass++ {
		got = f.next(t, 4)
		if !slices.Equal(got, want) {
			t.Fatalf("pass %d: %v, want %v", pass, got, want)
		}
	}
	wantWaits := []time.Duration{20, 40, 80, 160, 320, 500, 500, 500}
	for i := range wantWaits {
		wantWaits[i] *= time.Millisecond
	}
	if !slices.Equal(f.waits, wantWaits) {
		t.Fatalf("backoffs %v, want %v", f.waits, wantWaits)
	}
	// Names are looked up on every pass (IP literals never).
	if n := len(f.res.lookups); n != 2*9 {
		t.Fatalf("%d lookups in 9 passes over 2 names: %v", n, f.res.lookups)
	}

	// A session resets the backoff; the next pass starts at once with the servers after
	// the one connected to, that one last.
	if s, _ := f.Next(); s != "10.0.0.1:2181" {
		t.Fatalf("Next() = %q", s)
	}
	f.Connected()
	f.waits = nil
	got = f.next(t, 4)
	want = []string{"10.0.0.2:2182", "10.0.0.3:2182", "10.0.0.9:2183", "10.0.0.1:2181"}
	if !slices.Equal(got, want) || len(f.waits) != 0 {
		t.Fatalf("after a session: %v (waits %v), want %v at once", got, f.waits, want)
	}
	f.next(t, 1)
	if !slices.Equal(f.waits, []time.Duration{20 * time.Millisecond}) {
		t.Fatalf("second pass after a session waited %v, want 20ms", f.waits)
	}
}

func TestHostProviderSkipsUnresolvableAndFollowsDNS(t *testing.T) {
	addrs := map[string][]string{"good": {"10.0.0.1"}}
	f := newFakeProvider(t, context.Background(), addrs, "no-such-host.invalid:2181", "good:2181")
	for pass := range 3 {
		if got := f.next(t, 1); got[0] != "10.0.0.1:2181" {
			t.Fatalf("pass %d: %v, want only the good server", pass, got)
		}
	}
	// The name moves: the next pass dials the new address.
	addrs["good"] = []string{"10.0.0.7"}
	if got := f.next(t, 1); got[0] != "10.0.0.7:2181" {
		t.Fatalf("after a DNS change: %v", got)
	}
	// The bad name starts to resolve: it joins the rotation.
	addrs["no-such-host.invalid"] = []string{"10.0.0.8"}
	got := f.next(t, 2)
	if !slices.Equal(got, []string{"10.0.0.8:2181", "10.0.0.7:2181"}) {
		t.Fatalf("after the name resolves: %v", got)
	}
}

func TestHostProviderNothingResolves(t *testing.T) {
	f := newFakeProvider(t, context.Background(), nil, "x.invalid:1", "y.invalid:2")
	// Next still returns (a name as given) so go-zk's loop goes on, and backs off.
	for range 4 {
		f.next(t, 1)
	}
	if len(f.waits) != 3 {
		t.Fatalf("waits %v over 4 empty passes", f.waits)
	}
}

func TestHostProviderClosing(t *testing.T) {
	life, cancel := context.WithCancel(context.Background())
	f := newFakeProvider(t, life, map[string][]string{"a": {"10.0.0.1"}}, "a:1", "b.invalid:2")
	f.next(t, 1)
	cancel()
	// Once the Client closes: no backoff, no lookups, and retryStart at every pass end so
	// go-zk's loop sees its Close.
	lookups := len(f.res.lookups)
	var starts int
	for range 6 {
		if _, retry := f.Next(); retry {
			starts++
		}
	}
	if starts != 3 || len(f.waits) != 0 || len(f.res.lookups) != lookups {
		t.Fatalf("closing: %d retryStarts in 3 passes, waits %v, %d lookups", starts, f.waits, len(f.res.lookups)-lookups)
	}
}

func TestHostProviderWaitEndsAtClose(t *testing.T) {
	life, cancel := context.WithCancel(context.Background())
	p := newHostProvider(life, slog.New(slog.DiscardHandler))
	p.jitter = func(time.Duration) time.Duration { return time.Hour }
	if err := p.Init([]string{"127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	p.Next()
	done := make(chan bool)
	go func() {
		_, retry := p.Next() // waits "an hour" for the second pass, until the close
		done <- retry
	}()
	cancel()
	if !<-done {
		t.Fatal("Next after close: retryStart false")
	}
}

func TestHostProviderFlushesQueuedCalls(t *testing.T) {
	f := newFakeProvider(t, context.Background(), nil, "10.0.0.1:1", "10.0.0.2:2")
	queued := true
	f.queued = func() bool { return queued }
	f.next(t, 2) // the first pass after a disconnection: never a retryStart
	// A failed pass with a call still in go-zk: retryStart, so that go-zk fails it
	// unsent; go-zk then pauses by itself, so the provider does not wait too.
	if s, retry := f.Next(); !retry || s != "10.0.0.1:1" {
		t.Fatalf("Next() = %q, %v after a failed pass with a queued call, want retryStart", s, retry)
	}
	if s, retry := f.Next(); retry || s != "10.0.0.2:2" {
		t.Fatalf("Next() = %q, %v in mid-pass, want no retryStart", s, retry)
	}
	queued = false
	f.next(t, 2)
	if len(f.waits) != 1 {
		t.Fatalf("waits %v: want only the pass without a queued call to back off", f.waits)
	}
}

// While the session may still be alive the backoff stays at most hostBackoffFast, so a
// server that comes back in time is found quickly; after the session timeout it grows to
// hostBackoffMax.
func TestHostProviderFastWhileSessionMayLive(t *testing.T) {
	f := newFakeProvider(t, context.Background(), nil, "10.0.0.1:2181")
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }
	f.sessionTimeout = func() time.Duration { return 4 * time.Second }
	for range 12 {
		f.next(t, 1)
		now = now.Add(300 * time.Millisecond) // one failed dial
	}
	for i, d := range f.waits {
		elapsed := time.Duration(i) * 300 * time.Millisecond
		limit := hostBackoffFast
		if elapsed >= 4*time.Second {
			limit = hostBackoffMax
		}
		if d > limit {
			t.Errorf("wait %d (%v into the outage) = %v, want at most %v", i, elapsed, d, limit)
		}
	}
	// Past the session timeout the cap is the slow one again.
	now = now.Add(10 * time.Second)
	for range 8 {
		f.next(t, 1)
	}
	if last := f.waits[len(f.waits)-1]; last != hostBackoffMax {
		t.Errorf("the wait long after the session timeout = %v, want %v", last, hostBackoffMax)
	}
}

// The session handshake's bound starts short and doubles per timed-out handshake, up to
// the configured one.
func TestHandshakeBoundGrows(t *testing.T) {
	n := &negotiatedTimeout{handshake: 4 * time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, n.handshakeBound())
		n.stalls.Add(1)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("bounds %v, want %v", got, want)
	}
	n.stalls.Store(0)
	if b := n.handshakeBound(); b != handshakeFirst {
		t.Errorf("after a session: %v, want %v", b, handshakeFirst)
	}
}
