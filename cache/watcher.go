package cache

import (
	"context"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

// watcher is how the cache reads a znode so that it hears of the znode's next change.
// The events themselves never come through it: they reach the loop from the Client's
// watch hub, by path.
//
// oneShot, the only implementation, sets ZooKeeper's one-shot watches (GetW, ChildrenW,
// ExistsW): every cached znode carries a data watch and, above the depth limit, a child
// watch, and the loop sets each again with the read that follows its firing. A cache on
// ZooKeeper 3.6+ persistent recursive watches (addWatch, which go-zk does not offer yet)
// would implement this with plain reads and one addWatch on the root, set again in
// arm after a new session; the loop already handles the events such a watch sends (a
// NodeCreated of a child it has not listed, no NodeChildrenChanged).
type watcher interface {
	// arm sets whatever the cache needs once per session before it reads (nothing for
	// one-shot watches).
	arm(ctx context.Context, root string) error
	// data reads the znode's data and stat and watches its data.
	data(ctx context.Context, path string) ([]byte, *zk.Stat, error)
	// children lists the znode's children and watches the list.
	children(ctx context.Context, path string) ([]string, *zk.Stat, error)
	// exists reads the znode's stat and watches its data, or its creation when it is
	// absent.
	exists(ctx context.Context, path string) (bool, *zk.Stat, error)
}

type oneShot struct{ c *zkrecipes.Client }

func (oneShot) arm(context.Context, string) error { return nil }

// The returned channels are never read: go-zk gives each a buffer of one and sends it
// exactly one event, and the hub delivers that event by path before go-zk sends it.

func (w oneShot) data(ctx context.Context, path string) ([]byte, *zk.Stat, error) {
	d, st, _, err := w.c.GetW(ctx, path)
	return d, st, err
}

func (w oneShot) children(ctx context.Context, path string) ([]string, *zk.Stat, error) {
	names, st, _, err := w.c.ChildrenW(ctx, path)
	return names, st, err
}

func (w oneShot) exists(ctx context.Context, path string) (bool, *zk.Stat, error) {
	ok, st, _, err := w.c.ExistsW(ctx, path)
	return ok, st, err
}
