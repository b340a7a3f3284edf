package cache_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// seqStep is one step of the event-sequence script: what the writer does, and the events
// both caches must report for it, rendered as curatortest.TreeEvent.String does.
type seqStep struct {
	what string
	do   func(w writer)
	want []string
}

// subtree reports whether the step deletes several znodes (in one transaction). CuratorCache
// reports them in the transaction's order (its one recursive watch fires in that order);
// the Go cache promises only that each znode comes after its descendants (cache/doc.go),
// so its events are checked as that: the same events, descendants first.
func (s seqStep) subtree() bool {
	for _, ev := range s.want {
		if !strings.HasPrefix(ev, "NODE_DELETED ") {
			return false
		}
	}
	return len(s.want) > 1
}

// descendantsFirst reports whether evs (rendered NODE_DELETED events) hold the same events
// as want, each znode's after those of its descendants.
func descendantsFirst(evs, want []string) bool {
	if !slices.Equal(slices.Sorted(slices.Values(evs)), slices.Sorted(slices.Values(want))) {
		return false
	}
	path := func(ev string) string {
		p := strings.TrimPrefix(ev, "NODE_DELETED ")
		return p[:strings.IndexByte(p, '=')]
	}
	for i, a := range evs {
		for _, b := range evs[i+1:] {
			if strings.HasPrefix(path(b), path(a)+"/") {
				return false // a's descendant b came after a
			}
		}
	}
	return true
}

