package cache

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
)

// ref is a plain map model of the tree: path -> value.
type ref map[string]int

func (r ref) clone() ref { return maps.Clone(r) }

// treeOf lists every node of the tree rooted at t as path -> value, checking the treap
// invariants on the way.
func treeOf(t *testing.T, root *tnode[int]) ref {
	t.Helper()
	out := ref{}
	var walk func(n *tnode[int])
	walk = func(n *tnode[int]) {
		if n.n != nil {
			out[n.path] = n.n.Value
		}
		checkTreap(t, n.kids, "", "\xff", ^uint32(0))
		each(n.kids, func(k *tnode[int]) bool {
			if want := join(n.path, k.name()); k.path != want {
				t.Fatalf("child path %q, want %q", k.path, want)
			}
			walk(k)
			return true
		})
	}
	walk(root)
	return out
}

func checkTreap(t *testing.T, n *tnode[int], lo, hi string, maxPrio uint32) {
	t.Helper()
	if n == nil {
		return
	}
	if !(lo < n.name() || lo == "") || !(n.name() < hi) {
		t.Fatalf("treap order broken at %q (bounds %q..%q)", n.name(), lo, hi)
	}
	if n.prio > maxPrio {
		t.Fatalf("treap heap order broken at %q", n.name())
	}
	if n.prio != prio(n.name()) {
		t.Fatalf("priority of %q is not its hash", n.name())
	}
	checkTreap(t, n.left, lo, n.name(), n.prio)
	checkTreap(t, n.right, n.name(), hi, n.prio)
}

func setValue(tr *tree[int], root, path string, v int) {
	rest, _ := relative(root, path)
	tr.update(rest, func(old *tnode[int]) *tnode[int] {
		var c *tnode[int]
		if old == nil {
			c = tr.newNode(path, 0)
		} else {
			c = tr.own(old)
		}
		c.n = &Node[int]{Path: path, Value: v}
		return c
	})
}

func remove(tr *tree[int], root, path string) {
	rest, _ := relative(root, path)
	tr.update(rest, func(*tnode[int]) *tnode[int] { return nil })
}

// Random inserts, changes and subtree removals, checked against a map after every step,
// and every sealed version checked again at the end: nothing published ever changes.
func TestTreeAgainstMap(t *testing.T) {
	for _, root := range []string{"/", "/r", "/a/b"} {
		t.Run(root, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(root))))
			var tr tree[int]
			tr.root = tr.newNode(root, 0)
			tr.root.n = &Node[int]{Path: root, Value: -1}
			model := ref{root: -1}
			type version struct {
				root  *tnode[int]
				model ref
			}
			var versions []version
			paths := []string{root}
			for step := 0; step < 3000; step++ {
				switch op := rng.IntN(10); {
				case op < 5: // a new child of a random node
					parent := paths[rng.IntN(len(paths))]
					p := join(parent, fmt.Sprintf("n%d", rng.IntN(50)))
					setValue(&tr, root, p, step)
					model[p] = step
					if !slices.Contains(paths, p) {
						paths = append(paths, p)
					}
				case op < 8: // change
					p := paths[rng.IntN(len(paths))]
					setValue(&tr, root, p, step)
					model[p] = step
				default: // remove a subtree (not the root)
					if len(paths) < 2 {
						continue
					}
					p := paths[1+rng.IntN(len(paths)-1)]
					remove(&tr, root, p)
					for k := range model {
						if k == p || strings.HasPrefix(k, p+"/") {
							delete(model, k)
						}
					}
					paths = slices.DeleteFunc(paths, func(k string) bool { return k == p || strings.HasPrefix(k, p+"/") })
				}
				if step%7 == 0 {
					if got := treeOf(t, tr.root); !maps.Equal(got, model) {
						t.Fatalf("step %d: tree %v, model %v", step, got, model)
					}
				}
				if rng.IntN(5) == 0 {
					versions = append(versions, version{tr.root, model.clone()})
					tr.seal()
				}
			}
			for i, v := range versions {
				if got := treeOf(t, v.root); !maps.Equal(got, v.model) {
					t.Fatalf("sealed version %d changed", i)
				}
			}
		})
	}
}

