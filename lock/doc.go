// Package lock provides distributed locks on ZooKeeper that Apache Curator 5.x's lock
// recipes understand: a Go [Mutex] and a Java InterProcessMutex on the same path exclude
// each other and hand the lock over both ways. [RWMutex] is Curator's
// InterProcessReadWriteLock (with [Lock.Downgrade]), [Semaphore] its
// InterProcessSemaphoreV2 (a local lease count, or one read from a SharedCount node), and
// [NewSemaphoreMutex] its InterProcessSemaphoreMutex.
//
// # Locks as contexts
//
// [Mutex.Acquire] returns a held [Lock]. Its [Lock.Context] is cancelled the moment
// holding is in doubt: on SUSPENDED (under the default [StandardPolicy]), when the
// session is lost or replaced, when the Client closes, when the lock's node is deleted
// by someone, and, for a lock made [WithRevocable], when another process asks for it
// ([Revoke]). Run the work under that context, and [Lock.Release] when done or when it
// ends. A held lock also carries a fencing token ([Lock.Token]) and a guard:
// [Lock.Multi] makes ZooKeeper writes conditional on still holding the lock and commits
// each at most once, so a holder deposed by a partition cannot land a late write.
//
//	l, err := mu.Acquire(ctx)
//	if err != nil { ... }
//	defer l.Release(context.Background())
//	work(l.Context())
//
// # On the wire
//
// A Mutex at path P is Curator's InterProcessMutex: every contender owns one node
// P/_c_<uuid>-lock-<10-digit sequence>, EPHEMERAL_SEQUENTIAL, created with the Client's
// protected create (a new uuid per acquisition); P and its missing ancestors are created
// as containers with empty data. The node's data is what [WithData] sets, otherwise
// Curator's default, the host's address as text, or empty data for a revocable lock, as
// Curator writes. Nodes are ordered by the text after the last "lock-", compared as
// strings; the first one holds the lock, and every other one watches only the node just
// before its own (a data watch), so that a release wakes exactly one process. Release is
// a guaranteed delete of the own node and nothing else. A revoke request is the 10 bytes
// "__REVOKE__" written into the holder's node; a Go holder always watches its own node,
// and acts on the request only WithRevocable. Every child of the lock path takes part in
// the order: do not put anything else under it.
//
// # Failure behaviour
//
// Under StandardPolicy a holder's Context ends as soon as its connection is SUSPENDED.
// The server expires a session only after hearing nothing for the whole session timeout,
// while the client notices a broken connection at once and a silent one after two thirds
// of the timeout (go-zk's read timeout), so a deposed holder's Context has ended before
// anyone else can acquire, provided its process is not stalled for the remaining third.
// [SessionPolicy] ends it only on LOST: it rides out short disconnections but lets two
// processes believe they hold the lock for a while, so combine it with [Lock.Multi] for
// every write that matters. Either way, a Context that ended stays ended: release the Lock
// and acquire again.
//
// Better than Curator on three known bugs: a node that an older session of the Client
// left behind is never counted as held (CURATOR-604, two holders after an expiry); a
// release whose delete fails keeps the node in the Lock's view and the Client keeps
// deleting it in the background, so no later acquisition waits behind it forever
// (CURATOR-678); a holder is told when the lock is in doubt (CURATOR-465).
//
// # Limits
//
// Holding is what ZooKeeper says at the moment of the last notification: a holder learns
// of its deposition only through its connection or its own node's watch, so work that
// must never overlap needs the guard at the point where it writes. In particular, when
// someone else deletes the holder's node, the holder and its successor are notified at
// the same moment and may both act for a short while; only writes through [Lock.Multi]
// are fenced. The order is creation order only while every node under the lock path is a
// lock node and the parent's sequence counter has not passed 2^31 (Curator has the same
// limits, and compares as text for the same reason). A Mutex waiter (or a reader) that
// was second behind a node it could prove was created before everything that can come
// later takes the lock as soon as that node's deletion is reported, without reading the
// children again, if its own node, its session and its connection are unchanged since
// that read. A writer of an RWMutex always reads them again: the holder before it may
// have downgraded, which leaves a read node in the writer's place.
package lock
