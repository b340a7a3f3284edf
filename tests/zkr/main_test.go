// Package zkr_test runs the zkr command (cmd/zkr, a module of its own) as a user does: it
// builds the binary once, then runs it against real ZooKeeper on trees written by the Go
// recipes, by hand and by the Java Curator peer, and checks its output and exit status.
package zkr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

var zkrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zkr-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	zkrBin = filepath.Join(dir, "zkr")
	build := exec.Command("go", "build", "-race", "-o", zkrBin, ".")
	build.Dir = filepath.Join("..", "..", "cmd", "zkr")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building cmd/zkr: %v\n%s", err, out)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	zktest.Main(m)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect opens a Client at the server's root (no namespace: zkr sees absolute paths).
func connect(t testing.TB, srv *zktest.Server, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	opts = append([]zkrecipes.Option{zkrecipes.WithSessionTimeout(4 * time.Second)}, opts...)
	c, err := zkrecipes.Connect(testCtx(t), srv.Servers(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

// zkr runs the command with the server in $ZKR_SERVERS.
func zkr(t testing.TB, srv *zktest.Server, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, zkrBin, args...)
	cmd.Env = append(os.Environ(), "ZKR_SERVERS="+srv.ConnectString())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("zkr %v: %v", args, err)
	}
	return r
}

// mustZkr runs zkr and fails the test unless it exits 0.
func mustZkr(t testing.TB, srv *zktest.Server, args ...string) string {
	t.Helper()
	r := zkr(t, srv, args...)
	if r.code != 0 {
		t.Fatalf("zkr %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

var (
	reUUID    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reSession = regexp.MustCompile(`0x[0-9a-f]{12,16}`)
	reTime    = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)`)
	reSpaces  = regexp.MustCompile(`(\S) {2,}`)
)

// normalize replaces what changes from run to run (uuids, session ids, times, the test's
// base path) and collapses the tables' column padding (not the indentation), so that outputs can be compared with
// a golden text.
func normalize(s, base string) string {
	s = strings.ReplaceAll(s, base, "/BASE")
	s = reUUID.ReplaceAllString(s, "UUID")
	s = reSession.ReplaceAllString(s, "0xSESSION")
	s = reTime.ReplaceAllString(s, "TIME")
	return reSpaces.ReplaceAllString(s, "$1  ")
}

// golden compares got with want after normalizing got, showing both on a mismatch.
func golden(t *testing.T, got, base, want string) {
	t.Helper()
	got = normalize(got, base)
	want = strings.TrimLeft(want, "\n")
	if got != want {
		t.Errorf("output differs from the golden text\n--- got:\n%s--- want:\n%s", got, want)
	}
}
