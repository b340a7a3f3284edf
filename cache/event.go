package cache

import (
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

// Node is one cached znode, as last read.
type Node[T any] struct {
	// Path is the znode's path, relative to the Client's namespace.
	Path string
	// Stat is the znode's stat as last read. Version, Mzxid and the data fields are those
	// of Data. The child fields (NumChildren, Cversion, Pzxid) are refreshed whenever the
	// cache lists the children, which it does not do below its depth: there they may lag.
	Stat zk.Stat
	// Data is the znode's data as read, shared with every copy of the Node and with Value
	// when the decoder returns it (Bytes does): do not modify it.
	Data []byte
	// Value is what the cache's decoder made of Data.
	Value T
}

// Name returns the last element of the node's path ("" for "/").
func (n Node[T]) Name() string {
	for i := len(n.Path) - 1; i >= 0; i-- {
		if n.Path[i] == '/' {
			return n.Path[i+1:]
		}
	}
	return n.Path
}

// EventType says what an Event reports.
type EventType int

const (
	// NodeCreated: a znode entered the cache (Event.New). The initial load reports every
	// znode it found this way once it is done, in tree order (parents first, children by
	// name), then Initialized, as Curator's CuratorCache reports its initial znodes.
	NodeCreated EventType = iota + 1
	// NodeChanged: a cached znode's data version moved (Event.Old and Event.New, same
	// incarnation: same Czxid). Writing identical bytes counts: the version moved.
	NodeChanged
	// NodeDeleted: a znode left the cache (Event.Old, its last cached copy), because it was
	// deleted, or because its data no longer decodes or may no longer be read (an Error
	// event says which).
	NodeDeleted
	// Initialized: the initial load is complete; every znode it found was reported as
	// NodeCreated before. Delivered once.
	Initialized
	// Resynced: after a RECONNECTED with a new session, the cache has re-armed its watches
	// and re-read whatever may have changed while it had none; the events for the
	// differences it found came before this one. Not delivered for a reconnect that kept
	// the session (go-zk re-arms the watches itself and the server reports what was missed
	// as ordinary watch events). Curator has no equivalent.
	Resynced
	// ConnectionStateChanged: the Client's connection state changed (Event.State).
	ConnectionStateChanged
	// Error: a znode is left out of the cache because its data did not decode or the
	// Client may not read it (Event.Err, a *NodeError), or a read of it failed for a
	// reason other than the connection (the cache keeps retrying it). A znode left out
	// stays out until a version of its data decodes, or until a later read of it is
	// allowed; if it was visible, a NodeDeleted event for it came first.
	Error
)

var eventNames = [...]string{"", "NodeCreated", "NodeChanged", "NodeDeleted", "Initialized", "Resynced", "ConnectionStateChanged", "Error"}

// String returns the constant's name.
func (t EventType) String() string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change of a cache, or a connection state change, delivered to listeners in
// order (see the package documentation for how undelivered events coalesce).
type Event[T any] struct {
	Type EventType
	// Path is the znode's path for node events and Error, relative to the namespace.
	Path string
	// Old is the previous copy (NodeChanged, NodeDeleted); New the current one
	// (NodeCreated, NodeChanged). The other is the zero Node.
	Old, New Node[T]
	// State is set for ConnectionStateChanged.
	State zkrecipes.StateChange
	// Err is set for Error: a *NodeError.
	Err error
}

// ErrUndecodable is matched (errors.Is) by the NodeError of a znode whose data the decoder
// refused (or panicked on).
var ErrUndecodable = errors.New("cache: data does not decode")

// NodeError reports a znode the cache leaves out. Unwrap gives the cause: for data that
// does not decode, ErrUndecodable and the decoder's error; for a znode the Client may not
// read, zk.ErrNoAuth (through the read's *zkrecipes.OpError).
type NodeError struct {
	Path string
	Err  error
}

// Error names the znode and the cause.
func (e *NodeError) Error() string { return fmt.Sprintf("cache: %s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *NodeError) Unwrap() error { return e.Err }

type decodeError struct{ err error }

func (e *decodeError) Error() string   { return ErrUndecodable.Error() + ": " + e.err.Error() }
func (e *decodeError) Unwrap() []error { return []error{ErrUndecodable, e.err} }

// Decoder turns a znode's data into the cache's value type. It runs on the cache's read
// workers, several at once, for every new version of every znode: it must be safe for
// concurrent use, and quick. data is empty (nil for a znode created with null data, as
// Java can) when the znode holds none; the decoder may keep it (see Node.Data). An error,
// or a panic, leaves the znode out of the cache and is reported as an Error event.
type Decoder[T any] func(path string, data []byte) (T, error)

// Bytes is a Decoder that keeps the data as it is: Value and Data share one slice.
func Bytes(_ string, data []byte) ([]byte, error) { return data, nil }

// String is a Decoder that keeps the data as a string.
func String(_ string, data []byte) (string, error) { return string(data), nil }
