// Package group is group membership in the layout of Apache Curator's GroupMember: each
// member keeps an ephemeral node <membershipPath>/<id> holding its payload, and everyone reads
// the group from the children of membershipPath. Go and Java members of one group see the
// same members.
//
// A Member is a nodes.PersistentNode for its own node (created in the background, made again
// after it is deleted or after a new session, its payload kept current) plus a cache.Cache of
// membershipPath at depth 1 for the others, so reading the members costs nothing and changes
// arrive as events. The membership path is a container, created when the first member joins
// and reaped by the server once the last one has left.
//
// Ids must be unique in a group. Curator lets two members with one id share one node (the
// second adopts the first's); a Member never takes over another live session's node: it waits
// for that node to go and reports the clash through Conflict meanwhile.
package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/nodes"
)

// ErrConflict is matched by Conflict's error: another live session holds this member's node.
var ErrConflict = errors.New("group: another session holds this member's node")

// Member is one process's membership of a group, and its view of the group. Its methods are
// safe for concurrent use.
type Member struct {
	client *zkrecipes.Client
	path   string
	id     string
	node   *nodes.PersistentNode
	cache  *cache.Cache[[]byte]

	mu      sync.Mutex
	payload []byte
	started bool
	closed  bool
}

// EventType says what an Event reports.
type EventType int

const (
	// Joined: a member's node appeared (Event.ID, Event.Payload). The initial load reports
	// every member found this way, then Initialized.
	Joined EventType = iota + 1
	// Changed: a member's payload changed (Event.Old and Event.Payload).
	Changed
	// Left: a member's node is gone (Event.Old is its last payload): it closed, or its
	// session expired.
	Left
	// Initialized: the initial load is complete. Delivered once.
	Initialized
)

