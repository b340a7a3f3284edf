// Package discovery is service discovery on ZooKeeper, wire-compatible with Apache
// Curator 5.x's ServiceDiscovery: Go and Java services register in, and read from, the
// same tree.
//
// The layout is Curator's: basePath/<service name>/<instance id>, one znode per
// instance, holding the instance as JSON (see JSON for the exact format and how the
// payload is typed for Java). Parents are containers, removed by ZooKeeper once empty.
//
//   - Instance is one registered instance (NewInstance fills in Curator's defaults);
//     URISpec is its URI template.
//   - Discovery registers, updates and unregisters instances and keeps them registered
//     across session expiry; it also answers one-off queries.
//   - Cache keeps one service's instances in memory and reports what changes (a
//     cache.Cache of depth 1: one read per change, no goroutine per instance).
//   - Provider picks instances from a Cache: filters, a down-instance policy and a
//     Strategy (RoundRobin, Random, Sticky).
//
// Differences from Curator, all invisible on the wire: Register of an existing id
// overwrites the znode instead of deleting and re-creating it; bad data in the service
// directory is skipped by every reader here (Curator's queries fail for the whole
// service); cache events say what was added, updated and removed; a DynamicSequential
// instance is never duplicated by a re-registration; a znode the Client may not read is
// skipped and reported like bad data; changes a slow cache listener has not seen yet are
// folded, one entry per instance; the differences a resync finds after a new session come
// as one event.
//
// Unknown outcomes. A write whose ctx ends, or whose connection fails, while it is in
// flight may or may not have been applied (zkrecipes.ErrOutcomeUnknown). Discovery never
// reports such a write as a success, and turns each into a definite state:
//
//   - Register returns the error and the instance is not registered: a znode the write may
//     have created is deleted once the in-flight attempt has returned (zkrecipes.Settled),
//     and only if it is provably this registration's (ephemeral and owned by the current
//     session, or persistent and holding exactly the data written). Close waits for these
//     cleanups.
//   - Update returns the error and the instance stays registered with the new local copy,
//     which is rewritten in the background until it is written.
//   - Unregister drops the instance at once; its delete goes on in the background until the
//     znode is gone.
//   - Close unregisters everything and waits for the cleanups, bounded by its ctx.
//
// Every write path checks ownership before touching an existing znode: a znode of
// another session is replaced (Dynamic) or left alone (cleanups), never updated as if it
// were ours.
package discovery
