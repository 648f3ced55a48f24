package tests

// final_boxinit_test.go checks what box does without box-init, its
// container side, which it looks for next to its own executable.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFinalWithoutBoxInit copies box alone into a directory: run and
// box-runc create (through a link, as engines call it) each refuse in one
// line that names the missing file and how to build it, and leave no
// container state, cgroup or mount.
func TestFinalWithoutBoxInit(t *testing.T) {
	f := newFinal(t)
	e := newOCI(t)
	bundle := ociBundle(t, e, []string{"true"}, nil)
	dir := safeTempDir(t, "lonely-", 0o755)
	lonely := filepath.Join(dir, "box")
	copyProgram(t, binary(t, finalStep), lonely)
	copyProgram(t, filepath.Join(filepath.Dir(binary(t, finalStep)), boxRuncName), filepath.Join(dir, boxRuncName))
	want := filepath.Join(dir, boxInitName) + " is missing"
	oneLine := func(what string, r result, code int) {
		t.Helper()
		if r.code != code || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "./final/cmd/box-init") {
			t.Errorf("%s without box-init: want exit %d and one line saying %q and how to build it, got:\n%s", what, code, want, r)
		}
	}
	holdHostMounts(t)
	before := hostMountinfo(t)

	r := runLonely(t, lonely, "--state-dir", f.state, "run", "--rm", "--rootfs", sharedRootfs(t), "true")
	oneLine("box run", r, 125)
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("state left behind: %v", dirs)
	}

	oci := e.with(t)
	oci.bin = filepath.Join(dir, boxRuncName)
	id := "lonely-" + filepath.Base(bundle)
	oneLine("box-runc create", oci.run("create", "--bundle", bundle, id), 1)
	if l := oci.run("list", "-q"); strings.TrimSpace(l.stdout) != "" {
		t.Errorf("box-runc list after the failed create: %q, want none", l.stdout)
	}
	if _, err := os.Stat(cgroupDirOf(bundle)); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left behind (%v)", cgroupDirOf(bundle), err)
	}
	if diff := cmp.Diff(before, hostMountinfo(t)); diff != "" {
		t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
	}
}

// runLonely runs bin with exactly args.
func runLonely(t *testing.T, bin string, args ...string) result {
	t.Helper()
	release := hostMounts.share(t)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// copyProgram copies the executable from to to.
func copyProgram(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestFinalBoxRuncWithoutBox: box-runc alone (with box-init) runs what an
// engine runs for every container, and refuses the rest in one line that
// names the missing box and how to build it, as an engine logs it.
func TestFinalBoxRuncWithoutBox(t *testing.T) {
	requireRoot(t)
	dir := safeTempDir(t, "runc-alone-", 0o755)
	bin := filepath.Join(dir, boxRuncName)
	copyProgram(t, filepath.Join(filepath.Dir(binary(t, finalStep)), boxRuncName), bin)
	root := filepath.Join(dir, "state")
	log := filepath.Join(dir, "log.json")
	r := runLonely(t, bin, "--root", root, "state", "nope")
	if r.code != 1 || strings.Contains(r.stderr, "not next to box-runc") || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("state of a missing container, without box: want box-runc's own error, exit 1, got:\n%s", r)
	}
	want := filepath.Join(dir, "box")
	r = runLonely(t, bin, "--root", root, "--log", log, "--log-format", "json", "list")
	if r.code != 1 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "make build") {
		t.Errorf("list without box: want exit 1 and one line naming %s and make build, got:\n%s", want, r)
	}
	b, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(b), `"level":"error"`) || !strings.Contains(string(b), "not next to box-runc") {
		t.Errorf("--log after list without box: want a JSON error line, got %q (%v)", b, err)
	}
}
