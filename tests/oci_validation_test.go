package tests

// oci_validation_test.go runs the OCI runtime validation suite
// (opencontainers/runtime-tools v0.9.0, pinned in the module of its own in
// tests/ocivalidation) against runc, crun and box, and writes the results
// table into docs/oci-validation.md. runc and crun are the reference: the
// same programs on the same host, so a failure that both share comes from
// the host, and a failure only box has is box's.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ociStrict makes box's column a requirement: box's front door must exist
// and every program in which box has a failure must be listed, with its
// reason, in tests/ocivalidation/known-failures.txt (what the host lacks or
// the suite gets wrong, for any runtime). The programs whose own check
// races (tests/ocivalidation/races.txt) are run a second time after a
// failure, for every runtime, and only the second run counts: a race lost
// twice in a row, or any other failure, fails the test. While false, box's
// column is reported (or reported missing) and nothing about it fails the
// test; BOX_OCI_STRICT=0 turns it off for one run.
const ociStrict = true

const (
	// ociModuleDir holds the suite's go.mod, relative to the repo root.
	ociModuleDir = "tests/ocivalidation"
	// ociKnownFailures lists programs that fail here for any runtime, each
	// with why; ociReferenceFailures those that fail for runc or crun alone.
	ociKnownFailures     = "tests/ocivalidation/known-failures.txt"
	ociReferenceFailures = "tests/ocivalidation/reference-failures.txt"
	// ociRaces lists programs whose check races in the suite itself; a
	// failing one runs once more.
	ociRaces = "tests/ocivalidation/races.txt"
	// ociDoc gets the results table, between the markers below.
	ociDoc         = "docs/oci-validation.md"
	ociTableStart  = "<!-- oci-validation-table -->"
	ociTableEnd    = "<!-- /oci-validation-table -->"
	ociToolsModule = "github.com/opencontainers/runtime-tools"
	// ociProgramTimeout bounds one program; the slowest take about 15 s
	// here (delete, kill and pidfile wait for the runtime's state).
	ociProgramTimeout = 2 * time.Minute
)

// tapResult is one program's outcome against one runtime.
type tapResult struct {
	passed, failed, skipped int
	first                   string // the first failure, for the log
	elapsed                 time.Duration
	// retried is the first failure of a first run that lost a race of
	// the suite's (races.txt); the counts above are the second run's.
	retried string
}

// clean tells whether the program ran to its plan with no failure.
func (r tapResult) clean() bool { return r.failed == 0 }

// laneResult is one runtime's run of the whole suite.
type laneResult struct {
	rt       ociRuntime
	programs map[string]tapResult
	elapsed  time.Duration
}