// The same script of changes, applied by a Go writer step by step, is reported by a Go
// cache (unlimited depth) and by Java Curator's CuratorCache with the same sequence of
// (event type, path, data). Each step waits until both caches have reported it before the
// next one starts: the Go cache may coalesce undelivered events and report events of
// different znodes in read-completion order, so this compares semantics, not timing.
//
// Differences by design, asserted in their documented form:
//   - The initial load: the Go cache reports it in tree order (depth first: parents first,
//     children by name); CuratorCache in the order its background reads complete (seen:
//     level by level, /seq, /seq/p1, /seq/p2, /seq/p1/q). Compared as a set, Initialized
//     last on both sides.
//   - Several znodes deleted in one transaction (seqStep.subtree): CuratorCache reports
//     them in the transaction's order; the Go cache each after its descendants, siblings
//     and cousins in any order (seen: the root's deletion reported /seq/p2 before /seq/p1,
//     whose child came first in the transaction).
func TestEventSequenceMatchesCurator(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	reader := connect(t, srv, ns)
	const root = "/seq"
	for _, n := range [][2]string{{root, "root"}, {root + "/p1", "p1"}, {root + "/p1/q", "q"}, {root + "/p2", "p2"}} {
		w.create(n[0], n[1])
	}

	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	if err := java.CuratorCacheStart(ctx, "cc", root); err != nil {
		t.Fatal(err)
	}
	c, rec := startCache(t, reader, root, cache.String)

	// goEvents renders the Go cache's node events and Initialized like TreeEvent.String.
	goEvents := func() []string {
		var out []string
		for _, ev := range rec.All() {
			switch ev.Type {
			case cache.NodeCreated:
				out = append(out, curatortest.TreeEvent{Type: "NODE_CREATED", Path: ev.Path, New: ev.New.Data}.String())
			case cache.NodeChanged:
				out = append(out, curatortest.TreeEvent{Type: "NODE_CHANGED", Path: ev.Path, Old: ev.Old.Data, New: ev.New.Data}.String())
			case cache.NodeDeleted:
				out = append(out, curatortest.TreeEvent{Type: "NODE_DELETED", Path: ev.Path, Old: ev.Old.Data}.String())
			case cache.Initialized:
				out = append(out, "initialized")
			case cache.Error, cache.Resynced:
				out = append(out, line(ev))
			}
		}
		return out
	}
	// awaitGo waits until the Go cache has reported n events (as goEvents counts them).
	awaitGo := func(what string, n int) []string {
		t.Helper()
		deadline := time.NewTimer(testkit.Patience)
		defer deadline.Stop()
		for {
			evs := goEvents()
			if len(evs) >= n {
				return evs
			}
			select {
			case <-rec.Notify():
			case <-deadline.C:
				t.Fatalf("%s: the Go cache reported %d of %d events:\n%s", what, len(evs), n, strings.Join(evs, "\n"))
			}
		}
	}
	awaitJava := func(what string, n int) []string {
		t.Helper()
		evs, err := java.WaitCuratorCache(ctx, "cc", n)
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.String()
		}
		if err != nil {
			t.Fatalf("%s: %v; CuratorCache reported:\n%s", what, err, strings.Join(out, "\n"))
		}
		return out
	}

	initial := []string{
		"NODE_CREATED /seq=root", "NODE_CREATED /seq/p1=p1", "NODE_CREATED /seq/p1/q=q", "NODE_CREATED /seq/p2=p2",
	}
	gotGo := awaitGo("initial load", len(initial)+1)
	gotJava := awaitJava("initial load", len(initial)+1)
	if want := append(slices.Clone(initial), "initialized"); !slices.Equal(gotGo, want) {
		t.Fatalf("Go initial load:\n%s\nwant\n%s", strings.Join(gotGo, "\n"), strings.Join(want, "\n"))
	}
	if gotJava[len(initial)] != "initialized" {
		t.Fatalf("CuratorCache initial load:\n%s", strings.Join(gotJava, "\n"))
	}
	if j := slices.Sorted(slices.Values(gotJava[:len(initial)])); !slices.Equal(j, slices.Sorted(slices.Values(initial))) {
		t.Fatalf("CuratorCache initial load:\n%s\nwant, in any order\n%s", strings.Join(gotJava, "\n"), strings.Join(initial, "\n"))
	}

	del := func(paths ...string) func(w writer) {
		return func(w writer) {
			ops := make([]any, len(paths))
			for i, p := range paths {
				ops[i] = &zk.DeleteRequest{Path: p, Version: -1}
			}
			if _, err := w.c.Multi(testkit.Ctx(w.t), ops...); err != nil {
				w.t.Fatalf("delete %v: %v", paths, err)
			}
		}
	}
	create := func(p, data string) func(w writer) { return func(w writer) { w.create(p, data) } }
	set := func(p, data string) func(w writer) { return func(w writer) { w.set(p, data) } }
	script := []seqStep{
		{"create at depth 1", create("/seq/a", "a1"), []string{"NODE_CREATED /seq/a=a1"}},
		{"create at depth 2", create("/seq/a/b", "b1"), []string{"NODE_CREATED /seq/a/b=b1"}},
		{"create at depth 3", create("/seq/a/b/c", "c1"), []string{"NODE_CREATED /seq/a/b/c=c1"}},
		{"set data", set("/seq/a", "a2"), []string{"NODE_CHANGED /seq/a a1>a2"}},
		{"set identical data", set("/seq/a", "a2"), []string{"NODE_CHANGED /seq/a a2>a2"}},
		{"set data at depth 3", set("/seq/a/b/c", "c2"), []string{"NODE_CHANGED /seq/a/b/c c1>c2"}},
		{"set the root's data", set("/seq", "root2"), []string{"NODE_CHANGED /seq root>root2"}},
		{"delete a leaf", del("/seq/a/b/c"), []string{"NODE_DELETED /seq/a/b/c=c2"}},
		{"create a sibling", create("/seq/a/b/x", "x"), []string{"NODE_CREATED /seq/a/b/x=x"}},
		{"create another sibling", create("/seq/a/b/y", "y"), []string{"NODE_CREATED /seq/a/b/y=y"}},
		{"create with empty data", create("/seq/e", ""), []string{"NODE_CREATED /seq/e="}},
		{"delete a parent with its subtree, in one transaction", del("/seq/a/b/x", "/seq/a/b/y", "/seq/a/b", "/seq/a"),
			[]string{"NODE_DELETED /seq/a/b/x=x", "NODE_DELETED /seq/a/b/y=y", "NODE_DELETED /seq/a/b=b1", "NODE_DELETED /seq/a=a2"}},
		{"delete a node", del("/seq/p2"), []string{"NODE_DELETED /seq/p2=p2"}},
		{"create it again under the same name", create("/seq/p2", "p2b"), []string{"NODE_CREATED /seq/p2=p2b"}},
		{"delete and create again in one transaction", func(w writer) {
			if _, err := w.c.Multi(testkit.Ctx(w.t), &zk.DeleteRequest{Path: "/seq/p1/q", Version: -1},
				&zk.CreateRequest{Path: "/seq/p1/q", Data: []byte("q2"), Acl: zk.WorldACL(zk.PermAll)}); err != nil {
				w.t.Fatal(err)
			}
		}, []string{"NODE_DELETED /seq/p1/q=q", "NODE_CREATED /seq/p1/q=q2"}},
		{"delete the root with its subtree, in one transaction", del("/seq/e", "/seq/p1/q", "/seq/p1", "/seq/p2", "/seq"),
			[]string{"NODE_DELETED /seq/e=", "NODE_DELETED /seq/p1/q=q2", "NODE_DELETED /seq/p1=p1", "NODE_DELETED /seq/p2=p2b", "NODE_DELETED /seq=root2"}},
		{"create the root again", create("/seq", "root3"), []string{"NODE_CREATED /seq=root3"}},
		{"create the end marker", create("/seq/marker", "end"), []string{"NODE_CREATED /seq/marker=end"}},
	}
	n := len(initial) + 1
	for _, st := range script {
		st.do(w)
		gotGo := awaitGo(st.what, n+len(st.want))
		gotJava := awaitJava(st.what, n+len(st.want))
		if g := gotGo[n:]; slices.Equal(g, st.want) {
		} else if st.subtree() && descendantsFirst(g, st.want) {
			t.Logf("%s: the Go cache's order, descendants first:\n%s", st.what, strings.Join(g, "\n"))
		} else {
			t.Errorf("%s: the Go cache reported\n%s\nwant\n%s", st.what, strings.Join(g, "\n"), strings.Join(st.want, "\n"))
		}
		if j := gotJava[n:]; !slices.Equal(j, st.want) {
			t.Errorf("%s: CuratorCache reported\n%s\nwant\n%s", st.what, strings.Join(j, "\n"), strings.Join(st.want, "\n"))
		}
		if t.Failed() {
			t.FailNow()
		}
		n += len(st.want)
	}
	// Quiescent: nothing beyond the script came, or comes by the time the Go cache has
	// delivered everything (Sync) and Java has answered a command issued after the marker.
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := java.Children(ctx, root); err != nil {
		t.Fatal(err)
	}
	if g := goEvents(); len(g) != n {
		t.Errorf("the Go cache reported more than the script:\n%s", strings.Join(g[n:], "\n"))
	}
	if j, _ := java.CuratorCacheEvents("cc"); len(j) != n {
		t.Errorf("CuratorCache reported %d events, want %d", len(j), n)
	}
}
