package tests

import (
	"errors"
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// update makes golden-file tests rewrite their files instead of comparing;
// every test in this package shares it: go test ./tests -run TestDiffs -update.
var update = flag.Bool("update", false, "rewrite generated files (docs/diffs) instead of comparing")

// harness is what TestMain sets up once for every test.
var harness struct {
	repo    string   // the module root, holding steps/ and final/
	root    string   // a 0755 temp dir for everything below, so nobody can run the binaries
	binDir  string   // the built binaries, one per step, named like the step
	hostTmp string   // the temp dir of the host before we moved TMPDIR into root
	steps   []string // "01-chroot", ..., and "final" when final/ has a main package
}

// finalStep is the name of the final runtime among the steps.
const finalStep = "final"

// boxInitName is final's container side, built from boxInitDir next to
// final's binary, where box looks for it; boxRegistryName its registry
// client, which pull and push run, likewise; boxMonitorName what a
// detached container's monitor becomes once the container runs.
const (
	boxInitName     = "box-init"
	boxInitDir      = "final/cmd/box-init"
	boxRegistryName = "box-registry"
	boxRegistryDir  = "final/cmd/box-registry"
	boxMonitorName  = "box-monitor"
	boxMonitorDir   = "final/cmd/box-monitor"
	// boxRuncDir is box-runc's (boxRuncName), which runs the rest of the
	// runc command line through box next to it: the harness links box to
	// final's binary there.
	boxRuncDir = "final/cmd/box-runc"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// runMain sets up the harness, runs the tests and removes what it made;
// it is separate from TestMain so that its defers run before os.Exit.
func runMain(m *testing.M) (int, error) {
	// Whatever started go test may have left files open without
	// close-on-exec (a job runner's pipe, a shell's redirection); the
	// binaries under test would inherit them, and every file descriptor
	// number they print would differ from a clean machine's.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 1, fmt.Errorf("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC): %w", err)
	}
	repo, err := findRepo()
	if err != nil {
		return 1, err
	}
	harness.repo = repo
	if harness.steps, err = findSteps(repo); err != nil {
		return 1, err
	}
	harness.hostTmp = os.TempDir()
	root, err := os.MkdirTemp("", "box-tests-")
	if err != nil {
		return 1, err
	}
	// MkdirTemp makes 0700; the not-root test runs a binary from here as nobody.
	if err := os.Chmod(root, 0o755); err != nil {
		return 1, err
	}
	harness.root = root
	harness.binDir = filepath.Join(root, "bin")
	// t.TempDir and everything else land below root: our mounts are easy to
	// tell from those of other programs under the host's /tmp, and one
	// RemoveAll cleans up.
	os.Setenv("TMPDIR", root)

	code := m.Run()

	changed := checkSharedRootfsUnchanged()
	if changed != nil {
		code = 1
	}
	if left := mountsUnder(root); len(left) > 0 {
		// Never RemoveAll across a mount: it could be a bind of a host directory.
		return 1, errors.Join(changed, fmt.Errorf("mounts left behind under %s, not removing it: %s", root, strings.Join(left, ", ")))
	}
	return code, errors.Join(changed, os.RemoveAll(root))
}

// findRepo walks up from the test's directory to the one holding go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the tests directory")
		}
		dir = parent
	}
}

// findSteps lists steps/NN-name in order, then final if it is a program.
func findSteps(repo string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(repo, "steps"))
	if err != nil {
		return nil, fmt.Errorf("list steps: %w", err)
	}
	var steps []string
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) > 3 && e.Name()[2] == '-' {
			steps = append(steps, e.Name())
		}
	}
	sort.Strings(steps)
	if hasMainPackage(filepath.Join(repo, "final")) {
		steps = append(steps, finalStep)
	}
	return steps, nil
}

// hasMainPackage tells whether dir holds a Go file of package main.
func hasMainPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly)
		if err == nil && file.Name.Name == "main" {
			return true
		}
	}
	return false
}

// stepDir is the source directory of step, relative to the repo root.
func stepDir(step string) string {
	if step == finalStep {
		return finalStep
	}
	return filepath.Join("steps", step)
}

// stepIndex orders steps: final comes after every numbered step.
func stepIndex(step string) int {
	for i, s := range harness.steps {
		if s == step {
			return i
		}
	}
	return -1
}

// stepAtLeast tells whether step includes what since introduced: since is
// a step name, and final includes everything.
func stepAtLeast(step, since string) bool {
	if step == finalStep {
		return true
	}
	return step >= since
}