// TestOCIValidation builds the suite once, runs every program against each
// runtime (one lane per runtime, side by side), writes the table, and
// judges box against crun.
func TestOCIValidation(t *testing.T) {
	requireRoot(t)
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		// The suite ships a rootfs for these two only.
		if os.Getenv("CI") == "true" {
			t.Fatalf("the validation suite ships rootfs-amd64 and rootfs-386 only; this is %s", runtime.GOARCH)
		}
		t.Skipf("the validation suite ships rootfs-amd64 and rootfs-386 only; this is %s", runtime.GOARCH)
	}
	requireTool(t, "unshare")
	requireTool(t, "tar")
	runtimes := []ociRuntime{referenceRuntime(t, "runc"), referenceRuntime(t, "crun"), boxRuntime(t)}
	known, err := readKnownFailures(filepath.Join(harness.repo, ociKnownFailures))
	if err != nil {
		t.Fatal(err)
	}
	references, err := readKnownFailures(filepath.Join(harness.repo, ociReferenceFailures))
	if err != nil {
		t.Fatal(err)
	}
	races, err := readKnownFailures(filepath.Join(harness.repo, ociRaces))
	if err != nil {
		t.Fatal(err)
	}
	// The table explains every failing row, from any list.
	reasons := map[string]string{}
	for _, list := range []map[string]string{races, references, known} {
		for p, why := range list {
			reasons[p] = why
		}
	}

	// The relative cgroup programs leave their parents (the runtimes
	// remove the container's leaf only).
	removeCgroups(t, "testdir")
	start := time.Now()
	suite, programs := buildOCISuite(t)
	buildTime := time.Since(start)
	t.Logf("built %d programs, runtimetest and the rootfs in %v", len(programs), buildTime.Round(time.Second))
	for p := range reasons {
		if !contains(programs, p) {
			t.Errorf("%s or %s lists %q, which is not a program of the suite", ociKnownFailures, ociReferenceFailures, p)
		}
		if known[p] != "" && references[p] != "" {
			t.Errorf("%q is in both %s and %s: a failure is the host's or the references' own", p, ociKnownFailures, ociReferenceFailures)
		}
	}
	for p := range races {
		if !contains(programs, p) || known[p] != "" {
			t.Errorf("%s lists %q, which is not a program of the suite or is in %s (a known failure needs no second run)", ociRaces, p, ociKnownFailures)
		}
	}

	lanes := make([]*laneResult, len(runtimes))
	var wg sync.WaitGroup
	for i, rt := range runtimes {
		lanes[i] = &laneResult{rt: rt}
		if rt.missing != "" {
			continue
		}
		wg.Add(1)
		go func(l *laneResult) {
			defer wg.Done()
			l.programs, l.elapsed = runOCILane(t, suite, programs, l.rt, races)
		}(lanes[i])
	}
	wg.Wait()
	total := time.Since(start)
	for _, l := range lanes {
		if l.rt.missing != "" {
			t.Logf("%s: missing (%s)", l.rt.name, l.rt.missing)
			continue
		}
		p, f, s, c := laneTotals(l, programs)
		t.Logf("%s: %d of %d programs with no failure; %d passed, %d failed, %d skipped; %v", l.rt.name, c, len(programs), p, f, s, l.elapsed.Round(time.Second))
	}
	t.Logf("validation suite: %v in all (build %v)", total.Round(time.Second), buildTime.Round(time.Second))

	// The harness works when the references pass what any working runtime
	// passes on any host: creating, querying and running a container.
	for _, l := range lanes[:2] {
		for _, p := range []string{"create", "state", "default"} {
			if r := l.programs[p]; !r.clean() || r.passed == 0 {
				t.Errorf("%s fails %s (%s): the harness is broken, not the runtime", l.rt.name, p, r.first)
			}
		}
	}

	doc := filepath.Join(harness.repo, ociDoc)
	if err := writeOCITable(doc, lanes, programs, reasons, buildTime, total); err != nil {
		t.Error(err)
	}
	judgeBox(t, lanes[2], lanes[1], programs, known, references)
}

// judgeBox compares box's lane with crun's: box may fail only programs of
// known-failures.txt, and in those no worse than crun (no more failures,
// no fewer passes). Under ociStrict every finding fails the test; without
// it they are logged.
func judgeBox(t *testing.T, box, crun *laneResult, programs []string, known, references map[string]string) {
	t.Helper()
	strict := ociStrict && os.Getenv("BOX_OCI_STRICT") != "0" || os.Getenv("BOX_OCI_STRICT") == "1"
	report := t.Logf
	if strict {
		report = t.Errorf
	}
	if box.rt.missing != "" {
		report("box has no OCI front door yet, its column says missing: %s", box.rt.missing)
		return
	}
	for _, p := range programs {
		b, c := box.programs[p], crun.programs[p]
		if b.retried != "" {
			t.Logf("box lost the race in %s once (%s); its second run counts", p, b.retried)
		}
		if b.clean() {
			continue
		}
		switch {
		case c.clean():
			report("box fails %s, which crun passes: %s", p, b.first)
		case known[p] != "" && (b.failed > c.failed || b.passed < c.passed):
			// A known failure excuses what any runtime fails here, no
			// more: box must get as far as crun.
			report("box fails %s worse than crun (box %d passed, %d failed; crun %d, %d), beyond the reason in %s: %s",
				p, b.passed, b.failed, c.passed, c.failed, ociKnownFailures, b.first)
		case known[p] == "" && references[p] != "":
			report("box fails %s, where crun and runc fail for reasons of their own (%s): %s", p, ociReferenceFailures, b.first)
		case known[p] == "":
			report("box fails %s (so does crun) with no reason in %s: %s", p, ociKnownFailures, b.first)
		}
	}
	_, _, _, boxClean := laneTotals(box, programs)
	_, _, _, crunClean := laneTotals(crun, programs)
	if boxClean <= crunClean {
		t.Logf("box has %d programs with no failure, crun %d: the target is more than crun", boxClean, crunClean)
	}
}

