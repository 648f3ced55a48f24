package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"box/final/internal/state"
	"box/final/internal/sys"

	"github.com/google/go-cmp/cmp"
)

// tarNames lists a tar's entries as "name type uid:gid mode".
func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s %c %d:%d %o", hdr.Name, hdr.Typeflag, hdr.Uid, hdr.Gid, hdr.Mode))
	}
}

// upperTree makes what a container's upper dir holds after the container
// changed a file, deleted one and replaced a directory, with the owners a
// user namespace mapped to host ids from 100000 gives.
func upperTree(t *testing.T) string {
	t.Helper()
	upper := t.TempDir()
	for _, d := range []string{"etc", "opq"} {
		if err := os.Mkdir(filepath.Join(upper, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(upper, "etc", "motd"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "opq", "new"), []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(upper, "opq", "new"), filepath.Join(upper, "opq", "again")); err != nil {
		t.Fatal(err)
	}
	if err := sys.Mknod(filepath.Join(upper, "etc", "passwd"), syscall.S_IFCHR, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := makeOpaque(filepath.Join(upper, "opq")); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		return os.Lchown(p, 100000, 100001)
	})
	if err != nil {
		t.Fatal(err)
	}
	return upper
}

// TestLayerFromUpper turns an upper dir into a layer tar, twice, and
// stores it: the tars are the same bytes, whiteouts and opaque dirs are in
// OCI form with owners given back to the container's ids, and extracting
// the layer gives overlayfs's whiteouts and opaque dirs again.
func TestLayerFromUpper(t *testing.T) {
	requireRoot(t)
	upper := upperTree(t)
	m := state.IDMap{HostID: 100000, Size: 65536}
	write := func() []byte {
		var buf bytes.Buffer
		w := newLayerWriter(&buf, func(id int) int { return unshiftID(id, m) })
		if err := w.addUpper(upper); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first, second := write(), write()
	if !bytes.Equal(first, second) {
		t.Fatalf("two tars of the same upper dir differ")
	}
	want := []string{
		"etc/ 5 0:1 755",
		"etc/motd 0 0:1 644",
		"etc/.wh.passwd 0 0:0 0",
		"opq/ 5 0:1 755",
		"opq/.wh..wh..opq 0 0:0 0",
		"opq/again 0 0:1 600",
		"opq/new 1 0:1 600",
	}
	if diff := cmp.Diff(want, tarNames(t, first)); diff != "" {
		t.Errorf("layer tar entries (-want +got):\n%s", diff)
	}

	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	l, isNew, err := s.LayerFromUpper(upper, &m, "a test")
	if err != nil || !isNew {
		t.Fatalf("LayerFromUpper = %+v, %v, %v", l, isNew, err)
	}
	if l.Digest != digestOf(first) || l.Size != int64(len(first)) {
		t.Errorf("layer %+v; want the digest and size of the tar, %s %d", l, digestOf(first), len(first))
	}
	dir := s.LayerDir(l.Digest)
	info, err := os.Lstat(filepath.Join(dir, "etc", "passwd"))
	if err != nil || !IsWhiteout(info) {
		t.Errorf("etc/passwd in the layer is not a whiteout: %v, %v", info, err)
	}
	if !IsOpaque(filepath.Join(dir, "opq")) {
		t.Errorf("opq in the layer is not opaque")
	}
	a, _ := os.Stat(filepath.Join(dir, "opq", "new"))
	b, _ := os.Stat(filepath.Join(dir, "opq", "again"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Errorf("opq/new and opq/again are no longer one file")
	}
	if st := a.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 1 {
		t.Errorf("opq/new is owned by %d:%d, want 0:1", st.Uid, st.Gid)
	}
	changes, err := Changes(upper, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	sort.Strings(got)
	wantChanges := []string{"A /etc", "A /etc/motd", "A /opq (opaque: hides the layers' /opq)", "A /opq/again", "A /opq/new", "D /etc/passwd (whiteout)"}
	if diff := cmp.Diff(wantChanges, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestExtractRefusesEscapes gives the extractor entries that would write
// outside the layer; each is refused before anything is written.
func TestExtractRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name    string
		entries []tar.Header
		wantErr string
	}{
		{"absolute", []tar.Header{{Name: outside + "/x", Typeflag: tar.TypeReg}}, "absolute path"},
		{"dot-dot", []tar.Header{{Name: "a/../../x", Typeflag: tar.TypeReg}}, "climbs out"},
		{"through a symlink", []tar.Header{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside}, {Name: "l/x", Typeflag: tar.TypeReg}}, "is a symlink"},
		{"whiteout through a symlink", []tar.Header{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside}, {Name: "l/.wh.x", Typeflag: tar.TypeReg}}, "is a symlink"},
		{"hard link out", []tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../x"}}, "outside the layer"},
		{"hard link through a symlink", []tar.Header{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "l/x"}}, "is a symlink"},
		{"empty whiteout", []tar.Header{{Name: "a/.wh.", Typeflag: tar.TypeReg}}, "must name a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for i := range tt.entries {
				if err := tw.WriteHeader(&tt.entries[i]); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			err := newExtractor(t.TempDir()).extractLayer(&buf)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("extract error = %v, want %q", err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("written outside: %v", entries)
			}
		})
	}
}
