package discovery

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// goldenFile holds what Curator 5.4.0's JsonInstanceSerializer writes for each case below,
// one "<case>\t<bytes>" line each. testdata/golden/java/GoldenGen.java produces it;
// TestGoldenFileIsCurators checks that it still does when Java and Curator are installed.
const goldenFile = "testdata/golden/curator-5.4.0.txt"

const (
	goldenID   = "3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b"
	goldenTime = 1700000000000
	// tricky is GoldenGen's TRICKY: what Jackson escapes and what it does not.
	tricky = "ümläut \u2028\u2029 😀 \u0001\u001f\u007f\u0085 \"q\" \\ / <b>&amp;</b> \b\f\n\r\t \ufeff"
)

type instanceDetails struct {
	Leader bool `json:"leader"`
}

// details mirrors testdata/golden/java/com/example/Details.java.
type details struct {
	Description string            `json:"description"`
	Weight      int32             `json:"weight"`
	Big         int64             `json:"big"`
	Ratio       float64           `json:"ratio"`
	Leader      bool              `json:"leader"`
	Tags        []string          `json:"tags"`
	Meta        map[string]string `json:"meta"`
	Inner       *instanceDetails  `json:"inner"`
}

func intp(v int) *int { return &v }

func base[T any](name string, payload T) Instance[T] {
	return Instance[T]{
		Name: name, ID: goldenID, Address: "127.0.0.1", Port: intp(8080), Payload: payload,
		RegistrationTimeUTC: goldenTime, ServiceType: Dynamic, Enabled: true,
	}
}

// goldenCheck runs one golden case against Curator's bytes.
type goldenCheck func(t *testing.T, want []byte)

type goldenMode int

const (
	exact      goldenMode = iota // Serialize gives Curator's bytes; Deserialize gives the instance back
	decodeOnly                   // Deserialize gives the instance back; Go writes other (equivalent) bytes
	bytesOnly                    // both directions byte-exact, but the decoded value is typed differently
)

func check[T any](in Instance[T], mode goldenMode, opts ...JSONOption) goldenCheck {
	return func(t *testing.T, want []byte) {
		s := JSON[T](opts...)
		if mode != decodeOnly {
			got, err := s.Serialize(in)
			if err != nil {
				t.Fatalf("Serialize: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Serialize:\n got %s\nwant %s", got, want)
			}
		}
		back, err := s.Deserialize(want)
		if err != nil {
			t.Fatalf("Deserialize(Curator's bytes): %v", err)
		}
		if mode != bytesOnly && !reflect.DeepEqual(back, in) {
			t.Errorf("Deserialize(Curator's bytes):\n got %#v\nwant %#v", back, in)
		}
		if mode != decodeOnly {
			again, err := s.Serialize(back)
			if err != nil || !bytes.Equal(again, want) {
				t.Errorf("round trip: %s, %v\nwant %s", again, err, want)
			}
		}
	}
}