// String returns the constant's name.
func (t EventType) String() string {
	switch t {
	case Joined:
		return "Joined"
	case Changed:
		return "Changed"
	case Left:
		return "Left"
	case Initialized:
		return "Initialized"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is a change of the group as this member's cache saw it.
type Event struct {
	Type    EventType
	ID      string
	Payload []byte // Joined, Changed: the member's payload now
	Old     []byte // Changed, Left: the payload before
	// Session is the session that owns the member's node (Joined, Changed, Left).
	Session int64
}

// New returns a Member of the group at membershipPath (relative to the Client's namespace)
// with the given id, whose node will hold payload; a nil payload stands for Curator's default
// data (the local host's address). Nothing is sent before Start. A bad path, an id that is
// empty, contains "/" or is not a valid node name, or a nil client give an error matching
// zkrecipes.ErrInvalidArgument (or zkrecipes.ErrInvalidPath for the path).
func New(client *zkrecipes.Client, membershipPath, id string, payload []byte) (*Member, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: group: nil client", zkrecipes.ErrInvalidArgument)
	}
	if err := zkrecipes.ValidatePath(membershipPath); err != nil {
		return nil, fmt.Errorf("group: membership path: %w", err)
	}
	if id == "" || strings.Contains(id, "/") {
		return nil, fmt.Errorf("%w: group: member id %q must be a non-empty node name without /", zkrecipes.ErrInvalidArgument, id)
	}
	own := zkrecipes.JoinPath(membershipPath, id)
	if err := zkrecipes.ValidatePath(own); err != nil {
		return nil, fmt.Errorf("%w: group: member id %q: %v", zkrecipes.ErrInvalidArgument, id, err)
	}
	if payload == nil {
		payload = []byte(localAddress())
	}
	node, err := nodes.New(client, own, zkrecipes.ModeEphemeral, payload)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(client, membershipPath, cache.Bytes, cache.WithDepth(1))
	if err != nil {
		return nil, err
	}
	return &Member{client: client, path: membershipPath, id: id, node: node, cache: c, payload: payload}, nil
}

// ID returns the member's id.
func (m *Member) ID() string { return m.id }

// Path returns the membership path.
func (m *Member) Path() string { return m.path }

// Start joins the group: it starts keeping the member's node (in the background: see
// WaitForJoin) and loads the group, returning once the members' view is primed. When ctx
// ends first, or the load fails, Start leaves the group again (Close) and returns the error.
// A second Start, or one after Close, fails.
func (m *Member) Start(ctx context.Context) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return fmt.Errorf("group: start %s: %w", m.id, zkrecipes.ErrClosed)
	case m.started:
		m.mu.Unlock()
		return fmt.Errorf("group: start %s: already started", m.id)
	}
	m.started = true
	m.mu.Unlock()
	if err := m.node.Start(ctx); err != nil {
		_ = m.Close(context.WithoutCancel(ctx))
		return err
	}
	if err := m.cache.Start(ctx); err != nil {
		_ = m.Close(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// WaitForJoin waits until the member's node has been created once (nodes.PersistentNode's
// WaitForInitialCreate): ctx's error when it ends first, ErrClosed after Close.
func (m *Member) WaitForJoin(ctx context.Context) error { return m.node.WaitForInitialCreate(ctx) }

// SetPayload makes data the member's payload: written to its node now when the node exists
// (see nodes.PersistentNode.SetData for the outcome rules: an error matching
// zkrecipes.ErrOutcomeUnknown when the write's reply was lost, in which case the write is
// repeated in the background until it lands), and used for every later create.
func (m *Member) SetPayload(ctx context.Context, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	if err := m.node.SetData(ctx, data); err != nil {
		return err
	}
	m.mu.Lock()
	m.payload = data
	m.mu.Unlock()
	return nil
}

// Members returns the group as this member sees it: id -> payload, including this member
// with its own payload even before its node exists (as Curator does). The payloads are
// shared with the cache: do not modify them.
func (m *Member) Members() map[string][]byte {
	out := map[string][]byte{}
	for _, n := range m.cache.Children(m.path) {
		out[n.Name()] = n.Data
	}
	m.mu.Lock()
	out[m.id] = m.payload
	m.mu.Unlock()
	return out
}

// IDs returns the ids of Members, sorted.
func (m *Member) IDs() []string {
	ids := make([]string, 0)
	for id := range maps.Keys(m.Members()) {
		ids = append(ids, id)
	}
	sortStrings(ids)
	return ids
}

// Conflict returns an error matching ErrConflict, naming the session, while the member's
// node is held by another live session (another member with the same id), and nil
// otherwise. The member then waits for that node to go before it creates its own.
func (m *Member) Conflict() error {
	n, ok := m.cache.Get(zkrecipes.JoinPath(m.path, m.id))
	if !ok || m.node.ActualPath() != "" {
		return nil
	}
	owner := n.Stat.EphemeralOwner
	if owner == 0 || owner == m.client.SessionID() {
		return nil
	}
	return fmt.Errorf("%w: %s is owned by session 0x%x", ErrConflict, n.Path, uint64(owner))
}

// Listen registers fn for the group's changes after it is added (add listeners before
// Start to hear the initial load). Every listener is called from the cache's one delivery
// goroutine, in order; a slow listener makes undelivered changes coalesce (see package
// cache). fn must not call Close. The returned stop unregisters fn.
func (m *Member) Listen(fn func(Event)) (stop func()) {
	return m.cache.Listen(func(ev cache.Event[[]byte]) {
		var out Event
		switch ev.Type {
		case cache.NodeCreated:
			if ev.New.Path == m.path {
				return
			}
			out = Event{Type: Joined, ID: ev.New.Name(), Payload: ev.New.Data, Session: ev.New.Stat.EphemeralOwner}
		case cache.NodeChanged:
			if ev.New.Path == m.path {
				return
			}
			out = Event{Type: Changed, ID: ev.New.Name(), Payload: ev.New.Data, Old: ev.Old.Data, Session: ev.New.Stat.EphemeralOwner}
		case cache.NodeDeleted:
			if ev.Old.Path == m.path {
				return
			}
			out = Event{Type: Left, ID: ev.Old.Name(), Old: ev.Old.Data, Session: ev.Old.Stat.EphemeralOwner}
		case cache.Initialized:
			out = Event{Type: Initialized}
		default:
			return
		}
		fn(out)
	})
}

// Close leaves the group: it deletes the member's node (a guaranteed delete, waiting for a
// create still in flight first: see nodes.PersistentNode.Close) and stops the cache. It
// returns ctx's error when ctx ends before that; the delete goes on in the background.
// Close is idempotent.
func (m *Member) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	return errors.Join(m.node.Close(ctx), m.cache.Close(ctx))
}
