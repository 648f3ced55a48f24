package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fatih/color"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func init() { narrator.quiet = true }

func TestClassifyEntry(t *testing.T) {
	tests := []struct {
		name       string
		wantKind   entryKind
		wantTarget string
		wantErr    string
	}{
		{name: "etc/passwd", wantKind: entryFile, wantTarget: "etc/passwd"},
		{name: "etc/.wh.motd", wantKind: entryWhiteout, wantTarget: "etc/motd"},
		{name: ".wh.bin", wantKind: entryWhiteout, wantTarget: "bin"},
		{name: "a/b/.wh..hidden", wantKind: entryWhiteout, wantTarget: "a/b/.hidden"},
		{name: "opt/.wh..wh..opq", wantKind: entryOpaque, wantTarget: "opt"},
		{name: ".wh..wh..opq", wantKind: entryOpaque, wantTarget: "."},
		{name: "x/.wh..wh.plnk", wantKind: entryMeta, wantTarget: "x/.wh..wh.plnk"},
		{name: "x/.wh.", wantErr: "must name a file"},
		{name: "x/.wh..", wantErr: "must name a file"},
		{name: "x/.wh...", wantErr: "must name a file"},
		{name: "etc/not.wh.a-whiteout", wantKind: entryFile, wantTarget: "etc/not.wh.a-whiteout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, target, err := classifyEntry(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("classifyEntry(%q) error = %v, want one containing %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("classifyEntry(%q): %v", tt.name, err)
			}
			got := []string{kind.String(), target}
			if diff := cmp.Diff([]string{tt.wantKind.String(), tt.wantTarget}, got); diff != "" {
				t.Errorf("classifyEntry(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestEntryPath(t *testing.T) {
	tests := []struct {
		name, want, wantErr string
	}{
		{name: "./etc/passwd", want: "etc/passwd"},
		{name: "etc/", want: "etc"},
		{name: "./", want: "."},
		{name: "a/../b", want: "b"},
		{name: "/etc/passwd", wantErr: "absolute"},
		{name: "../evil", wantErr: "climbs out"},
		{name: "a/../../evil", wantErr: "climbs out"},
		{name: "..", wantErr: "climbs out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := entryPath(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("entryPath(%q) = %q, %v; want an error containing %q", tt.name, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("entryPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

// entry is one tar entry for the tests' archives.
type entry struct {
	name, body, link string
	typ              byte
	pax              map[string]string
}

// tarOf writes entries as a tar archive.
func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, PAXRecords: e.pax}
		switch e.typ {
		case 0:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.body))
		case tar.TypeDir:
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractLayerRejectsEscapes(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		wantErr string
	}{
		{"absolute name", []entry{{name: "/evil", body: "x"}}, "absolute"},
		{"dot-dot name", []entry{{name: "../evil", body: "x"}}, "climbs out"},
		{"through absolute symlink", []entry{{name: "lib", typ: tar.TypeSymlink, link: "OUTSIDE"}, {name: "lib/evil", body: "x"}}, "symlink"},
		{"through relative symlink", []entry{{name: "lib", typ: tar.TypeSymlink, link: "../outside"}, {name: "lib/evil", body: "x"}}, "symlink"},
		{"hard link outside", []entry{{name: "link", typ: tar.TypeLink, link: "../outside/secret"}}, "outside"},
		{"hard link through symlink", []entry{{name: "d", typ: tar.TypeSymlink, link: "OUTSIDE"}, {name: "link", typ: tar.TypeLink, link: "d/secret"}}, "symlink"},
		{"whiteout through symlink", []entry{{name: "d", typ: tar.TypeSymlink, link: "OUTSIDE"}, {name: "d/.wh.secret", typ: tar.TypeReg}}, "symlink"},
		{"opaque through symlink", []entry{{name: "d", typ: tar.TypeSymlink, link: "OUTSIDE"}, {name: "d/.wh..wh..opq", typ: tar.TypeReg}}, "symlink"},
		{"whiteout of dot-dot", []entry{{name: "a/.wh...", typ: tar.TypeReg}}, "must name a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := filepath.Join(dir, "outside")
			layer := filepath.Join(dir, "layer")
			for _, d := range []string{outside, layer} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			for i := range tt.entries {
				tt.entries[i].link = strings.ReplaceAll(tt.entries[i].link, "OUTSIDE", outside)
			}
			err := extractLayer(bytes.NewReader(tarOf(t, tt.entries...)), layer)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("extractLayer error = %v, want one containing %q", err, tt.wantErr)
			}
			var got []string
			filepath.WalkDir(outside, func(p string, d fs.DirEntry, err error) error {
				got = append(got, strings.TrimPrefix(p, dir))
				return err
			})
			if diff := cmp.Diff([]string{"/outside", "/outside/secret"}, got); diff != "" {
				t.Errorf("the dir outside the layer changed (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Errorf("an entry was written next to the layer")
			}
		})
	}
}

// requireRoot skips a test that makes device nodes or gives files away.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root, and CI=true: run as root")
	}
	t.Skip("needs root: whiteouts are device nodes (mknod), and layers are given to the ids of a user namespace (chown)")
}

