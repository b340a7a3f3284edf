package zkrecipes

import (
	"errors"
	"strings"
	"testing"
)

// Every malformed server entry is refused by ParseConnectString with an error that matches
// ErrInvalidArgument and quotes the entry, instead of being handed to go-zk (which would dial
// it until the connection timeout).
func TestParseConnectStringRejectsBadServers(t *testing.T) {
	for _, tc := range []struct{ in, entry string }{
		{"zk1:abc", "zk1:abc"},
		{"zk1:0", "zk1:0"},
		{"zk1:65536", "zk1:65536"},
		{"zk1:99999", "zk1:99999"},
		{"zk1:-1", "zk1:-1"},
		{"zk1:+80", "zk1:+80"},
		{"zk1:", "zk1:"},
		{":2181", ":2181"},
		{"a:1,,b:2", "entry 2"},
		{"a:1, ,b:2/app", "entry 2"},
		{"a:1,", "entry 2"},
		{"zk1:2181:2182", "zk1:2181:2182"},
		{"[::1]:x", "[::1]:x"},
		{"ok:2181,bad:70000", "bad:70000"},
	} {
		_, _, err := ParseConnectString(tc.in)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.entry) {
			t.Errorf("ParseConnectString(%q) = %v, want ErrInvalidArgument naming %q", tc.in, err, tc.entry)
		}
	}
}

func TestParseConnectStringAcceptsGoodServers(t *testing.T) {
	for in, want := range map[string]string{
		"zk1":                     "zk1:2181",
		"zk1:1,zk2:65535":         "zk1:1,zk2:65535",
		" zk1:2181 , zk2 ":        "zk1:2181,zk2:2181",
		"[::1]":                   "[::1]:2181",
		"[::1]:2182,127.0.0.1:3/": "[::1]:2182,127.0.0.1:3",
	} {
		s, _, err := ParseConnectString(in)
		if err != nil || strings.Join(s, ",") != want {
			t.Errorf("ParseConnectString(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
}

// A bad chroot is a bad argument as well as a bad path.
func TestParseConnectStringBadChroot(t *testing.T) {
	for _, in := range []string{"zk1:2181/a//b", "zk1/a/", "zk1/a/../b"} {
		_, _, err := ParseConnectString(in)
		if !errors.Is(err, ErrInvalidArgument) || !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), "chroot") {
			t.Errorf("ParseConnectString(%q) = %v, want ErrInvalidArgument and ErrInvalidPath naming the chroot", in, err)
		}
	}
}
