package curatortest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// VersionedCount is Java's SharedCount.getVersionedValue().
type VersionedCount struct {
	Value   int32 `json:"value"`
	Version int32 `json:"version"`
}

// CountStart starts a Java SharedCount called name on path with seed.
func (p *Peer) CountStart(ctx context.Context, name, path string, seed int32) error {
	if err := words(name, path); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("count-start %s %s %d", name, path, seed))
	return err
}

// WaitCount waits until the count's listener reported the value n (countHasChanged), also
// when it did so before the call.
func (p *Peer) WaitCount(ctx context.Context, name string, n int32) error {
	want := fmt.Sprintf("count %s %d", name, n)
	_, err := p.WaitEvent(ctx, func(ev string) bool { return ev == want })
	return err
}

// CountGet returns the count's local copy (getVersionedValue).
func (p *Peer) CountGet(ctx context.Context, name string) (VersionedCount, error) {
	var v VersionedCount
	if err := word(name); err != nil {
		return v, err
	}
	err := p.cmdJSON(ctx, "count-get "+name, &v)
	return v, err
}

// CountIncrement makes n increments, each a loop of getVersionedValue and
// trySetCount(value+1) until one succeeds, and returns how many trySetCount calls it made.
func (p *Peer) CountIncrement(ctx context.Context, name string, n int) (int, error) {
	if err := word(name); err != nil {
		return 0, err
	}
	var calls int
	err := p.cmdJSON(ctx, fmt.Sprintf("count-increment %s %d", name, n), &calls)
	return calls, err
}

// CountClose closes the count.
func (p *Peer) CountClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "count-close "+name)
	return err
}

// AtomicIncrement calls increment() n times on a DistributedAtomicLong at path (retry
// policy RetryNTimes(10000, 1 ms)) and returns how many succeeded.
func (p *Peer) AtomicIncrement(ctx context.Context, path string, n int) (int, error) {
	if err := word(path); err != nil {
		return 0, err
	}
	var ok int
	err := p.cmdJSON(ctx, fmt.Sprintf("dal-increment %s %d", path, n), &ok)
	return ok, err
}

// AtomicGet returns a DistributedAtomicLong's get().postValue().
func (p *Peer) AtomicGet(ctx context.Context, path string) (int64, error) {
	if err := word(path); err != nil {
		return 0, err
	}
	data, err := p.Cmd(ctx, "dal-get "+path)
	if err != nil {
		return 0, err
	}
	if len(data) != 1 {
		return 0, fmt.Errorf("curatortest: dal-get: %q", data)
	}
	return strconv.ParseInt(data[0], 10, 64)
}

// PersistentNodeStart starts a Java PersistentNode called name: mode is a CreateMode name
// (EPHEMERAL, PERSISTENT, EPHEMERAL_SEQUENTIAL, ...), data a word of text.
func (p *Peer) PersistentNodeStart(ctx context.Context, name, mode, path, data string, protected bool) error {
	if err := words(name, mode, path, data); err != nil {
		return err
	}
	line := strings.Join([]string{"pn-start", name, mode, path, data}, " ")
	if protected {
		line += " protected"
	}
	_, err := p.Cmd(ctx, line)
	return err
}

// PersistentNodeWait calls waitForInitialCreate(d) and returns its answer.
func (p *Peer) PersistentNodeWait(ctx context.Context, name string, d time.Duration) (bool, error) {
	if err := word(name); err != nil {
		return false, err
	}
	var ok bool
	err := p.cmdJSON(ctx, fmt.Sprintf("pn-wait %s %d", name, d.Milliseconds()), &ok)
	return ok, err
}

// PersistentNodePath returns getActualPath(), "" when it has none.
func (p *Peer) PersistentNodePath(ctx context.Context, name string) (string, error) {
	if err := word(name); err != nil {
		return "", err
	}
	var path *string
	if err := p.cmdJSON(ctx, "pn-path "+name, &path); err != nil || path == nil {
		return "", err
	}
	return *path, nil
}

// PersistentNodeSetData calls setData with data (a word of text).
func (p *Peer) PersistentNodeSetData(ctx context.Context, name, data string) error {
	if err := words(name, data); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "pn-setdata "+name+" "+data)
	return err
}

// PersistentNodeClose closes the node (a guaranteed delete of it).
func (p *Peer) PersistentNodeClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "pn-close "+name)
	return err
}