func TestExtractLayerTranslatesWhiteouts(t *testing.T) {
	requireRoot(t)
	layer := t.TempDir()
	archive := tarOf(t,
		entry{name: "etc/", typ: tar.TypeDir},
		entry{name: "etc/.wh.motd", typ: tar.TypeReg},
		entry{name: "opt/.wh..wh..opq", typ: tar.TypeReg},
		entry{name: "opt/", typ: tar.TypeDir},
		entry{name: "opt/new", body: "new"},
		entry{name: "x/.wh..wh.plnk", typ: tar.TypeReg},
		entry{name: "bin/ping", body: "ping", pax: map[string]string{
			"SCHILY.xattr.user.box-test":            "kept",
			"SCHILY.xattr.trusted.overlay.redirect": "/etc",
			"SCHILY.xattr.user.overlay.redirect":    "/etc",
		}},
	)
	if err := extractLayer(bytes.NewReader(archive), layer); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := filepath.WalkDir(layer, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == layer {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := strings.TrimPrefix(p, layer) + " " + info.Mode().Type().String()
		if info.Mode()&fs.ModeCharDevice != 0 {
			st := info.Sys().(*syscall.Stat_t)
			line += fmt.Sprintf(" %d/%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		for _, attr := range []string{"trusted.overlay.opaque", "trusted.overlay.redirect", "user.overlay.opaque", "user.overlay.redirect", "user.box-test"} {
			buf := make([]byte, 64)
			if n, err := unix.Lgetxattr(p, attr, buf); err == nil {
				line += " " + attr + "=" + string(buf[:n])
			}
		}
		got = append(got, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/bin d---------",
		"/bin/ping ---------- user.box-test=kept",
		"/etc d---------",
		"/etc/motd Dc--------- 0/0",
		"/opt d--------- user.overlay.opaque=y",
		"/opt/new ----------",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted layer mismatch (-want +got):\n%s", diff)
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAddLayerIsContentAddressed(t *testing.T) {
	s, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	archive := tarOf(t, entry{name: "hello", body: "hello\n"})
	sum := sha256.Sum256(archive)
	digest := "sha256:" + hex.EncodeToString(sum[:])

	l, err := s.addLayer(bytes.NewReader(gzipped(t, archive)), "", "test layer")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(layer{Digest: digest, Size: int64(len(archive))}, l); diff != "" {
		t.Errorf("addLayer of the gzipped tar: digest is not the uncompressed tar's (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(s.layerDir(digest), "hello")); err != nil || string(b) != "hello\n" {
		t.Errorf("layer file: %q, %v", b, err)
	}

	// The same digest again is not read at all.
	again, err := s.addLayer(errReader{}, digest, "test layer")
	if err != nil || again != l {
		t.Errorf("addLayer of a stored digest = %+v, %v; want %+v without reading", again, err, l)
	}

	// A layer whose content does not match its promised digest is refused,
	// and leaves nothing behind.
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, err := s.addLayer(bytes.NewReader(tarOf(t, entry{name: "x", body: "x"})), wrong, "bad layer"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("addLayer with a wrong digest: %v, want a corrupt archive error", err)
	}
	for _, dir := range []string{s.tmpDir(), s.layersDir(0)} {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := []string(nil)
		if dir == s.layersDir(0) {
			want = []string{strings.TrimPrefix(digest, "sha256:"), strings.TrimPrefix(digest, "sha256:") + ".json"}
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("%s after a refused layer (-want +got):\n%s", dir, diff)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read: must not be called") }

func TestTarArchiveReadsMembersInPlace(t *testing.T) {
	s, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("long-name/", 12) + "member" // needs a PAX header
	members := []entry{
		{name: "manifest.json", body: `[{"Config":"c.json"}]`},
		{name: "blobs/", typ: tar.TypeDir},
		{name: "blobs/sha256/aa", body: strings.Repeat("a", 1500)},
		{name: long, body: "after a long header"},
		{name: "old/layer.tar", typ: tar.TypeSymlink, link: "../blobs/sha256/aa"},
		{name: "empty", body: ""},
	}
	data := tarOf(t, members...)
	for _, compressed := range []bool{false, true} {
		name := "plain"
		content := data
		if compressed {
			name, content = "gzip", gzipped(t, data)
		}
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "archive.tar")
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			a, err := s.openArchive(file)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			for _, m := range []struct{ name, want string }{
				{"manifest.json", members[0].body},
				{"blobs/sha256/aa", members[2].body},
				{long, members[3].body},
				{"old/layer.tar", members[2].body},
				{"./empty", ""},
			} {
				r, err := a.open(m.name)
				if err != nil {
					t.Fatalf("open %s: %v", m.name, err)
				}
				got, _ := io.ReadAll(r)
				r.Close()
				if string(got) != m.want {
					t.Errorf("member %s = %q, want %q", m.name, got, m.want)
				}
			}
			if a.has("missing") {
				t.Errorf("has(missing) = true")
			}
		})
	}
	if entries, _ := os.ReadDir(s.tmpDir()); len(entries) != 0 {
		t.Errorf("the decompressed copy was left in %s", s.tmpDir())
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ name, want, wantErr string }{
		{name: "alpine", want: "alpine:latest"},
		{name: "alpine:3.19", want: "alpine:3.19"},
		{name: "docker.io/library/busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{name: "my-app/web", want: "my-app/web:latest"},
		{name: "Alpine", wantErr: "lower-case"},
		{name: "../etc", wantErr: "lower-case"},
		{name: "a:b:c", wantErr: "lower-case"},
		{name: "", wantErr: "lower-case"},
	}
	for _, tt := range tests {
		got, err := normalizeName(tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("normalizeName(%q) = %q, %v; want error containing %q", tt.name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeName(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {999, "999B"}, {1000, "1.00kB"}, {2140160, "2.14MB"}, {45600000, "45.6MB"}, {123400000000, "123GB"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, humanSize(tt.n)); diff != "" {
			t.Errorf("humanSize(%d) mismatch (-want +got):\n%s", tt.n, diff)
		}
	}
}

func TestProcessAlive(t *testing.T) {
	self, err := selfOwner()
	if err != nil {
		t.Fatal(err)
	}
	pid, _, _ := strings.Cut(self, "-")
	tests := []struct {
		owner string
		want  bool
	}{
		{self, true},
		{pid + "-1", false}, // our pid, another start time: a reused pid
		{"999999999-1", false},
		{"garbage", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := processAlive(tt.owner); got != tt.want {
			t.Errorf("processAlive(%q) = %v, want %v", tt.owner, got, tt.want)
		}
	}
}

func TestOpenStoreModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := openStore(dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".":               "drwx--x--x",
		"layers":          "drwx--x--x",
		"layers/0":        "drwx------",
		"layers/0/sha256": "drwx------",
		"images":          "drwx------",
		"containers":      "drwx--x--x",
		"tmp":             "drwx------",
	}
	got := map[string]string{}
	for name := range want {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got[name] = info.Mode().String()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("store modes (-want +got):\n%s", diff)
	}
}

func TestShiftID(t *testing.T) {
	tests := []struct{ id, base, want uint32 }{
		{0, 100000, 100000},
		{1000, 100000, 101000},
		{65534, 100000, 165534},
		{65535, 100000, 165535},
		{65536, 100000, 165534}, // past the map: nobody
		{4294967294, 200000, 265534},
	}
	for _, tt := range tests {
		if got := shiftID(tt.id, tt.base); got != tt.want {
			t.Errorf("shiftID(%d, %d) = %d, want %d", tt.id, tt.base, got, tt.want)
		}
	}
}

// capValue is a security.capability value: magic, permitted, inheritable,
// the upper 32 bits of both, and rootid when one is given.
func capValue(magic, permitted uint32, rootid ...uint32) []byte {
	words := append([]uint32{magic, permitted, 0, 0, 0}, rootid...)
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func TestShiftFileCaps(t *testing.T) {
	const netRaw = 1 << 13 // CAP_NET_RAW
	tests := []struct {
		name     string
		in, want []byte
		base     uint32
	}{
		{"v2 becomes v3 for the namespace's root", capValue(0x02000001, netRaw), capValue(0x03000001, netRaw, 100000), 100000},
		{"v2 without the effective flag", capValue(0x02000000, netRaw), capValue(0x03000000, netRaw, 100000), 100000},
		{"v3 rootid is shifted", capValue(0x03000001, netRaw, 0), capValue(0x03000001, netRaw, 200000), 200000},
		{"v3 rootid past the map", capValue(0x03000001, netRaw, 70000), capValue(0x03000001, netRaw, 165534), 100000},
		{"v1 is kept", []byte{0, 0, 0, 1, 0, 0x20, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 1, 0, 0x20, 0, 0, 0, 0, 0, 0}, 100000},
		{"too short is kept", []byte{2}, []byte{2}, 100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, shiftFileCaps(tt.in, tt.base)); diff != "" {
				t.Errorf("shiftFileCaps mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestShiftCopy copies a layer for the namespace whose root is host id
// 100000: every owner shifted, ids past 65535 to nobody, and everything
// else kept: modes with setuid, times, hard links, symlinks, whiteouts,
// the opaque mark, and file capabilities, rewritten for that root.
func TestShiftCopy(t *testing.T) {
	requireRoot(t)
	src, dst := filepath.Join(t.TempDir(), "layer"), filepath.Join(t.TempDir(), "copy")
	mtime := time.Unix(1700000000, 0)
	type node struct {
		name     string
		mode     fs.FileMode // ModeDir, ModeSymlink, ModeCharDevice or 0, plus permissions
		uid, gid int
		link     string // a symlink's target, or the earlier file a hard link names
	}
	nodes := []node{
		{name: ".", mode: fs.ModeDir | 0o755},
		{name: "bin", mode: fs.ModeDir | 0o755},
		{name: "bin/su", mode: fs.ModeSetuid | 0o755},
		{name: "bin/su-again", link: "bin/su"},
		{name: "bin/sh", mode: fs.ModeSymlink, link: "busybox"},
		{name: "bin/ping", mode: 0o755},
		{name: "etc", mode: fs.ModeDir | 0o755},
		{name: "etc/shadow", mode: 0o640, gid: 42},
		{name: "etc/motd", mode: fs.ModeCharDevice},
		{name: "home", mode: fs.ModeDir | 0o755},
		{name: "home/user", mode: fs.ModeDir | 0o700, uid: 1000, gid: 1000},
		{name: "home/user/notes", mode: 0o600, uid: 1000, gid: 1000},
		{name: "opt", mode: fs.ModeDir | 0o555},
		{name: "far", mode: 0o644, uid: 70000, gid: 70000},
	}
	for _, n := range nodes {
		p := filepath.Join(src, n.name)
		var err error
		switch {
		case n.mode&fs.ModeDir != 0:
			err = os.Mkdir(p, 0o700)
		case n.mode&fs.ModeSymlink != 0:
			err = os.Symlink(n.link, p)
		case n.mode&fs.ModeCharDevice != 0:
			err = unix.Mknod(p, unix.S_IFCHR, 0)
		case n.link != "":
			err = os.Link(filepath.Join(src, n.link), p)
			if err != nil {
				t.Fatal(err)
			}
			continue
		default:
			err = os.WriteFile(p, []byte(n.name), 0o600)
		}
		if err == nil {
			err = os.Lchown(p, n.uid, n.gid)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Lsetxattr(filepath.Join(src, "opt"), opaqueXattr, []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(src, "bin/ping"), "security.capability", capValue(0x02000001, 1<<13), 0); err != nil {
		t.Fatal(err)
	}
	// Modes and times last, deepest first, as an extractor would.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		p := filepath.Join(src, n.name)
		if n.mode&fs.ModeSymlink == 0 && n.link == "" {
			if err := os.Chmod(p, n.mode&(fs.ModePerm|fs.ModeSetuid)); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Lutimes(p, []unix.Timeval{unix.NsecToTimeval(mtime.UnixNano()), unix.NsecToTimeval(mtime.UnixNano())}); err != nil {
			t.Fatal(err)
		}
	}

	var err error
	narrated := narration(t, func() { err = shiftCopy(src, dst, 100000, 100000) })
	if err != nil {
		t.Fatal(err)
	}
	// The device node is narrated on a line of its own; the rest counted:
	// each entry made, then given its owner, and its mode unless a symlink.
	summary := fmt.Sprintf("  /* under %q: 6 mkdir, 5 openat(O_CREAT), 1 symlink, 1 link, 13 fchownat, 12 fchmodat */\n", dst)
	mknod := fmt.Sprintf("  mknod(%q, S_IFCHR|000, makedev(0, 0)) = 0\n", filepath.Join(dst, "etc/motd"))
	if !strings.Contains(narrated, summary) || !strings.Contains(narrated, mknod) {
		t.Errorf("the copy narrated:\n%s\nwant among it:\n%s%s", narrated, mknod, summary)
	}

	var got []string
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dst, p)
		line := fmt.Sprintf("%s %v %d:%d", rel, info.Mode(), st.Uid, st.Gid)
		if info.Mode()&fs.ModeCharDevice != 0 {
			line += fmt.Sprintf(" %d/%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		if info.Mode().IsRegular() && st.Nlink > 1 {
			line += fmt.Sprintf(" links=%d", st.Nlink)
		}
		if v, err := xattrValue(p, opaqueXattr); err == nil {
			line += " opaque=" + string(v)
		}
		if v, err := xattrValue(p, "security.capability"); err == nil {
			line += fmt.Sprintf(" caps=%x", v)
		}
		if !info.ModTime().Equal(mtime) {
			line += " mtime=" + info.ModTime().String()
		}
		got = append(got, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		". drwxr-xr-x 100000:100000",
		"bin drwxr-xr-x 100000:100000",
		"bin/ping -rwxr-xr-x 100000:100000 caps=0100000300200000000000000000000000000000a0860100",
		"bin/sh Lrwxrwxrwx 100000:100000 -> busybox",
		"bin/su urwxr-xr-x 100000:100000 links=2",
		"bin/su-again urwxr-xr-x 100000:100000 links=2",
		"etc drwxr-xr-x 100000:100000",
		"etc/motd Dc--------- 100000:100000 0/0",
		"etc/shadow -rw-r----- 100000:100042",
		"far -rw-r--r-- 165534:165534",
		"home drwxr-xr-x 100000:100000",
		"home/user drwx------ 101000:101000",
		"home/user/notes -rw------- 101000:101000",
		"opt dr-xr-xr-x 100000:100000 opaque=y",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shifted copy (-want +got):\n%s", diff)
	}
	var a, b syscall.Stat_t
	if syscall.Stat(filepath.Join(dst, "bin/su"), &a) != nil || syscall.Stat(filepath.Join(dst, "bin/su-again"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("bin/su and bin/su-again are not one file in the copy")
	}
}

// narration runs f with narration on, and returns what it printed.
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
// counting its calls, the one call itself when there is one, nothing when
// there is nothing to remove.
func TestRemoveAllNarration(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"tree/a", "tree/b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"tree/a/f", "tree/g", "lone"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ path, want string }{
		{tree, fmt.Sprintf("  /* under %q: 2 unlink, 3 rmdir */\n", tree)},
		{filepath.Join(dir, "lone"), fmt.Sprintf("  unlink(%q) = 0\n", filepath.Join(dir, "lone"))},
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