// laneTotals adds up a lane: passed, failed, skipped, programs clean.
func laneTotals(l *laneResult, programs []string) (passed, failed, skipped, clean int) {
	for _, p := range programs {
		r := l.programs[p]
		passed += r.passed
		failed += r.failed
		skipped += r.skipped
		if r.clean() {
			clean++
		}
	}
	return
}

// ociBuild caches the built suite for the whole run.
var ociBuild struct {
	once     sync.Once
	dir      string
	programs []string
	err      error
}

// buildOCISuite builds, once per run, every validation program as NAME.t
// and runtimetest (static: it is copied into the container) into one
// directory, with the suite's rootfs beside them: the programs read both
// from their working directory.
func buildOCISuite(t *testing.T) (dir string, programs []string) {
	t.Helper()
	ociBuild.once.Do(func() {
		ociBuild.dir, ociBuild.programs, ociBuild.err = buildOCISuiteOnce()
	})
	if ociBuild.err != nil {
		t.Fatal(ociBuild.err)
	}
	return ociBuild.dir, ociBuild.programs
}

func buildOCISuiteOnce() (string, []string, error) {
	modDir := filepath.Join(harness.repo, ociModuleDir)
	dir := filepath.Join(harness.root, "ocivalidation")
	build := filepath.Join(dir, "build")
	if err := os.MkdirAll(build, 0o755); err != nil {
		return "", nil, err
	}
	// -s -w: no symbol table or DWARF, which cuts a third of the time to link 59
	// programs; nobody debugs them here.
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", build+"/", ociToolsModule+"/validation/...", ociToolsModule+"/cmd/runtimetest")
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("build the validation suite in %s: %v\n%s", modDir, err, out)
	}
	cmd = exec.Command("go", "list", "-m", "-f", "{{.Dir}}", ociToolsModule)
	cmd.Dir = modDir
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("find %s in the module cache: %v", ociToolsModule, err)
	}
	tarball := "rootfs-" + runtime.GOARCH + ".tar.gz"
	if err := copyFile(filepath.Join(strings.TrimSpace(string(out)), tarball), filepath.Join(dir, tarball)); err != nil {
		return "", nil, err
	}
	entries, err := os.ReadDir(build)
	if err != nil {
		return "", nil, err
	}
	var programs []string
	for _, e := range entries {
		name, target := e.Name(), e.Name()+".t"
		if name == "runtimetest" {
			target = name
		} else {
			programs = append(programs, name)
		}
		if err := os.Rename(filepath.Join(build, name), filepath.Join(dir, target)); err != nil {
			return "", nil, err
		}
	}
	sort.Strings(programs)
	if len(programs) == 0 {
		return "", nil, fmt.Errorf("go build made no validation programs in %s", build)
	}
	return dir, programs, os.Remove(build)
}

// copyFile copies src to dst, read-only.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return os.WriteFile(dst, b, 0o444)
}

// ociCgroupPrograms serializes the programs that use the suite's fixed
// cgroup paths (/cgrouptest, testdir/cgrouptest): two lanes running one at
// the same time would share a cgroup.
var ociCgroupPrograms sync.Mutex

// usesFixedCgroup tells whether program p puts its container in one of the
// suite's fixed cgroups.
func usesFixedCgroup(p string) bool {
	return strings.HasPrefix(p, "linux_cgroups_") || p == "delete_resources" || p == "delete_only_create_resources"
}

