package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// diffsDir holds one generated diff per step, the chapter as a patch.
const diffsDir = "docs/diffs"

// TestDiffs checks that docs/diffs/STEP.diff is diff -ruN of the step
// before and STEP, so the book never disagrees with the code; -update
// writes them.
func TestDiffs(t *testing.T) {
	requireTool(t, "diff")
	steps := numberedSteps()
	want := map[string]bool{}
	for i := 1; i < len(steps); i++ {
		prev, step := steps[i-1], steps[i]
		name := filepath.Join(diffsDir, step+".diff")
		want[filepath.Base(name)] = true
		t.Run(step, func(t *testing.T) {
			generated, err := stepDiff(prev, step)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(harness.repo, name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, generated, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			stored, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(stored, generated) {
				t.Errorf("%s is stale; run: go test ./tests -run TestDiffs -update", name)
			}
		})
	}
	// A diff of a step that is gone (or renamed) is stale too.
	existing, _ := filepath.Glob(filepath.Join(harness.repo, diffsDir, "*.diff"))
	for _, p := range existing {
		if want[filepath.Base(p)] {
			continue
		}
		if *update {
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s/%s belongs to no step; run: go test ./tests -run TestDiffs -update", diffsDir, filepath.Base(p))
	}
}

// stepDiff is diff -ruN steps/PREV steps/STEP run from the repo root,
// without the timestamps diff puts on its ---/+++ lines, so it only
// changes when the code does.
func stepDiff(prev, step string) ([]byte, error) {
	cmd := exec.Command("diff", "-ruN", stepDir(prev), stepDir(step))
	cmd.Dir = harness.repo
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	// diff exits 1 when the trees differ, 2 on trouble.
	if err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1) {
		return nil, fmt.Errorf("diff -ruN %s %s: %w", stepDir(prev), stepDir(step), err)
	}
	lines := strings.SplitAfter(string(out), "\n")
	for i, l := range lines {
		// Only the two header lines after "diff -ruN a b": a removed line
		// of code may also start with "--".
		if !strings.HasPrefix(l, "diff -ruN ") || i+2 >= len(lines) {
			continue
		}
		for j := i + 1; j <= i+2; j++ {
			if tab := strings.IndexByte(lines[j], '\t'); tab >= 0 {
				lines[j] = lines[j][:tab] + "\n"
			}
		}
	}
	return []byte(strings.Join(lines, "")), nil
}

// maxStepDiff is how many lines a step's program code may change (added
// plus removed, tests and README excluded): about what a learner reads
// in one sitting, next to its chapter.
const maxStepDiff = 800

// overStepDiff lists the steps whose diff is still over maxStepDiff, with
// why: the test fails for a step over the limit that is not listed, and
// for a listed step that is under it again (take it off the list).
var overStepDiff = map[string]string{}

// diffSize is what diff -ruN says about a step's program code.
type diffSize struct {
	step           string
	files          int // files added, removed or changed
	added, removed int // lines
}

// stepCodeDiffSize counts the changed lines of diff -ruN between two
// steps, leaving out tests (*_test.go) and the steps' README.md.
func stepCodeDiffSize(prev, step string) (diffSize, error) {
	cmd := exec.Command("diff", "-ruN", "-x", "*_test.go", "-x", "README.md", stepDir(prev), stepDir(step))
	cmd.Dir = harness.repo
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1) {
		return diffSize{}, fmt.Errorf("diff -ruN %s %s: %w", stepDir(prev), stepDir(step), err)
	}
	s := diffSize{step: step}
	lines := strings.Split(string(out), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "diff -ruN "):
			s.files++
			i += 2 // the --- and +++ header lines
		case strings.HasPrefix(l, "+"):
			s.added++
		case strings.HasPrefix(l, "-"):
			s.removed++
		}
	}
	return s, nil
}

// The diff sizes table in docs/README.md sits between these markers.
const (
	diffSizesStart = "<!-- diff-sizes -->"
	diffSizesEnd   = "<!-- /diff-sizes -->"
)

// renderDiffSizes is the table of every step's program-code diff.
func renderDiffSizes(sizes []diffSize) string {
	var b strings.Builder
	b.WriteString("| step | files | lines added | lines removed | changed |\n|---|--:|--:|--:|--:|\n")
	for _, s := range sizes {
		fmt.Fprintf(&b, "| [%s](diffs/%s.diff) | %d | %d | %d | %d |\n", s.step, s.step, s.files, s.added, s.removed, s.added+s.removed)
	}
	b.WriteString("\nWritten by `go test ./tests -run TestDiffsSizes -update` from\n" +
		"`diff -ruN -x '*_test.go' -x README.md` of each step and the one before.\n")
	return b.String()
}

// TestDiffsSizes checks the table of diff sizes in docs/README.md and the
// limit on each step's diff; -update writes the table.
func TestDiffsSizes(t *testing.T) {
	requireTool(t, "diff")
	steps := numberedSteps()
	var sizes []diffSize
	for i := 1; i < len(steps); i++ {
		s, err := stepCodeDiffSize(steps[i-1], steps[i])
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, s)
		changed := s.added + s.removed
		why, listed := overStepDiff[s.step]
		switch {
		case changed > maxStepDiff && !listed:
			t.Errorf("%s changes %d lines of program code, over %d: a learner reads the diff with the chapter; move what teaches nothing new to final/", s.step, changed, maxStepDiff)
		case changed > maxStepDiff:
			t.Logf("%s changes %d lines, over %d: %s", s.step, changed, maxStepDiff, why)
		case listed:
			t.Errorf("%s changes %d lines now, within %d: take it off overStepDiff in tests/diffs_test.go", s.step, changed, maxStepDiff)
		}
	}
	path := filepath.Join(harness.repo, docsDir, "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start, end := strings.Index(text, diffSizesStart), strings.Index(text, diffSizesEnd)
	if start < 0 || end < start {
		t.Fatalf("docs/README.md has no %s ... %s markers", diffSizesStart, diffSizesEnd)
	}
	inner := start + len(diffSizesStart) + 1
	want := renderDiffSizes(sizes)
	if *update {
		if err := os.WriteFile(path, []byte(text[:inner]+want+text[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := text[inner:end]; got != want {
		t.Errorf("docs/README.md's table of diff sizes is stale; run: go test ./tests -run TestDiffsSizes -update\n(-want +got):\n%s", cmp.Diff(want, got))
	}
}
