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