// runOCILane runs every program against rt, one after another, with the
// runtime's state in a directory of the lane's own (its --root) and the
// bundles in its TMPDIR; afterwards it deletes whatever containers the
// programs left. A program of races that fails runs once more, and that
// run counts.
func runOCILane(t *testing.T, suite string, programs []string, rt ociRuntime, races map[string]string) (map[string]tapResult, time.Duration) {
	start := time.Now()
	lane := safeTempDir(t, "oci-"+rt.name+"-", 0o755)
	state := filepath.Join(lane, "state")
	tmp := filepath.Join(lane, "tmp")
	wrapper := filepath.Join(lane, rt.name)
	// The suite calls $RUNTIME with the runc command line; the wrapper adds
	// the global flag that keeps this lane's containers apart.
	script := fmt.Sprintf("#!/bin/sh\nexec %s --root %s \"$@\"\n", shellQuote(rt.path), shellQuote(state))
	for _, err := range []error{os.Mkdir(tmp, 0o755), os.WriteFile(wrapper, []byte(script), 0o755)} {
		if err != nil {
			t.Error(err)
			return nil, 0
		}
	}
	defer cleanOCIState(t, rt, state)

	// BOX_OCI_OUTPUT=DIR keeps every program's TAP and stderr in
	// DIR/RUNTIME/, to read why a program failed.
	keep := os.Getenv("BOX_OCI_OUTPUT")
	if keep != "" {
		keep = filepath.Join(keep, rt.name)
		if err := os.MkdirAll(keep, 0o755); err != nil {
			t.Error(err)
			keep = ""
		}
	}
	results := map[string]tapResult{}
	for _, p := range programs {
		if usesFixedCgroup(p) {
			ociCgroupPrograms.Lock()
		}
		r, stdout, stderr := runOCIProgram(suite, p, wrapper, tmp, rt.name == "crun")
		if !r.clean() && races[p] != "" {
			first := r.first
			r, stdout, stderr = runOCIProgram(suite, p, wrapper, tmp, rt.name == "crun")
			r.retried = first
		}
		if usesFixedCgroup(p) {
			ociCgroupPrograms.Unlock()
		}
		results[p] = r
		if !r.clean() {
			t.Logf("%s: %s: %d failed, the first: %s", rt.name, p, r.failed, r.first)
		}
		if keep != "" {
			for name, text := range map[string]string{p + ".tap": stdout, p + ".stderr": stderr} {
				if err := os.WriteFile(filepath.Join(keep, name), []byte(text), 0o644); err != nil {
					t.Error(err)
				}
			}
		}
	}
	return results, time.Since(start)
}

// runOCIProgram runs one program as `RUNTIME=wrapper ./p.t` in a private
// mount namespace (what the runtimes mount stays out of the host's table),
// and scores its TAP. hideHybrid binds /dev/null over the cgroup v2
// controllers list of a hybrid host, which crun refuses to run on when it
// names a controller v1 also has.
func runOCIProgram(suite, p, wrapper, tmp string, hideHybrid bool) (r tapResult, stdout, stderr string) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), ociProgramTimeout)
	defer cancel()
	script := `exec "$0"`
	const unified = "/sys/fs/cgroup/unified/cgroup.controllers"
	if _, err := os.Stat(unified); err == nil && hideHybrid {
		script = "mount --bind /dev/null " + unified + " && " + script
	}
	cmd := exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c", script, "./"+p+".t")
	cmd.Dir = suite
	cmd.Env = append(os.Environ(), "RUNTIME="+wrapper, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The program, its runtime and their children share the group: a
	// program that hangs is killed with all of them.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	stdout, stderr = string(out), errOut.String()
	r = parseTAP(stdout)
	if strings.TrimSpace(stdout) == "" && !strings.HasSuffix(p, "_fail") {
		// Only a *_fail program ends in silence when all is well; any
		// other printed its container's TAP, and that container printed
		// nothing: runtimetest never ran, or its output was lost.
		r = tapResult{failed: 1, first: "printed no TAP at all"}
	}
	switch {
	case ctx.Err() != nil:
		r.failed++
		r.first = fmt.Sprintf("killed after %v", ociProgramTimeout)
	case err != nil && r.first == "printed no TAP at all":
		// One failure: the exit status says why the TAP is missing.
		r.first = fmt.Sprintf("%v: %s", err, firstLine(strings.TrimSpace(stderr)))
	case err != nil:
		// util.Fatal: the program stopped early and said why on stderr.
		r.failed++
		if r.first == "" {
			r.first = fmt.Sprintf("%v: %s", err, firstLine(strings.TrimSpace(stderr)))
		}
	}
	r.elapsed = time.Since(start)
	return r, stdout, stderr
}

var (
	tapTest = regexp.MustCompile(`^(not )?ok\b\s*(\d*)\s*(.*)$`)
	tapPlan = regexp.MustCompile(`^1\.\.(\d+)`)
	// tapError is a diagnostic's error field that says something.
	tapError = regexp.MustCompile(`^\s*"error": "(.+)",?$`)
)

