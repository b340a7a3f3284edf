// Package cache keeps a local, current copy of a ZooKeeper subtree, and tells listeners
// what changes in it: Curator's NodeCache, PathChildrenCache, TreeCache and CuratorCache
// in one generic type, with CuratorCache's events.
//
//	c, err := cache.New(client, "/services", decode, cache.WithDepth(1))
//	c.Listen(func(ev cache.Event[Instance]) { ... })
//	err = c.Start(ctx)            // returns once the subtree is loaded
//	n, ok := c.Get("/services/a") // point reads, lock-free
//	snap := c.Snapshot()          // an immutable view, O(1) at any size
//	defer c.Close(ctx)
//
// # What is cached
//
// A cache holds its root znode and the znodes below it down to its depth (WithDepth): 0
// is the root alone (NodeCache), 1 the root and its children (PathChildrenCache, which
// leaves out the root; here Get(root) has it), Unlimited the whole subtree (TreeCache,
// CuratorCache; the default). Paths are relative to the Client's namespace. A cache only
// reads: it never creates its root or anything else. A missing root is an empty cache
// that fills when the root is created and empties when it is deleted.
//
// Every znode's data goes through the cache's Decoder. A znode whose data the decoder
// refuses, or that the Client may not read (NoAuth), is left out (Get does not find it)
// and reported with an Error event, never fatal: the cache goes on. An undecodable znode
// comes back with its next data version that decodes; its children are cached as usual.
// An unreadable one has no watch (an ACL change fires none, and servers that check READ
// before notifying, ZooKeeper 3.8.4+ and 3.9.2+, never notify a session without it): the
// cache reads it again after 2 s, then less and less often (up to every 2 min), at every
// new session, and its deletion shows in its parent's listing. Its subtree cannot be
// listed while it is unreadable.
//
// # Events
//
// Listeners (Listen) hear, in order and from one goroutine per cache:
//
//   - NodeCreated (New), NodeChanged (Old and New: data and stat before and after) and
//     NodeDeleted (Old, the last cached copy). A NodeChanged means the data version
//     moved: writing identical bytes is a change, a change of the children alone is not
//     (it refreshes the Stat's child fields quietly).
//   - Initialized once the initial load is done: before it, every znode the load found,
//     as NodeCreated in tree order (parents first, children by name), as Curator's
//     CuratorCache reports its initial znodes.
//   - ConnectionStateChanged for every state the Client goes through (not the synthetic
//     current state a WithCurrentState listener gets first).
//   - Resynced after a new session, once the cache has caught up (see below).
//   - Error for a znode left out, carrying a *NodeError (during the initial load, before
//     the load's NodeCreated events).
//
// A deleted subtree is reported znode by znode, every znode after its descendants. A
// znode deleted and created again under the same name is reported as NodeDeleted (the old
// copy) then NodeCreated (the new one), also when both happened in one transaction or
// before the cache could look, since the new znode is another incarnation (another
// Czxid); CuratorCache reports the same two events. A znode whose data stops decoding is
// reported as NodeDeleted followed by Error; once it decodes again, as NodeCreated.
//
// # Coalescing
//
// Listeners may be slow: the cache never waits for them, and the events they have not
// been given yet take memory bounded by the number of znodes, not by the rate of changes.
// Pending events of one znode fold into one entry, which keeps the copy the listeners
// saw last (the first Old) and the latest one (the last New), and its place in the queue:
// created then changed is one NodeCreated of the latest copy; changed twice one
// NodeChanged from the first old to the last new; created then deleted nothing at all;
// changed then deleted one NodeDeleted of the copy they had seen; deleted then created
// NodeDeleted then NodeCreated. A fold whose two ends are the same version is dropped. A
// znode's entries never fold across a connection state change, Initialized or Resynced,
// so every event keeps its place relative to those; of several pending state changes in a
// row only the first and the last are kept (a RECONNECTED kept says NewSession, and
// WatchesLost, if a dropped one did), and a pending Resynced moves to the end when another comes. Only once more
// than 32 of those markers are pending do entries fold across them, which bends that order
// but stops the queue from growing. Events of different znodes are reported in the order
// their reads completed, which for concurrent changes of different znodes need not be the
// order ZooKeeper applied them.
//
// Get, Children and Snapshot show the latest content, which is ahead of the events not
// yet delivered. Sync waits until the cache holds every change made before it and the
// listeners have had their events.
//
// # Watches and connection states
//
// The cache uses one-shot watches (go-zk has no persistent ones): a data watch on every
// cached znode and a child watch on every cached znode above the depth, plus an exists
// watch on a missing root; nothing else, and never two of a kind on one znode (one
// exception: a znode deleted during a resync between its parent's listing and its exists
// call leaves an exists watch on its path, which fires if the path is created again). A watch
// that fires leads to one read of that znode, which sets the watch again. Watch events
// reach the cache from the Client's event callback, by path (one dispatch for all caches
// of a Client), not through a goroutine per watch: a started cache runs three goroutines
// whatever its size (its event loop, its delivery goroutine, and the Client's goroutine
// for its state listener), plus up to WithParallelism read workers while reads are
// outstanding (a load, a resync), which exit when they are done.
//
// The cache is not cleared on SUSPENDED or LOST: it serves the last known content. After
// a reconnect that kept the session, go-zk sets the session's watches again and the
// server reports what changed meanwhile, as ordinary watch events; reads that failed are
// retried. After a new session (every watch of the old one is gone), the cache resyncs
// top down: each parent is listed again (which drops the znodes deleted meanwhile before
// anything is asked about them and finds the new ones), and each znode still there gets
// one exists call, which sets its data watch again and returns its stat: its data is read
// only when the stat says it changed. The differences are reported as events, then
// Resynced. Reads that fail for a connection reason wait for the next reconnect; others
// are retried with a growing delay.
//
// # Cost
//
// The content is a persistent tree: a change copies O(depth × log(children)) small nodes
// and shares the rest with the previous version, so a Snapshot is one pointer and a
// single change costs the same with 1,000 or 10,000 znodes. At 10,000 znodes the cache
// keeps about 275 bytes per znode beyond its data, path included (go-zk keeps about 680
// more for the two watches of each). See the benchmarks in tests/cache for the measurements
// against the raw go-zk floor.
package cache