// The treap's shape depends only on the set of names, not on the order they came in.
func TestTreapIsCanonical(t *testing.T) {
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("child-%03d", i)
	}
	shape := func(order []string) string {
		var tr tree[int]
		tr.root = tr.newNode("/", 0)
		for _, n := range order {
			setValue(&tr, "/", "/"+n, 0)
		}
		var b strings.Builder
		var walk func(n *tnode[int])
		walk = func(n *tnode[int]) {
			if n == nil {
				b.WriteString(".")
				return
			}
			b.WriteString(n.name() + "(")
			walk(n.left)
			walk(n.right)
			b.WriteString(")")
		}
		walk(tr.root.kids)
		return b.String()
	}
	want := shape(names)
	shuffled := slices.Clone(names)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if got := shape(shuffled); got != want {
		t.Error("different insertion orders gave different treaps")
	}
}

// A change to one node of a big flat tree copies O(log n) nodes, not O(n), once the
// previous version is sealed (published).
func TestChangeCostIsLogarithmic(t *testing.T) {
	for _, n := range []int{1000, 10000} {
		var tr tree[int]
		tr.root = tr.newNode("/", 0)
		for i := range n {
			setValue(&tr, "/", fmt.Sprintf("/c%05d", i), i)
		}
		tr.seal()
		allocs := testing.AllocsPerRun(200, func() {
			setValue(&tr, "/", "/c00042", 1)
			tr.seal()
		})
		// The root, the new node, the Node value and ~2 ln n treap nodes on the way.
		if limit := 8 + 3*log2(n); allocs > float64(limit) {
			t.Errorf("%d nodes: %v allocations per change, want at most %d", n, allocs, limit)
		}
		t.Logf("%d nodes: %v allocations per change", n, allocs)
	}
}

func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

func TestSnapshotReads(t *testing.T) {
	var tr tree[int]
	tr.root = tr.newNode("/app", 0)
	tr.root.n = &Node[int]{Path: "/app", Value: 0}
	for i, p := range []string{"/app/b", "/app/a", "/app/a/x", "/app/c"} {
		setValue(&tr, "/app", p, i+1)
	}
	rest, _ := relative("/app", "/app/c")
	tr.update(rest, func(old *tnode[int]) *tnode[int] {
		c := tr.own(old)
		c.bad = undecoded
		return c
	})
	s := Snapshot[int]{&snapshot[int]{root: tr.root, rootPath: "/app", count: 4}}
	if n, ok := s.Get("/app/a/x"); !ok || n.Value != 3 || n.Name() != "x" {
		t.Errorf("Get /app/a/x = %+v, %v", n, ok)
	}
	for _, p := range []string{"/app/c", "/app/z", "/other", "/ap", "/app/a/x/y"} {
		if _, ok := s.Get(p); ok {
			t.Errorf("Get %s found something", p)
		}
	}
	var names []string
	for _, n := range s.Children("/app") {
		names = append(names, n.Name())
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("Children = %v", names)
	}
	var all []string
	for n := range s.All() {
		all = append(all, n.Path)
	}
	if !slices.Equal(all, []string{"/app", "/app/a", "/app/a/x", "/app/b"}) {
		t.Errorf("All = %v", all)
	}
	var zero Snapshot[int]
	if _, ok := zero.Get("/app"); ok || zero.Len() != 0 || zero.Children("/app") != nil {
		t.Error("zero Snapshot not empty")
	}
	for range zero.All() {
		t.Error("zero Snapshot yields")
	}
}

func TestRelative(t *testing.T) {
	for _, c := range []struct {
		root, path, rest string
		ok               bool
	}{
		{"/", "/", "", true},
		{"/", "/a/b", "a/b", true},
		{"/a", "/a", "", true},
		{"/a", "/a/b", "b", true},
		{"/a", "/ab", "", false},
		{"/a", "/", "", false},
		{"/a/b", "/a/b/c/d", "c/d", true},
	} {
		rest, ok := relative(c.root, c.path)
		if rest != c.rest || ok != c.ok {
			t.Errorf("relative(%q, %q) = %q, %v", c.root, c.path, rest, ok)
		}
	}
	if depthOf("") != 0 || depthOf("a") != 1 || depthOf("a/b/c") != 3 {
		t.Error("depthOf")
	}
}

func TestNodeName(t *testing.T) {
	for path, want := range map[string]string{"/": "", "/a": "a", "/a/bc": "bc"} {
		if got := (Node[int]{Path: path}).Name(); got != want {
			t.Errorf("Name(%q) = %q", path, got)
		}
	}
	_ = zk.Stat{}
}
