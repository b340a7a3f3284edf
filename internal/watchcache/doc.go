// Package watchcache keeps a local copy of the children of one znode and their data,
// using ZooKeeper's one-shot watches only (go-zk has no persistent watches).
//
// One goroutine owns the state. It sets a children watch on the parent (an exists watch
// while the parent is missing) and a data watch on every child, and reacts to each watch
// with the least reading it can: a new child costs one read of that child, a changed
// child one read of that child, a removed child none beyond the children list that must
// be re-read anyway to set the children watch again. Only a new session, which loses
// every watch, re-reads everything.
//
// Connection states come from the Client. The cache is never cleared on SUSPENDED or
// LOST; after a reconnect it re-lists the children (same session: go-zk re-registered
// the watches itself, so nothing else is read) or reloads everything (new session).
package watchcache
