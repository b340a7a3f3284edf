// Command withzk runs a command with a real ZooKeeper: it starts one server through the
// test harness (tests/zktest: the Docker image, or the local-process backend), puts its
// connect string in ZKRECIPES_EXAMPLE_SERVERS, runs the command, and removes the server.
// `make test` runs the root module's tests under it, so that the runnable Examples of the
// library's packages run against ZooKeeper while the root module itself needs no harness:
//
//	go run ./cmd/withzk -- go test ./...
//
// It exits with the command's exit status, or 2 when the server could not start.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// envServers is read by internal/examplezk in the root module.
const envServers = "ZKRECIPES_EXAMPLE_SERVERS"

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withzk [--] command [args...]")
		os.Exit(2)
	}
	code, err := zktest.Serve(func(srv *zktest.Server) int {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), envServers+"="+srv.ConnectString())
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			return exit.ExitCode()
		default:
			fmt.Fprintf(os.Stderr, "withzk: %v\n", err)
			return 2
		}
	}, zktest.WithConfig("extendedTypesEnabled", "true")) // TTL nodes, for nodes.ExampleTTLNode
	if err != nil {
		fmt.Fprintf(os.Stderr, "withzk: %v\n", err)
		code = max(code, 2)
	}
	os.Exit(code)
}