// builds holds the binaries, built once on first use, so a test that needs
// none (TestDiffs) does not wait for the compiler.
var builds struct {
	once sync.Once
	errs map[string]error
}

// binary returns the path of step's binary, building all steps on first
// use. A step that does not compile fails the tests that need it only.
func binary(t testing.TB, step string) string {
	t.Helper()
	if p, ok := gradedBinaries[step]; ok {
		return p
	}
	builds.once.Do(buildAll)
	if err := builds.errs[step]; err != nil {
		t.Fatalf("build %s: %v", step, err)
	}
	return filepath.Join(harness.binDir, step)
}

// buildAll builds every step at once, static as the README says, so a step
// can be copied into a rootfs (the escape demo).
func buildAll() {
	builds.errs = map[string]error{}
	if err := os.MkdirAll(harness.binDir, 0o755); err != nil {
		for _, s := range harness.steps {
			builds.errs[s] = err
		}
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range harness.steps {
		wg.Add(1)
		go func(step string) {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-o", filepath.Join(harness.binDir, step), "./"+stepDir(step))
			cmd.Dir = harness.repo
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			out, err := cmd.CombinedOutput()
			// box's container side and its registry client, programs of
			// their own that box finds next to itself (final/cmd/...).
			for _, helper := range [][2]string{{boxInitName, boxInitDir}, {boxRegistryName, boxRegistryDir}, {boxMonitorName, boxMonitorDir}, {boxRuncName, boxRuncDir}} {
				if _, serr := os.Stat(filepath.Join(harness.repo, helper[1])); err == nil && step == finalStep && serr == nil {
					cmd := exec.Command("go", "build", "-o", filepath.Join(harness.binDir, helper[0]), "./"+helper[1])
					cmd.Dir = harness.repo
					cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
					out, err = cmd.CombinedOutput()
				}
			}
			if err == nil && step == finalStep {
				if lerr := os.Symlink(step, filepath.Join(harness.binDir, "box")); lerr != nil && !errors.Is(lerr, os.ErrExist) {
					err, out = lerr, nil
				}
			}
			if err != nil {
				mu.Lock()
				builds.errs[step] = fmt.Errorf("%v\n%s", err, out)
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
}

// shared is the rootfs every test may run on but must not change: a test
// that writes (volumes, escape, mounts on the host in early steps) runs on
// its own copy from rootfsCopy.
var shared struct {
	once  sync.Once
	dir   string
	names []string // the tree when built, checked again at the end
	err   error
}

// sharedRootfs builds the shared rootfs on first use with the first step's
// "rootfs build" (rootfs.go is the same file in every step).
func sharedRootfs(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if len(harness.steps) == 0 {
			shared.err = errors.New("no steps found")
			return
		}
		shared.dir = filepath.Join(harness.root, "rootfs")
		builds.once.Do(buildAll)
		if err := builds.errs[harness.steps[0]]; err != nil {
			shared.err = fmt.Errorf("build %s for rootfs build: %w", harness.steps[0], err)
			return
		}
		bin := filepath.Join(harness.binDir, harness.steps[0])
		out, err := exec.Command(bin, "--quiet", "rootfs", "build", shared.dir).CombinedOutput()
		if err != nil {
			shared.err = fmt.Errorf("%s rootfs build: %v\n%s", harness.steps[0], err, out)
			return
		}
		shared.names, shared.err = treeNames(shared.dir)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.dir
}

// checkSharedRootfsUnchanged catches a test that wrote to the shared rootfs.
func checkSharedRootfsUnchanged() error {
	if shared.dir == "" || shared.err != nil {
		return nil
	}
	names, err := treeNames(shared.dir)
	if err != nil {
		return err
	}
	if diff := cmp.Diff(shared.names, names); diff != "" {
		return fmt.Errorf("a test changed the shared rootfs %s; tests that write to it must use rootfsCopy (-built +now):\n%s", shared.dir, diff)
	}
	return nil
}

// treeNames lists every path below dir with its type, without following
// symlinks or crossing into mounts' contents (a mount shows as its dir).
func treeNames(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel+" "+d.Type().String())
		return nil
	})
	return names, err
}

// requireRoot skips a test that needs root, saying why; with CI=true,
// where everything must run, it fails instead.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI=true: run the tests as root (sudo go test ./tests)")
	}
	t.Skip("needs root to create namespaces and mounts; run: sudo go test ./tests")
}

// requireTool skips (or with CI=true fails) a test whose tool is missing.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: install it (apt-get install %s)", name, name)
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, name)
	return ""
}
