package zktest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// BasePath returns a path no other test uses, "/t/<test name>-<8 random hex digits>", for
// this test to put all its nodes under (as a chroot or namespace), so tests sharing a server
// never see each other's nodes. It does not create the node; every call returns a new path.
func BasePath(t testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	return "/t/" + safeName(t.Name()) + "-" + hex.EncodeToString(b[:])
}

// safeName maps a test name onto characters that are valid in a ZooKeeper node name and a
// file name.
func safeName(s string) string {
	const max = 80
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if len(s) > max {
		s = s[:max]
	}
	if s == "" {
		s = "test"
	}
	return s
}
