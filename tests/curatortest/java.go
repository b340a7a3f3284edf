package curatortest

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

//go:embed java
var javaSources embed.FS

// jarDir is where Debian's libcurator-*-java, libzookeeper-java and libslf4j-java put their jars.
const jarDir = "/usr/share/java"

// requiredJars are the jars Available checks. Their manifests' Class-Path entries pull in the
// rest (Guava, Jackson, zookeeper-jute, slf4j-api, Netty), so those are not listed.
var requiredJars = []string{
	"curator-recipes.jar",
	"curator-x-discovery.jar",
	"curator-framework.jar",
	"curator-client.jar",
	"zookeeper.jar",
	"slf4j-simple.jar",
}

// installHint names the Debian packages that provide everything Start needs.
const installHint = "apt-get install -y default-jdk-headless libcurator-framework-java " +
	"libcurator-recipes-java libcurator-discovery-java libslf4j-java"

// ClasspathEnv, when set, replaces the Debian classpath with a colon-separated list of jars
// holding Curator 5.4, its dependencies and an SLF4J binding (for machines without Debian's jars).
const ClasspathEnv = "CURATORTEST_CLASSPATH"

// Classpath returns the classpath the peer is compiled and run with (without the peer's own
// classes).
func Classpath() string {
	if cp := os.Getenv(ClasspathEnv); cp != "" {
		return cp
	}
	jars := make([]string, len(requiredJars))
	for i, j := range requiredJars {
		jars[i] = filepath.Join(jarDir, j)
	}
	return strings.Join(jars, string(os.PathListSeparator))
}

// Available reports whether a Java Curator peer can be started: java and javac on PATH and
// Debian's Curator 5.4 jars present. The error says what to install.
func Available() error {
	var missing []string
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (not on PATH)")
		}
	}
	if os.Getenv(ClasspathEnv) == "" {
		for _, j := range requiredJars {
			p := filepath.Join(jarDir, j)
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("curatortest: Java Curator peer unavailable, missing %s; install with: %s",
			strings.Join(missing, ", "), installHint)
	}
	return nil
}

var compiled struct {
	once sync.Once
	dir  string
	err  error
}

// classesDir compiles the embedded Java sources once per test binary. The classes are kept in
// the user cache under the sources' hash, so later runs (and other test binaries) skip javac.
func classesDir() (string, error) {
	compiled.once.Do(func() {
		compiled.dir, compiled.err = compile()
	})
	return compiled.dir, compiled.err
}

// peerClass is the main class; its .class file marks a complete compilation.
const peerClass = "zkrecipes.interop.Peer"

func compile() (string, error) {
	files, hash, err := sources()
	if err != nil {
		return "", err
	}
	var bases []string
	if dir, err := os.UserCacheDir(); err == nil {
		bases = append(bases, dir)
	}
	// A read-only home (some CI sandboxes) must not stop the tests.
	bases = append(bases, os.TempDir())
	var errs []error
	for _, base := range bases {
		dir, err := compileInto(filepath.Join(base, "zkrecipes-curatortest"), hash, files)
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
		var javacErr *javacError
		if errors.As(err, &javacErr) {
			break
		}
	}
	return "", errors.Join(errs...)
}

// javacError is a compilation failure: retrying elsewhere cannot help.
type javacError struct {
	err    error
	output []byte
}

func (e *javacError) Error() string {
	return fmt.Sprintf("curatortest: javac: %v\n%s", e.err, e.output)
}

func compileInto(base, hash string, files []string) (string, error) {
	final := filepath.Join(base, hash)
	marker := filepath.Join(final, filepath.FromSlash(strings.ReplaceAll(peerClass, ".", "/")+".class"))
	if _, err := os.Stat(marker); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("curatortest: %w", err)
	}
	// Compile into a private directory and rename it into place: a concurrent test binary then
	// sees either nothing or a complete set of classes.
	tmp, err := os.MkdirTemp(base, hash+".tmp-")
	if err != nil {
		return "", fmt.Errorf("curatortest: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	out := filepath.Join(tmp, "classes")
	args := []string{"-encoding", "UTF-8", "-Xlint:-path", "-d", out, "-cp", Classpath()}
	for _, name := range files {
		data, err := javaSources.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("curatortest: %w", err)
		}
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("curatortest: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return "", fmt.Errorf("curatortest: %w", err)
		}
		args = append(args, p)
	}
	if msg, err := exec.Command("javac", args...).CombinedOutput(); err != nil {
		return "", &javacError{err: err, output: msg}
	}
	if err := os.Rename(out, final); err != nil {
		// Another process may have won the race; its classes are as good as ours.
		if _, statErr := os.Stat(marker); statErr == nil {
			return final, nil
		}
		return "", fmt.Errorf("curatortest: %w", err)
	}
	return final, nil
}

// sources lists the embedded .java files and hashes their names and contents (and the
// classpath, since a different Curator may not compile the same way).
func sources() (files []string, hash string, err error) {
	err = fs.WalkDir(javaSources, "java", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".java") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("curatortest: %w", err)
	}
	if len(files) == 0 {
		return nil, "", errors.New("curatortest: no embedded Java sources")
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "classpath %q\n", Classpath())
	for _, f := range files {
		data, err := javaSources.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("curatortest: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return files, hex.EncodeToString(h.Sum(nil))[:16], nil
}
