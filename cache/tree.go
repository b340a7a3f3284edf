package cache

import "strings"

// The cache's content is a persistent (immutable) tree shaped like the ZooKeeper subtree
// it mirrors: every cached znode is one tnode, and the children of a tnode form a treap
// (a binary search tree by name, heap-ordered by a hash of the name) rooted at its kids
// field. A change copies the tnodes on the way from the root to the changed one, within
// each treap only the O(log k) nodes above it, and shares everything else with the
// previous version. So a Snapshot is one pointer, a change costs
// O(depth × log(children per level)), never O(size), and a reader holding an old version
// never sees it change.
//
// Nodes created since the last version was published (batch == the tree's batch) are not
// reachable from any Snapshot yet and are changed in place, so a bulk load (Start, a
// resync) builds its version without copying.

// tnode is one znode of the tree, and also its own node in its parent's treap.
type tnode[T any] struct {
	path        string    // the znode's path relative to the Client's namespace
	off         uint32    // the name is path[off:], sharing the path's bytes
	prio        uint32    // treap priority: a hash of the name, so the shape is canonical
	batch       uint32    // the tree batch that made this copy (see tree.own)
	bad         badness   // why n is not visible, if it is not
	left, right *tnode[T] // siblings in the parent's treap
	kids        *tnode[T] // root of the children's treap
	gen         uint64    // which incarnation of path this is, for the loop (see loop.result)
	n           *Node[T]  // the znode as last read; nil until it has been read
}

func (t *tnode[T]) name() string { return t.path[t.off:] }

// badness says why a znode that exists is left out of the cache.
type badness uint8

const (
	good       badness = iota
	undecoded          // its data did not decode
	unreadable         // the Client may not read it (NoAuth); n holds only its stat
)

// visible returns the node as listeners and readers see it, nil when it is not visible.
func (t *tnode[T]) visible() *Node[T] {
	if t == nil || t.bad != good {
		return nil
	}
	return t.n
}

// prio is a 32-bit mix of FNV-1a over the name.
func prio(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// tree is the loop's handle on the current version.
type tree[T any] struct {
	root  *tnode[T]
	batch uint32
}

// newNode returns a tnode for path owned by the current batch.
func (tr *tree[T]) newNode(path string, gen uint64) *tnode[T] {
	off := strings.LastIndexByte(path, '/') + 1
	return &tnode[T]{path: path, off: uint32(off), prio: prio(path[off:]), batch: tr.batch, gen: gen}
}

// own returns t itself if the current batch made it, else a copy owned by the batch.
func (tr *tree[T]) own(t *tnode[T]) *tnode[T] {
	if t.batch == tr.batch {
		return t
	}
	c := *t
	c.batch = tr.batch
	return &c
}

// seal ends the batch: everything reachable now may be published and is never changed in
// place again.
func (tr *tree[T]) seal() { tr.batch++ }

// find returns the node named name in the treap t.
func find[T any](t *tnode[T], name string) *tnode[T] {
	for t != nil {
		switch c := strings.Compare(name, t.name()); {
		case c < 0:
			t = t.left
		case c > 0:
			t = t.right
		default:
			return t
		}
	}
	return nil
}

// put returns the treap t with x in place of its node of the same name, or added. x must
// be owned by the batch; its left and right are set here.
func (tr *tree[T]) put(t, x *tnode[T]) *tnode[T] {
	if t == nil {
		x.left, x.right = nil, nil
		return x
	}
	switch c := strings.Compare(x.name(), t.name()); {
	case c == 0:
		x.left, x.right = t.left, t.right
		return x
	case c < 0:
		l := tr.put(t.left, x)
		t = tr.own(t)
		t.left = l
		if l.prio > t.prio { // rotate right; l is owned
			t.left, l.right = l.right, t
			return l
		}
	default:
		r := tr.put(t.right, x)
		t = tr.own(t)
		t.right = r
		if r.prio > t.prio { // rotate left
			t.right, r.left = r.left, t
			return r
		}
	}
	return t
}

// del returns the treap t without its node named name.
func (tr *tree[T]) del(t *tnode[T], name string) *tnode[T] {
	if t == nil {
		return nil
	}
	switch c := strings.Compare(name, t.name()); {
	case c < 0:
		l := tr.del(t.left, name)
		if l == t.left {
			return t
		}
		t = tr.own(t)
		t.left = l
	case c > 0:
		r := tr.del(t.right, name)
		if r == t.right {
			return t
		}
		t = tr.own(t)
		t.right = r
	default:
		return tr.merge(t.left, t.right)
	}
	return t
}

// merge joins two treaps, every name in a before every name in b.
func (tr *tree[T]) merge(a, b *tnode[T]) *tnode[T] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a = tr.own(a)
		a.right = tr.merge(a.right, b)
		return a
	default:
		b = tr.own(b)
		b.left = tr.merge(a, b.left)
		return b
	}
}

