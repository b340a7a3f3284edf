// Package cacheopt lets the library's own recipes that are built on package cache (the
// discovery Cache) set options that are not part of cache's API.
//
// Each variable is set in an init function of package cache (which cannot be imported
// from here without an import cycle), so it is non-nil wherever cache is linked in.
package cacheopt

// NoSizeHook returns a cache.Option (as any: assert it to cache.Option) that stops the
// cache from telling the Client's CacheSize hook its size, for a recipe that reports a
// size of its own (the discovery Cache counts instances, not znodes).
var NoSizeHook func() any

// QueueHighWater returns the most events a *cache.Cache (of any type) has held
// undelivered at once, for the probes of the recipes built on it.
var QueueHighWater func(cache any) int
