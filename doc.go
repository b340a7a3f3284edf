// Package zkrecipes is a ZooKeeper client for Go that behaves like Apache Curator and shares
// ZooKeeper trees with it: Curator's connection states, retrying context-aware operations,
// protected sequential creates, namespaces and default ACLs.
//
// A [Client] wraps a github.com/go-zookeeper/zk connection. Its connection state machine
// reports Curator's states ([StateConnected], [StateSuspended], [StateReconnected],
// [StateLost], plus [StateClosed]) to listeners registered with [Client.Listen], each called
// from its own goroutine in the order the states happened. Every operation takes a
// context, retries connection-class failures with the client's [retry.Policy], and returns
// errors that name the operation and the path and match go-zk's sentinels with errors.Is.
//
// The recipes live in sub-packages: leader (LeaderLatch, leadership as a context with a
// fencing token) and discovery (ServiceDiscovery, a watch cache and a provider).
//
// Paths given to a Client are relative to its namespace (see [WithNamespace]); the raw
// go-zk connection from [Client.Conn] sees full server paths.
package zkrecipes
