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
	b, err := os.ReadFile(binary(t, finalStep))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lonely, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("box", filepath.Join(dir, boxRuncName)); err != nil {
		t.Fatal(err)
	}
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