// TTLNodeStart starts a Java PersistentTtlNode called name on path.
func (p *Peer) TTLNodeStart(ctx context.Context, name, path string, ttl time.Duration, data string) error {
	if err := words(name, path, data); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("ttl-start %s %s %d %s", name, path, ttl.Milliseconds(), data))
	return err
}

// TTLNodeClose closes the TTL node (it stops touching; nothing is deleted).
func (p *Peer) TTLNodeClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "ttl-close "+name)
	return err
}

func words(ws ...string) error {
	for _, w := range ws {
		if err := word(w); err != nil {
			return err
		}
	}
	return nil
}

// CountBench runs n trySetCount increments of a SharedCount at path (a full server path:
// the bench clients have no namespace) shared by threads contenders, each with its own
// Curator client, and returns the time they took.
func (p *Peer) CountBench(ctx context.Context, connectString, path string, threads, n int) (time.Duration, error) {
	if err := words(connectString, path); err != nil {
		return 0, err
	}
	data, err := p.Cmd(ctx, fmt.Sprintf("count-bench %s %s %d %d", connectString, path, threads, n))
	if err != nil {
		return 0, err
	}
	if len(data) != 1 {
		return 0, fmt.Errorf("curatortest: count-bench: %q", data)
	}
	ns, err := strconv.ParseInt(data[0], 10, 64)
	return time.Duration(ns), err
}

// GroupStart starts a Java GroupMember called name in the group at path with id and
// payload ("" for none: Curator's default data).
func (p *Peer) GroupStart(ctx context.Context, name, path, id, payload string) error {
	if payload == "" {
		payload = "-"
	}
	if err := words(name, path, id, payload); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("group-start %s %s %s %s", name, path, id, payload))
	return err
}

// GroupMembers returns the Java member's getCurrentMembers, payloads as UTF-8 text.
func (p *Peer) GroupMembers(ctx context.Context, name string) (map[string]string, error) {
	var m map[string]string
	if err := word(name); err != nil {
		return nil, err
	}
	err := p.cmdJSON(ctx, "group-members "+name, &m)
	return m, err
}

// GroupSetPayload sets the Java member's payload (setThisData).
func (p *Peer) GroupSetPayload(ctx context.Context, name, payload string) error {
	if err := words(name, payload); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("group-setpayload %s %s", name, payload))
	return err
}

// GroupClose closes the Java member (its node is deleted).
func (p *Peer) GroupClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "group-close "+name)
	return err
}

// GroupViewsStart starts k Java GroupMembers called name (ids name-0 .. name-(k-1)) in the
// group at path (a full server path: their clients have no namespace), each on a Curator
// client of its own with the given session timeout, for timing how fast the views see a
// member go.
func (p *Peer) GroupViewsStart(ctx context.Context, name, connectString, path string, k int, session time.Duration) error {
	if err := words(name, connectString, path); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("group-views %s %s %s %d %d", name, connectString, path, k, session.Milliseconds()))
	return err
}

// GroupViewsAwait waits until every view of name lists the member id (Java waits on its
// caches' events, for at most d).
func (p *Peer) GroupViewsAwait(ctx context.Context, name, id string, d time.Duration) error {
	if err := words(name, id); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("group-views-await %s %s %d", name, id, d.Milliseconds()))
	return err
}

// GroupViewsArm checks that every view of name lists id and makes the peer note the
// instant the last of them drops it; GroupViewsDropped returns that instant.
func (p *Peer) GroupViewsArm(ctx context.Context, name, id string) error {
	if err := words(name, id); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("group-views-arm %s %s", name, id))
	return err
}

// GroupViewsDropped waits for the drop that GroupViewsArm armed and returns its instant:
// Java's Instant.now() when its last view had dropped the member. It is a wall-clock time
// without a monotonic reading, so Sub against a time.Now of this process compares the two
// readings of the host's one realtime clock.
func (p *Peer) GroupViewsDropped(ctx context.Context, name string) (time.Time, error) {
	prefix := "groupviews " + name + " dropped "
	ev, err := p.WaitEvent(ctx, func(ev string) bool { return strings.HasPrefix(ev, prefix) })
	if err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(ev, prefix), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("curatortest: %q: %w", ev, err)
	}
	return time.Unix(0, ns), nil
}

// GroupViewsClose closes the views and their clients.
func (p *Peer) GroupViewsClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "group-views-close "+name)
	return err
}
