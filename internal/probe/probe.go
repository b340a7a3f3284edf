// Package probe lets the integration tests (the tests module, a Go module of its own, which
// can reach only exported identifiers) observe and steer a few internals of the library's
// packages that are not part of the API: counters that show which path an algorithm took,
// and callbacks that mark a step as done so a test can wait for it instead of sleeping.
//
// Each variable is set once, in an init function of the package that owns the internal, and
// is nil until that package is linked in. Nothing outside this module can import probe, and
// the library never reads these variables itself.
package probe

import (
	"context"

	"github.com/zkrecipes/zkrecipes"
)

// Leader (package leader): latch is a *leader.Latch.
var (
	// LatchCounters returns how many predecessor-watch wakeups the latch handled and how
	// many times it claimed leadership straight from the head's deletion (fast hand-over).
	LatchCounters func(latch any) (predWakeups, fastHandovers int64)
	// SetLatchSettled installs fn to run on the latch's loop after every step that settled
	// its state. Call it before Start.
	SetLatchSettled func(latch any, fn func())
	// SetLatchStateHeard installs fn to run after the latch has handled a connection state
	// change. Call it before Start.
	SetLatchStateHeard func(latch any, fn func(zkrecipes.StateChange))
)

// Discovery (package discovery): cache is a *discovery.Cache[T], d a *discovery.Discovery[T],
// for any T.
var (
	// CacheCounters returns the data reads the cache has made so far, its watch goroutines,
	// and the high-water mark of its listener queue.
	CacheCounters func(cache any) (reads int64, watches, queueHighWater int)
	// DiscoveryPass returns a channel that is closed after the next rewrite of the
	// registrations (at a RECONNECTED, or a background rewrite of failed writes).
	DiscoveryPass func(d any) <-chan struct{}
	// DiscoveryDirty reports whether the registration of name/id waits for a rewrite
	// (its last write failed).
	DiscoveryDirty func(d any, name, id string) bool
	// DiscoveryDropNode runs del with the registration's znode path (relative to the
	// namespace), holding the registration, and, when del succeeds, forgets the path: the
	// state that a failed write leaves. It fails when name/id is not registered.
	DiscoveryDropNode func(d any, name, id string, del func(path string) error) error
	// DiscoveryKeeperIdle waits until the goroutine that keeps the registrations' znodes
	// watched has nothing left to do, and returns the number of registrations whose
	// data watch is set on its current znode.
	DiscoveryKeeperIdle func(d any, ctx context.Context) (armed int, err error)
	// IsSequentialOf reports whether node is a sequential znode of instance id (the id
	// followed by a ten-digit sequence number).
	IsSequentialOf func(node, id string) bool
)

// Lock (package lock): mutex is a *lock.Mutex (for SetMutexWaiting also a *lock.RWMutex).
var (
	// MutexCounters returns how many notifications from the watched node the mutex's
	// acquisitions received, and how many of them were granted straight from that node's
	// deletion (fast hand-over), summed over every Acquire of the mutex.
	MutexCounters func(mutex any) (wakeups, fastHandovers int64)
	// MutexPipelined returns how many of the mutex's joins were settled by the reads sent
	// behind the create alone (both answers came after it: nothing was read again).
	MutexPipelined func(mutex any) int64
	// SetMutexWaiting installs fn to run each time an Acquire of the mutex begins to wait
	// with its watches armed. Call it before the first Acquire.
	SetMutexWaiting func(mutex any, fn func())
	// MutexAcquireAdopting runs the mutex's Acquire as if its join had made node (a path
	// relative to the namespace) and the acquisition were now waiting with it: the state
	// of an acquisition whose session changed under it. It returns a *lock.Lock.
	MutexAcquireAdopting func(mutex any, ctx context.Context, node string) (any, error)
)
