package main

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The Curator layouts zkr recognises (see CURATOR-COMPAT.md in the design notes): a
// protected name starts with "_c_" and a 36-character UUID and a dash; the recipe's marker
// follows, and the 10-digit sequence the server appended.
const (
	markerLatch = "latch-"   // LeaderLatch
	markerLock  = "lock-"    // InterProcessMutex, LeaderSelector, a semaphore's locks
	markerRead  = "__READ__" // InterProcessReadWriteLock, reader
	markerWrite = "__WRIT__" // InterProcessReadWriteLock, writer
	markerLease = "lease-"   // InterProcessSemaphoreV2 lease

	revokeData = "__REVOKE__" // Revoker's request to a lock holder
)

// protectedPrefixLen is len("_c_") + 36 + len("-").
const protectedPrefixLen = 3 + 36 + 1

// isProtected reports whether name has Curator's protected-create prefix.
func isProtected(name string) bool {
	if len(name) < protectedPrefixLen || !strings.HasPrefix(name, "_c_") || name[protectedPrefixLen-1] != '-' {
		return false
	}
	for i, r := range name[3 : protectedPrefixLen-1] {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// orderKey is what Curator sorts the children of a recipe by: the text after the last
// marker, or the whole name when it has none.
func orderKey(name, marker string) string {
	if i := strings.LastIndex(name, marker); i >= 0 {
		return name[i+len(marker):]
	}
	return name
}

// rwOrderKey is the read/write lock's key: the name cut after the last __READ__, then after
// the last __WRIT__, so that readers and writers form one queue.
func rwOrderKey(name string) string {
	return orderKey(orderKey(name, markerRead), markerWrite)
}

// hasSequence reports whether key is the 10-digit sequence a sequential create appends.
func hasSequence(key string) bool {
	if len(key) != 10 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < '0' || key[i] > '9' {
			return false
		}
	}
	return true
}

// sortByKey sorts names by key (then by name, so the order is total).
func sortByKey(names []string, key func(string) string) {
	slices.SortStableFunc(names, func(a, b string) int {
		return cmp.Or(strings.Compare(key(a), key(b)), strings.Compare(a, b))
	})
}

// recipeNode describes what a node's name says it is, or "" when it is no recipe node.
func recipeNode(name string) string {
	switch {
	case strings.Contains(name, markerWrite):
		return "write-lock node"
	case strings.Contains(name, markerRead):
		return "read-lock node"
	case strings.Contains(name, markerLatch) && hasSequence(orderKey(name, markerLatch)):
		return "latch participant"
	case strings.Contains(name, markerLease) && hasSequence(orderKey(name, markerLease)):
		return "semaphore lease"
	case strings.Contains(name, markerLock) && hasSequence(orderKey(name, markerLock)):
		return "lock node"
	}
	return ""
}

// nodeMode names a node's mode from its ephemeral owner: "ephemeral" (owned by a session)
// or "persistent". Servers report container and TTL nodes to clients as persistent ones
// (their ephemeral owner reads 0), so zkr cannot tell those apart.
func nodeMode(owner int64) string {
	if owner != 0 {
		return "ephemeral"
	}
	return "persistent"
}

// isEphemeral reports whether the owner is a session.
func isEphemeral(owner int64) bool { return nodeMode(owner) == "ephemeral" }

// sessionHex formats a session id as ZooKeeper's tools do.
func sessionHex(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }

// preview renders node data for a human: quoted text when it is printable UTF-8 (cut at
// max runes), otherwise its length and leading bytes in hex; "" for no data.
func preview(data []byte, max int) string {
	if len(data) == 0 {
		return ""
	}
	if utf8.Valid(data) && printable(string(data)) {
		s := string(data)
		if utf8.RuneCountInString(s) > max {
			r := []rune(s)
			return fmt.Sprintf("%q…", string(r[:max]))
		}
		return fmt.Sprintf("%q", s)
	}
	n := min(len(data), 16)
	more := ""
	if n < len(data) {
		more = "…"
	}
	return fmt.Sprintf("%d bytes 0x%s%s", len(data), hex.EncodeToString(data[:n]), more)
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
