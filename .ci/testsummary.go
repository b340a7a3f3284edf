// Command testsummary reads `go test -json` and prints what plain `go test` would print (the ok
// line of each passing package, the full output of failing tests and packages), plus what plain
// `go test` hides: the lines a package prints outside its tests (the ZooKeeper harness says there
// which backend it used), every skipped test with its reason, and closing counts. A run whose
// tests were silently skipped thus cannot pass for a run that tested something.
//
// It exits 1 when a test, a package or a build failed. Lines that are not JSON pass through.
//
// Usage: go test -json ./... | testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// event is one record of cmd/test2json's output.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string
	FailedBuild string
	Elapsed     float64
}

type line struct {
	test string
	text string
}

type pkg struct {
	lines   []line
	results map[string]string // test name -> pass, fail or skip
}

type summary struct {
	out                          io.Writer
	pkgs                         map[string]*pkg
	passed, failed, skipped      int
	pkgsOK, pkgsFailed, pkgsNone int
	buildFailed                  bool
	skips                        []string
}

func main() {
	s := &summary{out: os.Stdout, pkgs: map[string]*pkg{}}
	start := time.Now()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		s.handle(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if !s.finish(time.Since(start)) {
		os.Exit(1)
	}
}

func (s *summary) handle(raw []byte) {
	var e event
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &e) != nil {
		fmt.Fprintf(s.out, "%s\n", raw)
		return
	}
	switch e.Action {
	case "build-output":
		// The go command prints build errors as they happen; so do we.
		fmt.Fprint(s.out, e.Output)
		return
	case "build-fail":
		s.buildFailed = true
		return
	}
	if e.Package == "" {
		return
	}
	p := s.pkgs[e.Package]
	if p == nil {
		p = &pkg{results: map[string]string{}}
		s.pkgs[e.Package] = p
	}
	switch e.Action {
	case "output":
		p.lines = append(p.lines, line{e.Test, e.Output})
	case "pass", "fail", "skip":
		if e.Test != "" {
			p.results[e.Test] = e.Action
			s.countTest(e.Package, p, e)
			return
		}
		s.flush(e.Package, p, e)
		delete(s.pkgs, e.Package)
	}
}

func (s *summary) countTest(name string, p *pkg, e event) {
	switch e.Action {
	case "pass":
		s.passed++
	case "fail":
		s.failed++
	case "skip":
		s.skipped++
		// Verbose output puts the reason before the "--- SKIP" line; put it under it instead.
		var head, reason strings.Builder
		for _, l := range p.lines {
			switch {
			case l.test != e.Test || isFraming(l.text):
			case strings.HasPrefix(strings.TrimLeft(l.text, " "), "--- SKIP"):
				head.WriteString(strings.TrimRight(strings.TrimLeft(l.text, " "), "\n"))
			default:
				reason.WriteString(l.text)
			}
		}
		if head.Len() == 0 {
			head.WriteString("--- SKIP: " + e.Test)
		}
		s.skips = append(s.skips, fmt.Sprintf("%s [%s]\n%s", head.String(), name, reason.String()))
	}
}

// flush prints a finished package the way plain `go test` does, plus its lines from outside tests.
func (s *summary) flush(name string, p *pkg, e event) {
	failed := e.Action == "fail"
	switch {
	case failed:
		s.pkgsFailed++
	case len(p.results) == 0:
		s.pkgsNone++
	default:
		s.pkgsOK++
	}
	for _, l := range p.lines {
		if isFraming(l.text) {
			continue
		}
		if l.test == "" || strings.HasPrefix(l.text, "zktest: ") {
			// Plain go test shows only the last line ("ok ..." or "? ... [no test files]") of a
			// package that passed; the harness's lines outside tests are worth seeing too, and so
			// is its one line naming the ZooKeeper backend, whichever test printed it.
			if !failed && l.text == "PASS\n" {
				continue
			}
			fmt.Fprint(s.out, l.text)
			continue
		}
		if failed {
			if r := p.results[l.test]; r != "pass" && r != "skip" {
				fmt.Fprint(s.out, l.text)
			}
		}
	}
}

// isFraming reports whether a line is one of the markers that only verbose output carries.
func isFraming(text string) bool {
	t := strings.TrimLeft(text, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// finish prints what is left of packages that never finished (the go command died), the skipped
// tests and the counts, and reports whether the run passed.
func (s *summary) finish(took time.Duration) bool {
	for name, p := range s.pkgs {
		fmt.Fprintf(s.out, "testsummary: %s did not finish; its output:\n", name)
		s.flush(name, p, event{Action: "fail"})
	}
	if len(s.skips) > 0 {
		fmt.Fprintf(s.out, "\nSkipped tests:\n")
		for _, sk := range s.skips {
			fmt.Fprint(s.out, sk)
		}
	}
	ok := s.failed == 0 && s.pkgsFailed == 0 && !s.buildFailed
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	fmt.Fprintf(s.out, "\nPackages: %d ok, %d failed, %d without tests (%s); tests count subtests and examples\n",
		s.pkgsOK, s.pkgsFailed, s.pkgsNone, took.Round(time.Second))
	if s.passed == 0 && ok {
		fmt.Fprintln(s.out, "warning: no test ran")
	}
	fmt.Fprintln(s.out, verdict)
	// Last, in the plain form CI readers look for.
	fmt.Fprintf(s.out, "Tests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return ok
}
