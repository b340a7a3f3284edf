// Package leader elects one leader among many processes with ZooKeeper, in a
// way that Apache Curator 5.x's LeaderLatch understands: Go and Java
// participants can share one election.
//
// # Three ways in
//
//   - [Latch] is Curator's LeaderLatch: Start joins, [Latch.HasLeadership]
//     and [Latch.Await] tell whether this process leads, a [Listener] (or a
//     channel of [Event]s) hears every change, Close leaves.
//   - [Run] is leadership as a context, for the common "do this work only
//     while leader" case: it calls a function while this process leads and
//     cancels the function's context the moment leadership is in doubt.
//   - [Term] is a fencing token for one tenure of leadership, with
//     [Term.Multi] to make ZooKeeper writes conditional on still holding it,
//     so that a deposed leader's late write fails instead of landing.
//
// # On the wire
//
// Every participant owns one node
// <latchPath>/_c_<uuid>-latch-<10-digit sequence>, ephemeral and sequential,
// created with the Client's protected create (a new uuid each time the
// participant joins). Its data is the participant id in UTF-8, empty for "".
// Missing parents are created as containers. Participants are ordered by the
// text after the last "latch-" in the name (the whole name if there is none),
// compared as strings, as Curator does; the first one leads and every other
// one watches only the node just before its own, so that a change of leader
// wakes exactly one participant. Every child of the latch path takes part in
// the order: do not put anything else under it, in particular not Curator
// LeaderSelector's "lock-" nodes.
//
// # Connection states
//
// Under the default [StandardPolicy] a leader stops leading as soon as its
// connection is SUSPENDED, keeps its node, and leads again on RECONNECTED if
// its node is still first and still belongs to its session. Because the
// server expires a session only after hearing nothing for the whole session
// timeout, while the client notices a broken connection at once and a silent
// one after two thirds of the timeout (go-zk's read timeout), a deposed leader
// has stopped leading before anyone else can start, provided its process is
// not stalled for the remaining third. LOST always
// ends leadership. When the latch's node disappears (session expiry, someone
// deleting it, the latch path reaped) the latch joins again with a new node at
// the back of the queue. [SessionPolicy] ends leadership only on LOST, like
// Curator's SessionConnectionStateErrorPolicy: it rides out short
// disconnections but allows two processes to believe they lead for a while, so
// it should be combined with [Term.Multi] for every write that matters.
//
// # Limits
//
// The order is creation order only as long as every node under the latch path
// is a latch node and the parent's sequence counter has not passed 2^31
// (Curator has the same limits, and compares as text for the same reason).
// A participant that was second when it last read the children, behind a
// node it could prove was created before everything that can come later
// (every child a well-formed latch node, the counter far from 2^31), leads as
// soon as that node's deletion is reported, without reading the children
// again, if its own node is untouched, its session current and its
// connection unchanged since that read; otherwise it reads them first. A
// node that someone adds by hand while it waits, sorting before it, is then
// not seen, just as a leader does not see one added after it won.
// Leadership is what ZooKeeper says at the moment of the last notification:
// a leader learns of its deposition only through its connection or its own
// node's watch, so work that must never overlap needs a [Term] check at the
// point where it writes. In particular, when someone else deletes the
// leader's node, the leader and its successor are notified at the same moment
// and may both act for a short while; only writes guarded by [Term.Multi] are
// fenced.
//
// # LeaderSelector groups
//
// [RunSelector] is [Run] for a group of Curator LeaderSelector participants: the
// election is an InterProcessMutex on the path (nodes _c_<uuid>-lock-<seq> holding
// the participant id), built on lock.Mutex, with autoRequeue by default;
// [ListSelectorParticipants] and [CurrentSelectorLeader] read such a group. Latch
// and LeaderSelector nodes order differently: never put both under one path.
package leader