func goldenCases() map[string]goldenCheck {
	seedClass := WithJavaClass("com.example.InstanceDetails")
	detailsClass := WithJavaClass("com.example.Details")
	typed := func(st ServiceType) goldenCheck {
		in := base("svc", instanceDetails{})
		in.ServiceType = st
		return check(in, exact, seedClass)
	}
	ssl := base("bookService", instanceDetails{})
	ssl.SSLPort = intp(8443)
	ssl.URISpec = MustParseURISpec("{scheme}://{address}:{port}")
	braces := base[any]("svc", nil)
	braces.Address, braces.Port = "10.0.0.1", intp(0)
	braces.URISpec = MustParseURISpec("{scheme}://{ address }:{port}/x{[}y{]}{ }z{}")
	nulls := base[any]("svc", nil)
	nulls.Address, nulls.Port, nulls.RegistrationTimeUTC = "", nil, 0
	trickyIn := base("svc", tricky)
	trickyIn.Address, trickyIn.Port, trickyIn.SSLPort, trickyIn.RegistrationTimeUTC = tricky, intp(-1), intp(65535), -5
	trickyIn.URISpec = MustParseURISpec(strings.NewReplacer("{", "", "}", "").Replace(tricky) + "{vär}")
	disabled := base("bookService", instanceDetails{Leader: true})
	disabled.Enabled = false

	return map[string]goldenCheck{
		"seed":                     check(base("bookService", instanceDetails{Leader: true}), exact, seedClass),
		"seed-follower":            check(base("bookService", instanceDetails{}), exact, seedClass),
		"seed-noncompat-disabled":  check(disabled, exact, seedClass, WithEnabledProperty()),
		"seed-noncompat-enabled":   check(base("bookService", instanceDetails{Leader: true}), exact, seedClass, WithEnabledProperty()),
		"ssl-urispec":              check(ssl, exact, seedClass),
		"urispec-braces":           check(braces, exact),
		"type-DYNAMIC":             typed(Dynamic),
		"type-STATIC":              typed(Static),
		"type-PERMANENT":           typed(Permanent),
		"type-DYNAMIC_SEQUENTIAL":  typed(DynamicSequential),
		"nulls":                    check(nulls, exact),
		"tricky-strings":           check(trickyIn, exact),
		"payload-string":           check(base("svc", "hello"), exact),
		"payload-empty-string":     check(base("svc", ""), exact),
		"payload-int":              check(base("svc", int32(42)), exact),
		"payload-int-negative":     check(base("svc", int32(math.MinInt32)), exact),
		"payload-long":             check(base("svc", int64(5)), exact),
		"payload-long-big":         check(base("svc", math.MaxInt64), exact),
		"payload-short":            check(base("svc", int16(-3)), exact),
		"payload-byte":             check(base("svc", int8(7)), exact),
		"payload-double":           check(base("svc", 2.0), exact),
		"payload-double-frac":      check(base("svc", 0.1), exact),
		"payload-double-third":     check(base("svc", 1.0/3.0), exact),
		"payload-double-big":       check(base("svc", 1e10), exact),
		"payload-double-small":     check(base("svc", 1.5e-7), exact),
		"payload-double-edge-low":  check(base("svc", 0.001), exact),
		"payload-double-edge-high": check(base("svc", 1234567.0), exact),
		"payload-double-sci":       check(base("svc", 12345678.0), exact),
		"payload-double-negzero":   check(base("svc", math.Copysign(0, -1)), exact),
		"payload-double-max":       check(base("svc", math.MaxFloat64), exact),
		"payload-float":            check(base("svc", float32(1.5)), exact),
		"payload-float-frac":       check(base("svc", float32(0.1)), exact),
		"payload-bool":             check(base("svc", true), exact),
		"payload-biginteger":       check(base("svc", json.Number("123456789012345678901234567890")), exact),
		"payload-list":             check(base("svc", []string{"a", "b"}), exact),
		"payload-list-empty":       check(base("svc", []string{}), exact),
		"payload-list-mixed":       check(base("svc", []any{1, "x", true}), bytesOnly),
		"payload-map":              check(base("svc", map[string]any{"k": "v", "n": 1, "nested": map[string]any{"a": 1}}), bytesOnly),
		"payload-map-empty":        check(base("svc", map[string]any{}), exact),
		"payload-bytes":            check(base("svc", []byte{1, 2, 3}), exact),
		"payload-pojo": check(base("svc", details{
			Description: tricky, Weight: 3, Big: 1 << 40, Ratio: 0.25, Leader: true, Tags: []string{"x", "y"},
			Meta: map[string]string{"dc": "eu-1"}, Inner: &instanceDetails{Leader: true},
		}), exact, detailsClass),
		// Jackson writes the double 0.0 as "0.0", encoding/json as "0": equal for every
		// reader, but not the same bytes. Only top-level doubles are written Java's way.
		"payload-pojo-empty": check(base("svc", details{}), decodeOnly, detailsClass),
	}
}

func readGolden(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, data, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", goldenFile, sc.Text())
		}
		out[name] = []byte(data)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGoldenCurator(t *testing.T) {
	golden := readGolden(t)
	cases := goldenCases()
	for name := range golden {
		if cases[name] == nil {
			t.Errorf("golden case %q has no Go counterpart", name)
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, ok := golden[name]
			if !ok {
				t.Fatalf("no golden bytes for %q in %s", name, goldenFile)
			}
			c(t, want)
		})
	}
}

// The seed's instance, exactly as CURATOR-COMPAT.md gives it.
func TestSeedBytes(t *testing.T) {
	in := base("bookService", instanceDetails{Leader: true})
	in.ID = "<uuid>"
	got, err := JSON[instanceDetails](WithJavaClass("com.example.InstanceDetails")).Serialize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"bookService","id":"<uuid>","address":"127.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"com.example.InstanceDetails","leader":true},"registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":null}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestGoldenFileIsCurators regenerates the golden file with the real Curator jars, when
// they are installed, and checks that it has not changed (ZKRECIPES_UPDATE_GOLDEN=1
// rewrites it instead).
func TestGoldenFileIsCurators(t *testing.T) {
	if testing.Short() {
		t.Skip("needs javac and Curator's jars")
	}
	jars := []string{"curator-x-discovery", "curator-framework", "curator-client", "jackson-databind",
		"jackson-core", "jackson-annotations", "slf4j-api", "slf4j-nop", "guava", "zookeeper"}
	var cp []string
	for _, j := range jars {
		p := filepath.Join("/usr/share/java", j+".jar")
		if _, err := os.Stat(p); err != nil {
			t.Skipf("Curator 5.4 jars not installed (%v); apt-get install libcurator-discovery-java", err)
		}
		cp = append(cp, p)
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("javac not installed")
	}
	out := t.TempDir()
	src, _ := filepath.Glob("testdata/golden/java/com/example/*.java")
	args := append([]string{"-encoding", "UTF-8", "-d", out, "-cp", strings.Join(cp, ":"), "testdata/golden/java/GoldenGen.java"}, src...)
	if b, err := exec.Command(javac, args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	cmd := exec.Command("java", "-cp", strings.Join(append(cp, out), ":"), "GoldenGen")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("GoldenGen: %v\n%s", err, stderr.Bytes())
	}
	t.Logf("GoldenGen ran in %v", time.Since(start))
	if os.Getenv("ZKRECIPES_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Curator now writes something else than %s; rerun with ZKRECIPES_UPDATE_GOLDEN=1 and review the diff:\n%s", goldenFile, got)
	}
}
