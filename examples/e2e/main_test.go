package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/cluster"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// binDir holds the commands built by TestMain.
var binDir string

const (
	binPrefix   = "zkrecipes-e2e-"
	demoPackage = "github.com/zkrecipes/zkrecipes/examples/demo"
)

func TestMain(m *testing.M) {
	removeStaleBinDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", binPrefix, os.Getpid()))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		var flags []string
		if raceEnabled {
			// The commands then report their own data races: a racy process exits with
			// status 66 when stopped, which fails the test that stops it.
			flags = append(flags, "-race")
		}
		err = cluster.Build(ctx, dir, flags, append(cluster.Commands, demoPackage)...)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the example commands:", err)
		os.Exit(1)
	}
	binDir = dir
	// zktest.Main never returns, so this run's binaries are removed by the next run
	// (removeStaleBinDirs), once this process is gone.
	zktest.Main(m)
}

// removeStaleBinDirs removes the build directories of earlier test processes that have
// exited (their pid is in the name), and leaves those of runs still going alone.
func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), binPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}
