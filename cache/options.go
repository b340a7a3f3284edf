package cache

import (
	"fmt"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/cacheopt"
)

// Unlimited is the depth of a cache of the whole subtree (Curator's TreeCache and
// CuratorCache), the default.
const Unlimited = -1

// DefaultParallelism is how many reads a cache keeps in flight at most by default.
const DefaultParallelism = 128

// Option configures a cache.
type Option func(*options)

type options struct {
	depth      int
	parallel   int
	noSizeHook bool // see internal/cacheopt
	errs       []error
}

func init() {
	cacheopt.NoSizeHook = func() any { return Option(func(o *options) { o.noSizeHook = true }) }
	cacheopt.QueueHighWater = func(c any) int { return c.(interface{ queueHighWater() int }).queueHighWater() }
}

// queueHighWater is the most events the cache has held undelivered at once.
func (c *Cache[T]) queueHighWater() int {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	return c.q.highWater
}

func defaultOptions() options { return options{depth: Unlimited, parallel: DefaultParallelism} }

func (o *options) badf(format string, args ...any) {
	o.errs = append(o.errs, fmt.Errorf("%w: cache: "+format, append([]any{zkrecipes.ErrInvalidArgument}, args...)...))
}

// WithDepth sets how far below its root the cache reaches: 0 caches the root znode alone
// (Curator's NodeCache), 1 the root and its children (PathChildrenCache, plus the root
// itself), n the root and n levels below it, Unlimited (the default) the whole subtree.
// A value below 0 other than Unlimited makes New fail with zkrecipes.ErrInvalidArgument.
func WithDepth(depth int) Option {
	return func(o *options) {
		if depth < 0 && depth != Unlimited {
			o.badf("depth %d: want 0 or more, or Unlimited", depth)
			return
		}
		o.depth = depth
	}
}

// WithParallelism bounds the reads the cache keeps in flight (default DefaultParallelism).
// Each read in flight takes a goroutine for as long as it runs (go-zk's calls block), so
// this is also the bound on the cache's transient goroutines. A value below 1 makes New
// fail with zkrecipes.ErrInvalidArgument.
func WithParallelism(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.badf("parallelism %d: want 1 or more", n)
			return
		}
		o.parallel = n
	}
}
