package sys

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"box/final/internal/narrate"

	"github.com/google/go-cmp/cmp"
)

// TestTreeCountsWhatSucceeded fills and empties a tree for real: the
// calls that succeed are counted on one line by the names strace gives
// them, one that fails is printed whole, and RemoveAll prints the
// removal of the top dir itself whole, after the count of what it held.
func TestTreeCountsWhatSucceeded(t *testing.T) {
	var buf bytes.Buffer
	narrate.Setup(true, &buf, false)
	defer narrate.Setup(false, nil, false)
	dir := filepath.Join(t.TempDir(), "layer")
	tree := NewTree(dir)
	if err := tree.MkdirAll(filepath.Join(dir, "etc", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := tree.Create(filepath.Join(dir, "etc", "passwd"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := tree.Symlink("passwd", filepath.Join(dir, "etc", "link")); err != nil {
		t.Fatal(err)
	}
	if err := tree.Chmod(filepath.Join(dir, "etc", "passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tree.Mkdir(filepath.Join(dir, "etc"), 0o755); err == nil {
		t.Fatal("mkdir of an existing dir succeeded")
	}
	tree.Done()
	if err := RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("RemoveAll left %s: %v", dir, err)
	}
	if err := RemoveAll(dir); err != nil {
		t.Errorf("RemoveAll of nothing: %v", err)
	}
	got := strings.ReplaceAll(buf.String(), dir, "DIR")
	want := `  mkdir("DIR/etc", 0755) = -1 EEXIST (file exists)
  /* under "DIR": 3 mkdir, 1 openat(O_CREAT), 1 symlink, 1 fchmodat */
  /* under "DIR": 2 unlink, 2 rmdir */
  rmdir("DIR") = 0
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("narration (-want +got):\n%s", diff)
	}
}
