package zkrecipes

import "github.com/zkrecipes/zkrecipes/internal/watchhub"

// Every watch event go-zk receives reaches the Client's event callback with its server
// path, before go-zk hands it to the channel of the watch; the callback passes it to the
// Client's watch hub, to which recipes that watch many nodes (package cache) subscribe by
// path prefix instead of reading one channel per watch. The hub is internal: recipes reach
// it through watchhub.Of, set here because internal/watchhub cannot import this package.
func init() {
	watchhub.Of = func(client any) *watchhub.Hub {
		if c, ok := client.(*Client); ok && c != nil {
			return c.hub
		}
		return nil
	}
}