// parseTAP scores the suite's TAP: "ok" passes (or skips, with # SKIP),
// "not ok" fails (unless # TODO), and the plan counts missing tests as
// failures. The suite also reports some failures with no test line at
// all: a diagnostic block with an error before any test (its hook tests
// print "1..0" then), which counts as one failure. No output at all is
// one pass: see below.
func parseTAP(out string) tapResult {
	var r tapResult
	plan, tests, sinceTest := -1, 0, false
	fail := func(why string) {
		r.failed++
		if r.first == "" {
			r.first = why
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := tapTest.FindStringSubmatch(line); m != nil {
			tests++
			sinceTest = true
			directive := strings.ToUpper(m[3])
			switch {
			case strings.Contains(directive, "# SKIP"), m[1] != "" && strings.Contains(directive, "# TODO"):
				r.skipped++
			case m[1] == "":
				r.passed++
			default:
				fail(strings.TrimPrefix(m[3], "- "))
			}
			continue
		}
		if m := tapPlan.FindStringSubmatch(line); m != nil {
			plan, _ = strconv.Atoi(m[1])
			continue
		}
		if m := tapError.FindStringSubmatch(line); m != nil && !sinceTest {
			fail(strings.ReplaceAll(m[1], `\n`, " "))
		}
		if strings.TrimSpace(line) == "..." {
			// The end of a diagnostic: the next one belongs to no test
			// until another test line comes.
			sinceTest = false
		}
	}
	switch {
	case plan < 0 && strings.TrimSpace(out) == "":
		// The *_fail programs that expect create to fail print nothing
		// when it does; the exit status (scored by the caller) says the rest.
		r.passed++
	case plan < 0:
		fail("no TAP plan")
	case tests < plan:
		for i := tests; i < plan; i++ {
			fail(fmt.Sprintf("%d of %d planned tests did not run", plan-tests, plan))
		}
	}
	return r
}

// cleanOCIState deletes the containers a lane left in its state directory,
// so no process or cgroup outlives the test.
func cleanOCIState(t *testing.T, rt ociRuntime, state string) {
	entries, err := os.ReadDir(state)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		out, err := exec.Command(rt.path, "--root", state, "delete", "--force", e.Name()).CombinedOutput()
		if err != nil {
			t.Logf("%s delete --force %s (left by a program): %v: %s", rt.name, e.Name(), err, strings.TrimSpace(string(out)))
		}
	}
}

// readKnownFailures reads "program reason" lines; # starts a comment.
func readKnownFailures(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read known failures: %w", err)
	}
	known := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, reason, _ := strings.Cut(line, " ")
		reason = strings.TrimSpace(reason)
		if reason == "" {
			return nil, fmt.Errorf("%s:%d: %q has no reason: write `program reason` on one line", path, i+1, p)
		}
		if _, dup := known[p]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, i+1, p)
		}
		known[p] = reason
	}
	return known, nil
}

// writeOCITable puts the results table between the markers in doc.
func writeOCITable(doc string, lanes []*laneResult, programs []string, reasons map[string]string, build, total time.Duration) error {
	b, err := os.ReadFile(doc)
	if err != nil {
		return fmt.Errorf("read %s: %w", doc, err)
	}
	text := string(b)
	i, j := strings.Index(text, ociTableStart), strings.Index(text, ociTableEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s markers", doc, ociTableStart, ociTableEnd)
	}
	table := ociTable(lanes, programs, reasons, build, total)
	text = text[:i+len(ociTableStart)] + "\n" + table + text[j:]
	return os.WriteFile(doc, []byte(text), 0o644)
}