// nextElem splits a relative path "b/c" into "b" and "c".
func nextElem(rest string) (elem, after string) {
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	return rest, ""
}

// lookup returns the node at rest (a path relative to the tree's root, "" for the root
// itself), nil when there is none.
func lookup[T any](t *tnode[T], rest string) *tnode[T] {
	for t != nil && rest != "" {
		var elem string
		elem, rest = nextElem(rest)
		t = find(t.kids, elem)
	}
	return t
}

// update replaces the node at rest by fn(old): fn gets the current node (nil when the
// parent has no such child) and returns the new one, owned by the batch, or nil to remove
// it with its subtree. Nothing happens when a parent on the way is missing, or when fn
// returns old unchanged.
func (tr *tree[T]) update(rest string, fn func(old *tnode[T]) *tnode[T]) {
	tr.root = tr.updateAt(tr.root, rest, fn)
}

func (tr *tree[T]) updateAt(t *tnode[T], rest string, fn func(*tnode[T]) *tnode[T]) *tnode[T] {
	if rest == "" {
		return fn(t)
	}
	if t == nil {
		return nil
	}
	elem, after := nextElem(rest)
	child := find(t.kids, elem)
	if child == nil && after != "" {
		return t
	}
	nc := tr.updateAt(child, after, fn)
	if nc == child {
		return t
	}
	t = tr.own(t)
	if nc == nil {
		t.kids = tr.del(t.kids, elem)
	} else {
		t.kids = tr.put(t.kids, nc)
	}
	return t
}

// each calls fn for every node of the treap t in name order, until fn returns false.
func each[T any](t *tnode[T], fn func(*tnode[T]) bool) bool {
	for t != nil {
		if !each(t.left, fn) || !fn(t) {
			return false
		}
		t = t.right
	}
	return true
}

// postorder calls fn for every node of the subtree at t, children (by name) before their
// parent, t last.
func postorder[T any](t *tnode[T], fn func(*tnode[T])) {
	each(t.kids, func(k *tnode[T]) bool {
		postorder(k, fn)
		return true
	})
	fn(t)
}

// preorder calls fn for every node of the subtree at t, parents before their children
// (by name), until fn returns false.
func preorder[T any](t *tnode[T], fn func(*tnode[T]) bool) bool {
	if !fn(t) {
		return false
	}
	return each(t.kids, func(k *tnode[T]) bool { return preorder(k, fn) })
}

// relative returns path relative to root ("" for root itself); ok is false when path is
// not root or under it.
func relative(root, path string) (rest string, ok bool) {
	switch {
	case path == root:
		return "", true
	case root == "/":
		if len(path) > 1 && path[0] == '/' {
			return path[1:], true
		}
	case len(path) > len(root)+1 && path[len(root)] == '/' && path[:len(root)] == root:
		return path[len(root)+1:], true
	}
	return "", false
}

// depthOf is the number of elements in a relative path (0 for the root).
func depthOf(rest string) int {
	if rest == "" {
		return 0
	}
	return strings.Count(rest, "/") + 1
}

// join is the path of child name under path.
func join(path, name string) string {
	if path == "/" {
		return "/" + name
	}
	return path + "/" + name
}
