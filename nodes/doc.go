// Package nodes keeps nodes alive in the layouts of Apache Curator's recipes:
// [PersistentNode] (Curator's PersistentNode: one node of any mode, made again after it
// is deleted or after a new session, deleted on Close) and [TTLNode] (Curator's
// PersistentTtlNode: a TTL parent kept alive by touching a child).
//
// Each runs one goroutine, started by Start and ended by Close, which waits for it.
// Neither ever writes or deletes a node it cannot prove is its own (see PersistentNode).
package nodes
