// Package shared holds values that many processes read and update through one ZooKeeper
// node, in the node layouts of Apache Curator's recipes, so that Go and Java share them:
//
//   - [Value] (Curator's SharedValue): bytes in a PERSISTENT node, a local copy kept
//     current by a data watch, version-checked TrySet, change listeners.
//   - [Count] (Curator's SharedCount): a Value holding a 4-byte big-endian int32.
//   - [AtomicLong] (Curator's DistributedAtomicLong): an 8-byte big-endian int64 updated by
//     optimistic compare-and-set under a retry policy, with no watch and no goroutine.
//
// # Outcomes
//
// Every write is applied, not applied, or unknown. A write whose reply was lost, or whose
// ctx ended while it was in flight, returns an error matching [zkrecipes.ErrOutcomeUnknown]
// and reports no success (TrySet's bool is false, AtomicValue.Succeeded is false). The
// package never retries such a write: for a counter, a retry could apply an increment
// twice. A caller that must know waits for [zkrecipes.Settled] and reads the value again;
// see each method for what the read can and cannot prove.
//
// # Bad data
//
// A node written by someone else with the wrong length or with text gives an error that
// matches [ErrMalformed] and names the path and what was found; nothing panics.
package shared
