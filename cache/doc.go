// Package cache keeps a local, always-current copy of a ZooKeeper subtree, like Curator's
// NodeCache, PathChildrenCache, TreeCache and CuratorCache, with one generic type.
package cache
