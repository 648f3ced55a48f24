package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fatih/color"
	"golang.org/x/sys/unix"
)

func init() { narrator.quiet = true }

// testTar is a small layer tar: a dir, a file of uid 1000, and one of an
// id past the map.
func testTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/user", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 1000, Gid: 1000, Size: 3},
		{Name: "etc/far", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 70000, Gid: 70000, Size: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi\n"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExtractLayer checks that a layer's name is the sha256 of its tar and
// that its owners are shifted into the namespace's range.
func TestExtractLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	b := testTar(t)
	file := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	users := userNamespace{uids: idRange{100000, 65536}, gids: idRange{100000, 65536}}
	dir := filepath.Join(t.TempDir(), "layer")
	digest, err := extractLayer(file, dir, users)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := "sha256:" + hex.EncodeToString(sum[:]); digest != want {
		t.Errorf("digest %s, want %s", digest, want)
	}
	for name, uid := range map[string]uint32{"etc": 100000, "etc/user": 101000, "etc/far": 165534} {
		info, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Sys().(*syscall.Stat_t).Uid; got != uid {
			t.Errorf("%s: owner %d, want %d", name, got, uid)
		}
	}
	// Back in tar form, with owners inside the namespace, the same tree
	// has one name whoever digests it.
	again, err := layerDigest(dir, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if again2, _ := layerDigest(dir, 100000); again2 != again {
		t.Errorf("layerDigest is not stable: %s, then %s", again, again2)
	}
}

// TestLayerDigestWhiteouts checks that overlayfs's whiteouts and opaque
// dirs count in a layer's digest as the OCI form's .wh. files.
func TestLayerDigestWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "opq"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain, err := layerDigest(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(dir, "opq"), "user.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	opaque, err := layerDigest(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dir, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	whiteout, err := layerDigest(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if plain == opaque || opaque == whiteout {
		t.Errorf("digests %s, %s, %s: the opaque mark and the whiteout must count", plain, opaque, whiteout)
	}
	info, _ := os.Lstat(filepath.Join(dir, "gone"))
	if !isWhiteout(info) || !isOpaque(filepath.Join(dir, "opq")) {
		t.Error("isWhiteout or isOpaque does not see them")
	}
}

func TestShiftID(t *testing.T) {
	for _, tt := range []struct{ id, want int }{{0, 100000}, {1000, 101000}, {65535, 165535}, {65536, 165534}, {-1, 165534}} {
		if got := shiftID(tt.id, 100000); got != tt.want {
			t.Errorf("shiftID(%d) = %d, want %d", tt.id, got, tt.want)
		}
	}
}

func TestCheckImageName(t *testing.T) {
	for name, ok := range map[string]bool{"busybox": true, "stack:70": true, "a.b-c:v1.2": true, "Busy": false, "../x": false, "a/b": false, "": false} {
		if err := checkImageName(name); (err == nil) != ok {
			t.Errorf("checkImageName(%q) = %v", name, err)
		}
	}
}

// TestRemoveStale checks that a work dir whose lock is held stays, and
// one whose lock is free goes.
func TestRemoveStale(t *testing.T) {
	s := store{dir: t.TempDir()}
	for _, d := range []string{"held", "free/sub"} {
		if err := os.MkdirAll(filepath.Join(s.containersDir(), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.Open(filepath.Join(s.containersDir(), "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	removed, err := cleanupStore(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || filepath.Base(removed[0]) != "free" {
		t.Errorf("removed %v, want only free", removed)
	}
}

func narration(t *testing.T, f func()) string {
	t.Helper()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	stderr, quiet, noColor := os.Stderr, narrator.quiet, color.NoColor
	os.Stderr, narrator.quiet, color.NoColor = file, false, true
	defer func() { os.Stderr, narrator.quiet, color.NoColor = stderr, quiet, noColor }()
	f()
	b, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRemoveAllNarration pins how removing a tree is narrated: one line
// counting its calls, nothing when there is nothing to remove.
func TestRemoveAllNarration(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"tree/a", "tree/b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"tree/a/f", "tree/g"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ path, want string }{
		{tree, fmt.Sprintf("  /* under %q: 2 unlink, 3 rmdir */\n", tree)},
		{filepath.Join(dir, "missing"), ""},
	}
	for _, tt := range tests {
		var err error
		got := narration(t, func() { err = removeAll(tt.path) })
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("removeAll(%s) narrated %q, want %q", tt.path, got, tt.want)
		}
		if _, err := os.Lstat(tt.path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there", tt.path)
		}
	}
}
