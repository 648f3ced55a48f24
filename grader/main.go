// Command grader runs the cumulative feature suite of tests/ against any
// binary that follows the steps' command line: a learner's exercise, or
// every checkout of a class. It prints each feature of the step and the
// steps before it as passed or failed, with one line of hint for each
// failure, and exits 1 when a feature fails. Run it as root, from the box
// repository:
//
//	go run ./grader --step 03 --bin ~/my-03/bin/03-mount-ns
//	go run ./grader --step 03 --class ~/class --csv grades.csv
//
// It compiles the tests once (go test -c ./tests) and runs their
// TestGrade for each binary; the features ask the kernel, never the
// binary's narration, so any runtime with the same command line can be
// graded.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	step := flag.String("step", "", "the step the binary is: 02 to 07, or its name (03-mount-ns)")
	bin := flag.String("bin", "", "the binary to grade, or a directory holding it as STEP or bin/STEP")
	class := flag.String("class", "", "a directory of checkouts, one per student: each is graded from its bin/STEP (built with go build when missing)")
	csvPath := flag.String("csv", "", "with --class: also write the grades as CSV, one row per student, for a gradebook")
	repo := flag.String("repo", "", "the box repository (default: the one holding the current directory)")
	flag.Parse()
	code, err := run(*step, *bin, *class, *csvPath, *repo)
	if err != nil {
		fmt.Fprintf(os.Stderr, "grader: %v\n", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// result is one feature's grade.
type result struct {
	pass    bool
	since   string // the step that brings the feature
	feature string
	hint    string
}

func run(step, bin, class, csvPath, repo string) (int, error) {
	if step == "" || (bin == "") == (class == "") {
		return 0, errors.New("give --step and either --bin or --class, like: go run ./grader --step 03 --bin ~/my-03/bin/03-mount-ns")
	}
	if os.Geteuid() != 0 {
		return 0, errors.New("the features run containers: run the grader as root (sudo go run ./grader ...)")
	}
	if repo == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			return 0, err
		}
	}
	stepName, err := findStep(repo, step)
	if err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp("", "box-grader-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	testBin := filepath.Join(tmp, "tests.test")
	fmt.Fprintf(os.Stderr, "grader: compiling the feature suite (go test -c ./tests)\n")
	build := exec.Command("go", "test", "-c", "-o", testBin, "./tests")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go test -c ./tests: %v\n%s", err, out)
	}
	if bin != "" {
		results, err := grade(repo, testBin, stepName, bin)
		if err != nil {
			return 0, err
		}
		return printOne(stepName, bin, results), nil
	}
	return gradeClass(repo, testBin, stepName, class, csvPath)
}

// findRepo walks up from the current directory to the one with go.mod
// and steps/.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "steps")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the grader in the box repository, or give --repo")
		}
		dir = parent
	}
}

// findStep turns "03" or "03-mount-ns" into the step's name.
func findStep(repo, step string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(repo, "steps", "[0-9][0-9]-*"))
	for _, m := range matches {
		name := filepath.Base(m)
		if name == step || strings.HasPrefix(name, step+"-") {
			return name, nil
		}
	}
	return "", fmt.Errorf("--step %q: no such step in %s/steps (02 ... 07)", step, repo)
}

// gradeTimeout bounds one binary's run of the suite, so a binary that
// hangs gets graded as failing instead of stopping the class.
const gradeTimeout = 15 * time.Minute

// grade runs TestGrade against bin and reads its GRADE lines.
func grade(repo, testBin, step, bin string) ([]result, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	// A directory stands for the binary of the step in it, or in its bin/.
	for _, p := range []string{filepath.Join(abs, step), filepath.Join(abs, "bin", step)} {
		if info, err := os.Stat(abs); err == nil && info.IsDir() {
			if _, err := os.Stat(p); err == nil {
				abs = p
			}
		}
	}
	if info, err := os.Stat(abs); err != nil || info.IsDir() {
		return nil, fmt.Errorf("--bin %s is not a file: build it first (CGO_ENABLED=0 go build -o bin/%s .)", abs, step)
	}
	ctx, cancel := context.WithTimeout(context.Background(), gradeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, testBin, "-test.run", "^TestGrade$", "-test.count", "1", "-grade-bin", abs, "-grade-step", step)
	cmd.Dir = filepath.Join(repo, "tests")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // a failed feature fails the test: the GRADE lines tell
	var results []result
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 || f[0] != "GRADE" {
			continue
		}
		results = append(results, result{pass: f[1] == "pass", since: f[2], feature: f[3], hint: f[4]})
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("the suite graded no feature of %s; its output:\n%s", abs, out.String())
	}
	return results, nil
}

