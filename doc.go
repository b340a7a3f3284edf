// Package zkrecipes is a ZooKeeper client for Go that behaves like Apache Curator and shares
// ZooKeeper trees with it: Curator's connection states, retrying context-aware operations,
// protected sequential creates, namespaces and default ACLs.
//
// A [Client] wraps a github.com/go-zookeeper/zk connection. Its connection state machine
// reports Curator's states ([StateConnected], [StateSuspended], [StateReconnected],
// [StateLost], plus [StateClosed]) to listeners registered with [Client.Listen], each called
// from its own goroutine in the order the states happened ([WithCurrentState] makes the
// first call the current state). [Client.Session] and [Client.SessionContext] give the
// session's liveness as a context, cancelled when the session is lost or replaced or the
// client closes, not on a short suspension. Every operation takes a
// context, retries connection-class failures with the client's [retry.Policy], and returns
// errors that name the operation and the path and match go-zk's sentinels with errors.Is.
//
// The recipes live in sub-packages: leader (LeaderLatch, leadership as a context with a
// fencing token), lock (InterProcessMutex, a held lock as a context with a fencing token),
// discovery (ServiceDiscovery, a watch cache and a provider) and cache (a node, children or
// tree cache with CuratorCache's events), among others.
//
// [WithTLS] connects over TLS (mutual TLS with a client certificate) to ZooKeeper's
// secureClientPort; a failed handshake is retried like an unreachable server, and
// Connect's [ErrConnectTimeout] error wraps the last failure, naming the server.
//
// Paths given to a Client are relative to its namespace (see [WithNamespace]); the raw
// go-zk connection from [Client.Conn] sees full server paths.
//
// # Applied, not applied, or unknown
//
// Every write has one of three outcomes. It was applied; it was not applied; or the
// Client cannot know, because the request may have reached the server and the reply was
// lost (the connection broke), or because ctx ended while the request was in flight (go-zk
// calls cannot be cancelled: the abandoned attempt goes on and may still land). The rule
// the Client and every recipe keep:
//
//   - An unknown outcome is never reported as success. Either the library determines the
//     outcome (ownership by session or protected uuid, a version it can read back, data
//     it can compare) or the error matches [ErrOutcomeUnknown] with errors.Is, as well as
//     the cause (zk.ErrConnectionClosed, context.DeadlineExceeded, ...).
//   - A write that a replay could apply twice is never retried after an attempt whose
//     outcome is unknown. retry.IsRetriable reports false for ErrOutcomeUnknown, so
//     retry.Do does not replay it either.
//   - Clean-up after an abandoned call starts only once its in-flight attempt has
//     returned ([Settled] tells when), or deletes only what this session provably owns.
//
// Attempts are only sent while the client is connected: during a disconnection an attempt
// waits up to a second for the connection and otherwise fails with zk.ErrNoServer, which
// proves it was not sent, so it is retried under the policy whatever the operation.
//
// Per operation (retries are connection-class failures, under the Client's retry policy):
//
//	operation             retried after a lost reply?   what the retry or an unknown outcome becomes
//	Get, Exists, Children yes (reads)                   ctx.Err() when ctx ends; nothing to undo
//	Sync                  yes
//	Create (plain)        yes                           NodeExists on a retry: success only if the node is
//	                                                    provably ours (ephemeral: this session's; persistent or
//	                                                    container: version 0), and holds our data; else
//	                                                    zk.ErrNodeExists. Unknown if retries run out or ctx ends.
//	Create (sequential)   no                            ErrOutcomeUnknown: a replay would add a second node
//	CreateProtected       yes, by its uuid              the node of a lost reply is adopted; when the call gives up
//	                                                    (ErrOutcomeUnknown) its node is deleted in the background
//	                                                    once the in-flight attempt returned: treat as not applied
//	Set, version -1       yes                           a replay writes the same bytes again (version moves twice)
//	Set, version >= 0     yes                           zk.ErrBadVersion on a retry becomes ErrOutcomeUnknown
//	Delete, version -1    yes                           zk.ErrNoNode on a retry is success: the node is gone
//	Delete, version >= 0  yes                           zk.ErrNoNode / zk.ErrBadVersion on a retry: ErrOutcomeUnknown
//	DeleteGuaranteed      yes, then in the background   the background delete repeats an idempotent delete
//	EnsurePath            yes                           containers; existing nodes are fine
//	Multi                 no                            ErrOutcomeUnknown; leader.Term.Multi resolves it (below)
//
// Recipes: leader.Term.Multi makes each guarded transaction move the latch path's data
// version, so after a lost reply it reads the version back and knows whether it
// committed: nil means committed exactly once, leader.ErrNotLeader means not committed,
// ErrOutcomeUnknown remains when ctx ended first or the version could not be read back. A Latch whose Start fails leaves no
// node once the in-flight join has returned (its protected create cleans up). A
// discovery.Register that fails has not registered the instance: a node it may have made
// is deleted once the attempt returned, and only if it is provably this registration's
// (this session's ephemeral, or exactly the data written); Close waits for that. A failed
// discovery.Update keeps the new local copy and is rewritten in the background, with
// backoff, until written or unregistered. Unregister and Close delete with a guaranteed
// delete. A discovery.Cache only reads: children it cannot read (NoAuth) or decode are
// skipped and reported.
package zkrecipes
