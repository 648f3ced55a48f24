package tests

// final_boxregistry_test.go checks what box does without box-registry,
// its registry client, which it looks for next to its own executable.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFinalWithoutBoxRegistry copies box and box-init alone into a
// directory: pull, push and run --pull each refuse in one line that names
// the missing file and how to build it, with box's status for its own
// failures, and leave no container state; what needs no registry (run on
// a rootfs) runs as before.
func TestFinalWithoutBoxRegistry(t *testing.T) {
	f := newFinal(t)
	dir := safeTempDir(t, "noregistry-", 0o755)
	for _, name := range []string{finalStep, boxInitName} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(binary(t, finalStep)), name))
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, name)
		if name == finalStep {
			to = filepath.Join(dir, "box")
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	box := filepath.Join(dir, "box")
	global := []string{"--state-dir", f.state, "--store", filepath.Join(dir, "store")}
	want := filepath.Join(dir, boxRegistryName) + " is missing"
	ref := "127.0.0.1:1/nothing/here:1"
	for _, args := range [][]string{
		{"pull", ref},
		{"push", ref},
		{"run", "--rm", "--pull", "always", ref, "true"},
	} {
		r := runLonely(t, box, append(global, args...)...)
		if r.code != 125 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "./final/cmd/box-registry") {
			t.Errorf("box %s without box-registry: want exit 125 and one line saying %q and how to build it, got:\n%s", args[0], want, r)
		}
		if r.stdout != "" {
			t.Errorf("box %s without box-registry printed on stdout: %q", args[0], r.stdout)
		}
	}
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("state left behind: %v", dirs)
	}
	r := runLonely(t, box, append(global, "run", "--rm", "--rootfs", sharedRootfs(t), "echo", "no registry needed")...)
	if r.code != 0 || r.stdout != "no registry needed\n" {
		t.Errorf("box run --rootfs without box-registry: want it to run, got:\n%s", r)
	}
}
