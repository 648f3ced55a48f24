package tests

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gradePrebuilt makes TestGrade use binaries built before (the parent
// test's) instead of building every step again.
// TestExercises makes the exercise of every step that has a manifest in
// exercises/, builds it, and grades it with TestGrade in a new test
// process, as the grader does: every feature of the steps before must
// pass, and every feature of the step must fail but those the manifest
// keeps. With the step's own code put back, the exercise must pass all.
func TestExercises(t *testing.T) {
	requireRoot(t)
	manifests, err := filepath.Glob(filepath.Join(harness.repo, "exercises", "[0-9][0-9].txt"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no manifests in exercises/: %v", err)
	}
	sharedRootfs(t) // builds every step first, for the graded processes to reuse
	// The graded processes compare the host's mount table, which this
	// process's other tests change (early steps mount on the host): they
	// wait, and the steps are graded one at a time.
	holdHostMounts(t)
	for _, m := range manifests {
		m := m
		number := strings.TrimSuffix(filepath.Base(m), ".txt")
		step := ""
		for _, s := range numberedSteps() {
			if strings.HasPrefix(s, number+"-") {
				step = s
			}
		}
		if step == "" {
			t.Errorf("exercises/%s.txt names no step of this tree", number)
			continue
		}
		t.Run(step, func(t *testing.T) {
			keeps := manifestKeeps(t, m)
			dir := filepath.Join(t.TempDir(), "exercise")
			cmd := exec.Command("go", "run", "./exercises", "--step", number, "--dir", dir)
			cmd.Dir = harness.repo
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make the exercise: %v\n%s", err, out)
			}
			for _, run := range []struct {
				name     string
				exercise bool
			}{{"exercise", true}, {"exercise with the step's code put back", false}} {
				if !run.exercise {
					putStepBack(t, step, dir)
				}
				grades := gradeInProcess(t, step, filepath.Join(dir, "bin", step))
				for _, f := range sortedFeatures(t) {
					if !stepAtLeast(step, f.since) {
						continue
					}
					pass, ok := grades[f.name]
					if !ok {
						t.Errorf("%s: %q was not graded", run.name, f.name)
						continue
					}
					_, kept := keeps[f.name]
					want := !run.exercise || f.since < step || kept
					if pass != want {
						t.Errorf("%s of %s: %q passes=%v, want %v", run.name, step, f.name, pass, want)
					}
				}
				for name := range keeps {
					if _, ok := featureHints[name]; !ok {
						t.Errorf("exercises/%s.txt keeps %q, which is no feature", number, name)
					}
				}
			}
		})
	}
}

// putStepBack copies the step's program files over the exercise's and
// builds it again, as a learner who wrote everything right would have it.
func putStepBack(t *testing.T, step, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(harness.repo, stepDir(step), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join("bin", step), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the exercise with the step's code put back: %v\n%s", err, out)
	}
}

// manifestKeeps reads the keep lines of a manifest: features the exercise
// still shows, and why.
func manifestKeeps(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keeps := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "keep ")
		if !ok {
			continue
		}
		name, why, _ := strings.Cut(rest, " -- ")
		keeps[strings.TrimSpace(name)] = why
	}
	return keeps
}

// gradeProcessTimeout bounds one graded process; it is not a speed check.
const gradeProcessTimeout = 10 * time.Minute

// gradeInProcess runs this test binary's TestGrade against bin as step,
// and returns each feature's grade.
func gradeInProcess(t *testing.T, step, bin string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gradeProcessTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestGrade$", "-test.count", "1",
		"-grade-bin", bin, "-grade-step", step, "-grade-prebuilt", harness.binDir)
	cmd.Dir = filepath.Join(harness.repo, "tests")
	out, _ := cmd.CombinedOutput()
	grades := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 5 && f[0]+"\t" == gradeLinePrefix {
			grades[f[3]] = f[1] == "pass"
		}
	}
	if len(grades) == 0 {
		t.Fatalf("TestGrade graded nothing for %s:\n%s", bin, out)
	}
	return grades
}
