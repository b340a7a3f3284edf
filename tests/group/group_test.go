package group_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/group"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// recorder keeps a member's events and lets a test wait for one.
type recorder struct {
	mu     sync.Mutex
	events []group.Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) add(ev group.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// waitFor waits until an event from index from on satisfies match; it returns the index
// after it.
func (r *recorder) waitFor(t *testing.T, from int, what string, match func(group.Event) bool) int {
	t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i := from; i < len(r.events); i++ {
			if match(r.events[i]) {
				r.mu.Unlock()
				return i + 1
			}
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline.C:
			t.Fatalf("no event: %s", what)
		}
	}
}

func (r *recorder) count(match func(group.Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if match(ev) {
			n++
		}
	}
	return n
}

func is(typ group.EventType, id string) func(group.Event) bool {
	return func(ev group.Event) bool { return ev.Type == typ && ev.ID == id }
}

func startMember(t *testing.T, c *zkrecipes.Client, path, id, payload string, rec *recorder) *group.Member {
	t.Helper()
	var data []byte // "": none, so Curator's default data
	if payload != "" {
		data = []byte(payload)
	}
	m, err := group.New(c, path, id, data)
	if err != nil {
		t.Fatal(err)
	}
	if rec != nil {
		m.Listen(rec.add)
	}
	if err := m.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, m)
	if err := m.WaitForJoin(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return m
}

