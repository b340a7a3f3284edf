package zkrecipes

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	good := []string{"/", "/a", "/a/b", "/a.b/c-d_e", "/ü/ß"}
	for _, p := range good {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	bad := map[string]string{
		"":       "empty",
		"a":      "must start with /",
		"/a/":    "must not end",
		"/a//b":  "empty element",
		"/a/./b": "relative element .",
		"/..":    "relative element ..",
		"/a\x00": "NUL",
	}
	for p, why := range bad {
		err := ValidatePath(p)
		if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), why) {
			t.Errorf("ValidatePath(%q) = %v, want ErrInvalidPath mentioning %q", p, err, why)
		}
	}
}

func TestJoinSplitPath(t *testing.T) {
	if got := JoinPath("/a/", "b", "/c"); got != "/a/b/c" {
		t.Errorf("JoinPath = %q", got)
	}
	if got := JoinPath(); got != "/" {
		t.Errorf("JoinPath() = %q", got)
	}
	for in, want := range map[string][2]string{"/a/b": {"/a", "b"}, "/a": {"/", "a"}} {
		p, n := SplitPath(in)
		if p != want[0] || n != want[1] {
			t.Errorf("SplitPath(%q) = %q, %q", in, p, n)
		}
	}
}

func TestNamespacePaths(t *testing.T) {
	ns, err := normalizeNamespace("/app/", "/prod/")
	if err != nil || ns != "/app/prod" {
		t.Fatalf("normalizeNamespace = %q, %v", ns, err)
	}
	c := &Client{ns: ns}
	if got := c.fullPath("/"); got != "/app/prod" {
		t.Errorf("fullPath(/) = %q", got)
	}
	if got := c.fullPath("/x"); got != "/app/prod/x" {
		t.Errorf("fullPath(/x) = %q", got)
	}
	if got := c.relPath("/app/prod/x"); got != "/x" {
		t.Errorf("relPath = %q", got)
	}
	if got := c.relPath("/app/prod"); got != "/" {
		t.Errorf("relPath(ns) = %q", got)
	}
	if _, err := normalizeNamespace("a/../b"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("bad namespace accepted: %v", err)
	}
}

func TestParseConnectString(t *testing.T) {
	s, chroot, err := ParseConnectString("zk1:2181, zk2:2182,zk3/app/prod")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s, ",") != "zk1:2181,zk2:2182,zk3:2181" || chroot != "/app/prod" {
		t.Errorf("got %v %q", s, chroot)
	}
	if _, _, err := ParseConnectString("/only/chroot"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("connect string without servers: %v", err)
	}
	if _, _, err := ParseConnectString("zk1:2181/a//b"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("bad chroot: %v", err)
	}
}

func TestUUIDAndProtectedNames(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		u := newUUID()
		if !isUUID(u) || u[14] != '4' || !strings.ContainsRune("89ab", rune(u[19])) || strings.ToLower(u) != u {
			t.Fatalf("bad v4 uuid %q", u)
		}
		if seen[u] {
			t.Fatalf("duplicate uuid %q", u)
		}
		seen[u] = true
	}
	name := "_c_37a02f08-149f-45f3-a688-613d01e87f04-latch-0000000007"
	if rest, ok := ProtectedName(name); !ok || rest != "latch-0000000007" {
		t.Errorf("ProtectedName(%q) = %q, %v", name, rest, ok)
	}
	// go-zk's own protected format (32 hex chars, no dashes) is not Curator's.
	if _, ok := ProtectedName("_c_37a02f08149f45f3a688613d01e87f04-lock-0000000001"); ok {
		t.Error("go-zk's protected format recognised as Curator's")
	}
	if _, ok := ProtectedName("latch-0000000001"); ok {
		t.Error("plain name recognised as protected")
	}
}

// Every operation validates its path: a valid one must cost no allocation.
func TestValidatePathDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = ValidatePath("/services/svc/instance-00042") }); n != 0 {
		t.Errorf("ValidatePath allocates %v times", n)
	}
}