// ociTable renders the table: a row per program with passed, failed and
// skipped for each runtime, then the totals, then the host it ran on.
func ociTable(lanes []*laneResult, programs []string, reasons map[string]string, build, total time.Duration) string {
	var b strings.Builder
	b.WriteString("\n| program |")
	for _, l := range lanes {
		fmt.Fprintf(&b, " %[1]s passed | %[1]s failed | %[1]s skipped |", l.rt.name)
	}
	b.WriteString(" why it fails here |\n|---|")
	b.WriteString(strings.Repeat("--:|", 3*len(lanes)))
	b.WriteString("---|\n")
	for _, p := range programs {
		fmt.Fprintf(&b, "| %s |", p)
		anyFailed := false
		for _, l := range lanes {
			r, ok := l.programs[p]
			switch {
			case l.rt.missing != "":
				b.WriteString(" missing | missing | missing |")
			case !ok:
				b.WriteString(" – | – | – |")
			default:
				failed := strconv.Itoa(r.failed)
				if r.failed > 0 {
					failed = "**" + failed + "**"
					anyFailed = true
				}
				fmt.Fprintf(&b, " %d | %s | %d |", r.passed, failed, r.skipped)
			}
		}
		why := ""
		if anyFailed {
			why = reasons[p]
		}
		fmt.Fprintf(&b, " %s |\n", why)
	}
	b.WriteString("| **programs with no failure** |")
	for _, l := range lanes {
		if l.rt.missing != "" {
			b.WriteString(" missing | | |")
			continue
		}
		_, _, _, clean := laneTotals(l, programs)
		fmt.Fprintf(&b, " **%d of %d** | | |", clean, len(programs))
	}
	b.WriteString(" |\n| **total** |")
	for _, l := range lanes {
		if l.rt.missing != "" {
			b.WriteString(" missing | missing | missing |")
			continue
		}
		p, f, s, _ := laneTotals(l, programs)
		fmt.Fprintf(&b, " %d | %d | %d |", p, f, s)
	}
	b.WriteString(" |\n\n")
	fmt.Fprintf(&b, "Host: Linux %s, cgroup %s, %d CPUs. ", kernelRelease(), cgroupMode(), runtime.NumCPU())
	for _, l := range lanes {
		if l.rt.missing != "" {
			fmt.Fprintf(&b, "%s: missing (%s). ", l.rt.name, l.rt.missing)
			continue
		}
		fmt.Fprintf(&b, "%s: %s, %v. ", l.rt.name, runtimeVersion(l.rt), l.elapsed.Round(time.Second))
	}
	fmt.Fprintf(&b, "Building the suite took %v, the whole run %v.", build.Round(time.Second), total.Round(time.Second))
	var retried []string
	for _, l := range lanes {
		for _, p := range programs {
			if l.programs[p].retried != "" {
				retried = append(retried, l.rt.name+" "+p)
			}
		}
	}
	if len(retried) > 0 {
		fmt.Fprintf(&b, " Run a second time after losing a race of the suite's (races.txt): %s.", strings.Join(retried, ", "))
	}
	b.WriteString("\n")
	return b.String()
}

// kernelRelease is uname -r.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// cgroupMode names the host's cgroup layout as the runtimes see it.
func cgroupMode() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return "unknown"
	}
	const cgroup2Magic = 0x63677270
	if st.Type == cgroup2Magic {
		return "v2"
	}
	if err := syscall.Statfs("/sys/fs/cgroup/unified", &st); err == nil && st.Type == cgroup2Magic {
		return "v1 (hybrid)"
	}
	return "v1"
}

// runtimeVersion is the first line of `RUNTIME --version`.
func runtimeVersion(rt ociRuntime) string {
	out, err := exec.Command(rt.path, "--version").Output()
	if err != nil {
		return rt.name
	}
	return firstLine(strings.TrimSpace(string(out)))
}

// contains tells whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestParseTAP checks the scoring on the shapes of TAP the suite prints;
// it needs no root.
func TestParseTAP(t *testing.T) {
	tests := []struct {
		name, out string
		want      tapResult
	}{
		{"passes, skips, a failure", "TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 # SKIP c not set\n1..3\n",
			tapResult{passed: 1, failed: 1, skipped: 1, first: "b"}},
		{"a diagnostic after a test is the test's", "ok 1 - a\n  ---\n  {\n    \"error\": \"exit status 1\",\n  }\n  ...\n1..1\n",
			tapResult{passed: 1}},
		{"a diagnostic before any test is a failure", "TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called\\nRefer to: x\"\n  }\n  ...\n1..0\n",
			tapResult{failed: 1, first: "Hooks MUST be called Refer to: x"}},
		{"an empty error is none", "TAP version 13\n  ---\n  {\n    \"error\": \"\",\n  }\n  ...\n1..0\n",
			tapResult{}},
		{"planned tests that never ran", "ok 1 - a\n1..3\n",
			tapResult{passed: 1, failed: 2, first: "2 of 3 planned tests did not run"}},
		{"no plan", "TAP version 13\nok 1 - a\n",
			tapResult{passed: 1, failed: 1, first: "no TAP plan"}},
		{"no output at all", "", tapResult{passed: 1}},
		{"a TODO failure is no failure", "not ok 1 # TODO later\n1..1\n", tapResult{skipped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseTAP(tt.out)
			if got != tt.want {
				t.Errorf("parseTAP:\n%s\ngot  %+v\nwant %+v", tt.out, got, tt.want)
			}
		})
	}
}