func payloads(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// Members join, see each other with their payloads, hear a payload change and a member
// leaving, in order.
func TestMembersSeeEachOther(t *testing.T) {
	srv := zktest.Start(t)
	ns := namespace(t)
	ctx := testCtx(t)
	rec := newRecorder()
	a := startMember(t, connect(t, srv.Servers(), ns), "/grp", "a", "pa", rec)
	b := startMember(t, connect(t, srv.Servers(), ns), "/grp", "b", "pb", nil)
	cc := connect(t, srv.Servers(), ns)
	c, err := group.New(cc, "/grp", "c", []byte("pc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForJoin(ctx); err != nil {
		t.Fatal(err)
	}
	i := rec.waitFor(t, 0, "c joins", is(group.Joined, "c"))
	want := map[string]string{"a": "pa", "b": "pb", "c": "pc"}
	if got := payloads(a.Members()); !maps.Equal(got, want) {
		t.Errorf("a sees %v, want %v", got, want)
	}
	if err := b.SetPayload(ctx, []byte("pb2")); err != nil {
		t.Fatal(err)
	}
	i = rec.waitFor(t, i, "b's payload change", func(ev group.Event) bool {
		return ev.Type == group.Changed && ev.ID == "b" && string(ev.Old) == "pb" && string(ev.Payload) == "pb2"
	})
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, i, "c leaves", func(ev group.Event) bool { return ev.Type == group.Left && ev.ID == "c" && string(ev.Old) == "pc" })
	if got := a.IDs(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("a sees %v after c left, want [a b]", got)
	}
	if n := rec.count(func(ev group.Event) bool { return ev.Type == group.Initialized }); n != 1 {
		t.Errorf("%d Initialized events, want 1", n)
	}
}

// Go members and a Java Curator GroupMember in one group see the same members and payloads,
// and each side sees the other's changes.
func TestGroupInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := namespace(t)
	ctx := testCtx(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	rec := newRecorder()
	g := startMember(t, connect(t, srv.Servers(), ns), "/grp", "go-1", "from-go", rec)
	if err := peer.GroupStart(ctx, "j", "/grp", "java-1", "from-java"); err != nil {
		t.Fatal(err)
	}
	i := rec.waitFor(t, 0, "java-1 joins", is(group.Joined, "java-1"))
	want := map[string]string{"go-1": "from-go", "java-1": "from-java"}
	if got := payloads(g.Members()); !maps.Equal(got, want) {
		t.Errorf("Go sees %v, want %v", got, want)
	}
	waitJava := func(what string, want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(patience)
		for {
			got, err := peer.GroupMembers(ctx, "j")
			if err != nil {
				t.Fatal(err)
			}
			if maps.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Java sees %v, want %v", what, got, want)
			}
			// Java's cache has no event we can wait on through the peer: ask again.
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitJava("after both joined", want)

	if err := peer.GroupSetPayload(ctx, "j", "java-2nd"); err != nil {
		t.Fatal(err)
	}
	i = rec.waitFor(t, i, "java-1's new payload", func(ev group.Event) bool {
		return ev.Type == group.Changed && ev.ID == "java-1" && string(ev.Payload) == "java-2nd"
	})
	if err := g.SetPayload(ctx, []byte("go-2nd")); err != nil {
		t.Fatal(err)
	}
	waitJava("after Go's SetPayload", map[string]string{"go-1": "go-2nd", "java-1": "java-2nd"})

	g2 := startMember(t, connect(t, srv.Servers(), ns), "/grp", "go-2", "", nil)
	if s := string(g2.Members()["go-2"]); s == "" || strings.Contains(s, "/") {
		t.Errorf("a member without payload holds %q, want Curator's default data (an address)", s)
	}
	if err := g2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := peer.GroupClose(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, i, "java-1 leaves", is(group.Left, "java-1"))
	if got := g.IDs(); !slices.Equal(got, []string{"go-1"}) {
		t.Errorf("Go sees %v after Java left, want [go-1]", got)
	}
}

// After the server expires a member's session, the member's node comes back exactly once,
// under the new session; another member sees it leave and join again.
func TestMemberComesBackAfterSessionExpiry(t *testing.T) {
	srv := zktest.Start(t)
	ns := namespace(t)
	fd := zktest.NewFaultDialer()
	ca := connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	startMember(t, ca, "/grp", "a", "pa", nil)
	rec := newRecorder()
	b := startMember(t, connect(t, srv.Servers(), ns), "/grp", "b", "pb", rec)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	old := ca.SessionID()

	expireSession(t, ca, fd, raw, nil)
	i := rec.waitFor(t, 0, "a leaves with its session", is(group.Left, "a"))
	rec.waitFor(t, i, "a joins again", func(ev group.Event) bool {
		return ev.Type == group.Joined && ev.ID == "a" && ev.Session == ca.SessionID() && ev.Session != old
	})
	if n := rec.count(is(group.Joined, "a")); n != 2 {
		t.Errorf("a joined %d times as b saw it, want 2 (the start and once after the expiry)", n)
	}
	if got := payloads(b.Members()); !maps.Equal(got, map[string]string{"a": "pa", "b": "pb"}) {
		t.Errorf("b sees %v", got)
	}
	children, _, err := raw.Children("/" + ns + "/grp")
	if err != nil || !slices.Equal(children, []string{"a", "b"}) {
		t.Errorf("the group's nodes: %v (%v), want exactly a and b", children, err)
	}
}

// Two members with one id: the second never takes the first's node; it reports the
// conflict and joins once the first has left.
func TestConflictingIDs(t *testing.T) {
	srv := zktest.Start(t)
	ns := namespace(t)
	ctx := testCtx(t)
	first := startMember(t, connect(t, srv.Servers(), ns), "/grp", "x", "first", nil)
	c2 := connect(t, srv.Servers(), ns)
	second, err := group.New(c2, "/grp", "x", []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, second)
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	if err := second.WaitForJoin(wctx); err == nil {
		t.Fatal("the second member with the same id joined while the first holds the node")
	}
	cancel()
	if err := second.Conflict(); !errors.Is(err, group.ErrConflict) {
		t.Errorf("Conflict() = %v, want ErrConflict", err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.WaitForJoin(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Conflict(); err != nil {
		t.Errorf("Conflict() after the first left = %v, want nil", err)
	}
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	data, st, err := raw.Get("/" + ns + "/grp/x")
	if err != nil || string(data) != "second" || st.EphemeralOwner != c2.SessionID() {
		t.Errorf("x = %q owned by %x (%v), want the second member's", data, st.EphemeralOwner, err)
	}
}

// Bad arguments are refused before anything is sent.
func TestNewRejectsBadArguments(t *testing.T) {
	srv := zktest.Start(t)
	c := connect(t, srv.Servers(), namespace(t))
	for _, tc := range []struct{ path, id string }{{"grp", "a"}, {"/grp", ""}, {"/grp", "a/b"}, {"/grp", "."}} {
		if _, err := group.New(c, tc.path, tc.id, nil); err == nil {
			t.Errorf("New(%q, %q) succeeded", tc.path, tc.id)
		}
	}
}