// printOne prints a binary's grades and returns the exit code.
func printOne(step, bin string, results []result) int {
	fmt.Printf("%s as %s:\n", bin, step)
	failed := 0
	for _, r := range results {
		mark := "pass"
		if !r.pass {
			mark = "FAIL"
			failed++
		}
		fmt.Printf("  %s  %s  %s\n", mark, r.since[:2], r.feature)
		if !r.pass {
			fmt.Printf("              hint: %s\n", r.hint)
		}
	}
	fmt.Printf("%d of %d features pass", len(results)-failed, len(results))
	if failed > 0 {
		fmt.Printf("; %d fail\n", failed)
		return 1
	}
	fmt.Println(".")
	return 0
}

// gradeClass grades every checkout under class and prints a table.
func gradeClass(repo, testBin, step, class, csvPath string) (int, error) {
	entries, err := os.ReadDir(class)
	if err != nil {
		return 0, fmt.Errorf("--class: %w", err)
	}
	type row struct {
		student string
		results []result
		err     error
	}
	var rows []row
	features := map[string]bool{}
	var order []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(class, e.Name())
		fmt.Fprintf(os.Stderr, "grader: %s\n", e.Name())
		bin, err := studentBinary(dir, step)
		r := row{student: e.Name(), err: err}
		if err == nil {
			r.results, r.err = grade(repo, testBin, step, bin)
		}
		for _, res := range r.results {
			if !features[res.feature] {
				features[res.feature] = true
				order = append(order, res.feature)
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].student < rows[j].student })
	code := 0
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "STUDENT\tPASSED\tFAILED FEATURES\n")
	for _, r := range rows {
		if r.err != nil {
			code = 1
			fmt.Fprintf(tw, "%s\t-\t%s\n", r.student, firstLine(r.err.Error()))
			continue
		}
		var failed []string
		for _, res := range r.results {
			if !res.pass {
				failed = append(failed, res.feature)
			}
		}
		if len(failed) > 0 {
			code = 1
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\n", r.student, len(r.results)-len(failed), len(r.results), strings.Join(failed, "; "))
	}
	if err := tw.Flush(); err != nil {
		return 0, err
	}
	if csvPath == "" {
		return code, nil
	}
	f, err := os.Create(csvPath)
	if err != nil {
		return 0, err
	}
	w := csv.NewWriter(f)
	_ = w.Write(append([]string{"student", "step", "passed", "total"}, order...))
	for _, r := range rows {
		line := []string{r.student, step, "0", fmt.Sprint(len(order))}
		byName := map[string]bool{}
		passed := 0
		for _, res := range r.results {
			byName[res.feature] = res.pass
			if res.pass {
				passed++
			}
		}
		line[2] = fmt.Sprint(passed)
		for _, name := range order {
			if byName[name] {
				line = append(line, "1")
			} else {
				line = append(line, "0")
			}
		}
		_ = w.Write(line)
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return 0, fmt.Errorf("write %s: %w", csvPath, err)
	}
	fmt.Fprintf(os.Stderr, "grader: wrote %s\n", csvPath)
	return code, nil
}

// studentBinary finds a checkout's binary of step: DIR/bin/STEP, or
// builds it there from DIR (an exercise directory) or DIR/steps/STEP (a
// clone of the whole repository).
func studentBinary(dir, step string) (string, error) {
	bin := filepath.Join(dir, "bin", step)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src := "."
	if _, err := os.Stat(filepath.Join(dir, "steps", step)); err == nil {
		src = "./steps/" + step
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join("bin", step), src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		// go build names the package on a line of its own ("# exercise")
		// before the first error.
		msg := string(out)
		if strings.HasPrefix(msg, "# ") {
			_, msg, _ = strings.Cut(msg, "\n")
		}
		return "", fmt.Errorf("does not build: %s", firstLine(msg))
	}
	return bin, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
