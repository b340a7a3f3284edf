package cache

import "iter"

// snapshot is one published version of the tree.
type snapshot[T any] struct {
	root     *tnode[T]
	rootPath string
	count    int // visible znodes
}

// Snapshot is an immutable view of a cache's content at one moment: later changes never
// show in it. Taking one costs a pointer load, whatever the size of the cache, and it
// shares everything with the cache's current content; holding an old one only keeps the
// znodes that changed since alive. The zero Snapshot is empty. It is safe for concurrent
// use.
type Snapshot[T any] struct{ s *snapshot[T] }

// Len returns the number of znodes in the snapshot.
func (s Snapshot[T]) Len() int {
	if s.s == nil {
		return 0
	}
	return s.s.count
}

// Get returns the znode at path (relative to the Client's namespace, like every path of a
// cache). It reports false for a path that is not cached: absent, outside the cache's
// subtree or below its depth, not read yet, or left out (see NodeError).
func (s Snapshot[T]) Get(path string) (Node[T], bool) {
	if n := s.node(path).visible(); n != nil {
		return *n, true
	}
	return Node[T]{}, false
}

func (s Snapshot[T]) node(path string) *tnode[T] {
	if s.s == nil {
		return nil
	}
	rest, ok := relative(s.s.rootPath, path)
	if !ok {
		return nil
	}
	return lookup(s.s.root, rest)
}

// Children returns the cached children of the znode at path, sorted by name (nil when it
// has none in the cache). The children of a znode that is left out itself (its data did
// not decode) are still there.
func (s Snapshot[T]) Children(path string) []Node[T] {
	var out []Node[T]
	if n := s.node(path); n != nil {
		each(n.kids, func(k *tnode[T]) bool {
			if v := k.visible(); v != nil {
				out = append(out, *v)
			}
			return true
		})
	}
	return out
}

// All yields every znode of the snapshot, depth first, parents before their children,
// children sorted by name.
func (s Snapshot[T]) All() iter.Seq[Node[T]] {
	return func(yield func(Node[T]) bool) {
		if s.s == nil || s.s.root == nil {
			return
		}
		preorder(s.s.root, func(t *tnode[T]) bool {
			if v := t.visible(); v != nil {
				return yield(*v)
			}
			return true
		})
	}
}
