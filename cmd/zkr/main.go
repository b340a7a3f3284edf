// Command zkr shows what Curator recipes (and zkrecipes, which writes the same layouts) keep
// in ZooKeeper: who leads an election and which nodes belong to which session, the instances
// of a service directory, who holds and who waits for a lock, and a subtree with those
// layouts recognised.
//
//	zkr --servers zk1:2181,zk2:2181 leader show /myapp/leader
//	ZKR_SERVERS=zk1:2181 zkr services show bookService --json
//
// Every command takes --json for scripts. Exit status: 0 success, 1 any other failure,
// 2 bad usage, 3 the path or service does not exist, 4 ZooKeeper could not be reached.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses that scripts can rely on.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConnect  = 4
)

// exitError carries the status a failure exits with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &exitError{exitNotFound, fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "zkr:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Errors that come from cobra itself (an unknown command or flag) are usage errors.
	return exitUsage
}
