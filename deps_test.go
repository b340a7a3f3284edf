package zkrecipes_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The library's own packages may depend only on the standard library, go-zk and backoff
// (DESIGN.md); test support (internal/zktest, internal/curatortest) and examples may use
// more. This guards against a stray import pulling testcontainers or Docker into users'
// builds.
func TestLibraryDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var libs []string
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "/internal/zktest") || strings.Contains(p, "/internal/curatortest") || strings.Contains(p, "/examples") {
			continue
		}
		libs = append(libs, p)
	}
	args := append([]string{"list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{end}}`}, libs...)
	out, err = exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(dep, "github.com/zkrecipes/zkrecipes"),
			strings.HasPrefix(dep, "github.com/go-zookeeper/zk"),
			strings.HasPrefix(dep, "github.com/cenkalti/backoff/v4"):
		default:
			t.Errorf("library packages %v depend on %s", libs, dep)
		}
	}
}
