package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveUncountedReadsNothing removes a cgroup's directories, here
// plain empty directories, which hold no counter files to read: it must
// remove them, be a no-op once they are gone, and report an rmdir that
// fails for another reason than EBUSY.
func TestRemoveUncountedReadsNothing(t *testing.T) {
	root := t.TempDir()
	cg := &Cgroup{Version: 1}
	for _, name := range []string{"pids", "memory"} {
		dir := filepath.Join(root, name, "box-runc-x")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cg.Dirs = append(cg.Dirs, Dir{Path: dir, Controllers: []string{name}})
	}
	if err := cg.RemoveUncounted(); err != nil {
		t.Fatalf("RemoveUncounted: %v", err)
	}
	if cg.Exists() {
		t.Fatalf("a directory is left: %v", cg.Dirs)
	}
	if err := cg.RemoveUncounted(); err != nil {
		t.Errorf("RemoveUncounted of a removed cgroup: %v, want nil", err)
	}
	full := filepath.Join(root, "cpu", "box-runc-y")
	if err := os.MkdirAll(filepath.Join(full, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	cg = &Cgroup{Version: 1, Dirs: []Dir{{Path: full}}}
	if err := cg.RemoveUncounted(); err == nil {
		t.Errorf("RemoveUncounted of a directory that is not empty: nil error")
	}
}
