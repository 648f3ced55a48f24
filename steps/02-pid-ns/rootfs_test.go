package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestReadELFDeps(t *testing.T) {
	setupNarration(true)
	type summary struct {
		NeedsLibc, HasInterp bool
	}
	tests := []struct {
		path string
		want summary
	}{
		{"/bin/ls", summary{NeedsLibc: true, HasInterp: true}},
		{"/bin/sh", summary{NeedsLibc: true, HasInterp: true}},
	}
	if busybox, _ := findStaticBusybox(); busybox != "" {
		tests = append(tests, struct {
			path string
			want summary
		}{busybox, summary{}})
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			deps, err := readELFDeps(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got := summary{NeedsLibc: slices.Contains(deps.Needed, "libc.so.6"), HasInterp: deps.Interp != ""}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("readELFDeps(%s) = %+v (-want +got):\n%s", tt.path, deps, diff)
			}
		})
	}
}

func TestReadELFDepsErrors(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path          string
		wantELF       bool
		wantErr       bool
		wantNotExists bool
	}{
		{path: "/bin/ls", wantELF: true},
		{path: script, wantErr: true},
		{path: "/nonexistent", wantErr: true, wantNotExists: true},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			_, err := readELFDeps(tt.path)
			got := []bool{isELF(tt.path), err != nil, errors.Is(err, fs.ErrNotExist)}
			if diff := cmp.Diff([]bool{tt.wantELF, tt.wantErr, tt.wantNotExists}, got); diff != "" {
				t.Errorf("isELF, error, ErrNotExist for %s (-want +got):\n%s (error: %v)", tt.path, diff, err)
			}
		})
	}
}

func TestDescribeDeps(t *testing.T) {
	tests := []struct {
		name string
		deps elfDeps
		want string
	}{
		{"dynamic", elfDeps{Needed: []string{"libselinux.so.1", "libc.so.6"}, Interp: "/lib64/ld-linux-x86-64.so.2"},
			"/usr/bin/ls needs libselinux.so.1, libc.so.6 (DT_NEEDED) and /lib64/ld-linux-x86-64.so.2 (PT_INTERP)"},
		{"static", elfDeps{}, "/usr/bin/ls is statically linked: it needs no libraries"},
		{"interp only", elfDeps{Interp: "/lib/ld-musl-x86_64.so.1"}, "/usr/bin/ls needs only /lib/ld-musl-x86_64.so.1 (PT_INTERP)"},
		{"library", elfDeps{Needed: []string{"libc.so.6"}}, "/usr/bin/ls needs libc.so.6 (DT_NEEDED)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, describeDeps("/usr/bin/ls", tt.deps)); diff != "" {
				t.Errorf("describeDeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveLibrary(t *testing.T) {
	ls, err := readELFDeps("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	libc, err := resolveLibrary("libc.so.6", ls, libraryDirs())
	if err != nil {
		t.Fatal(err)
	}
	// A run path comes first, and a file there that is not a library of
	// the right kind is passed over.
	runpath := t.TempDir()
	if err := copyHostFile(libc, filepath.Join(runpath, "libc.so.6")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runpath, "libselinux.so.1"), []byte("not ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	withRunPath := ls
	withRunPath.RunPath = []string{runpath}

	tests := []struct {
		name    string
		lib     string
		deps    elfDeps
		want    string // "" means the library of that name in the system's dirs
		wantErr bool
	}{
		{name: "soname in the system dirs", lib: "libc.so.6", deps: ls},
		{name: "run path first", lib: "libc.so.6", deps: withRunPath, want: filepath.Join(runpath, "libc.so.6")},
		{name: "not ELF in run path is skipped", lib: "libselinux.so.1", deps: withRunPath},
		{name: "path as is", lib: "/lib64/ld-linux-x86-64.so.2", deps: ls, want: "/lib64/ld-linux-x86-64.so.2"},
		{name: "missing", lib: "libnosuchthing.so.9", deps: ls, wantErr: true},
		{name: "wrong machine", lib: "libc.so.6", deps: elfDeps{Class: ls.Class, Machine: elf.EM_S390}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveLibrary(tt.lib, tt.deps, libraryDirs())
			if tt.wantErr {
				if err == nil {
					t.Fatalf("resolveLibrary(%s) = %s, want an error", tt.lib, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if filepath.Base(got) != tt.lib || strings.HasPrefix(got, runpath) {
					t.Errorf("resolveLibrary(%s) = %s, want %s in a system dir", tt.lib, got, tt.lib)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolveLibrary(%s) (-want +got):\n%s", tt.lib, diff)
			}
		})
	}
}

func TestLdSoConfDirs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"libc.conf":              "# libc default configuration\n/usr/local/lib\n",
		"aarch64-linux-gnu.conf": "# Multiarch support\n/lib/aarch64-linux-gnu\n/usr/lib/aarch64-linux-gnu/ # trailing\n\ninclude other\n",
		"ignored.txt":            "/not/this\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib"}
	if diff := cmp.Diff(want, ldSoConfDirs(filepath.Join(dir, "*.conf"))); diff != "" {
		t.Errorf("ldSoConfDirs (-want +got):\n%s", diff)
	}
}

func TestParseApplets(t *testing.T) {
	tests := []struct {
		name, out, prefix string
		want              []string
		wantErr           bool
	}{
		{name: "list-full", out: "usr/bin/[\nbin/sh\nsbin/ifconfig\nbin/busybox\n", want: []string{"usr/bin/[", "bin/sh", "sbin/ifconfig"}},
		{name: "list", out: "sh\nls\n\n", prefix: "bin/", want: []string{"bin/sh", "bin/ls"}},
		{name: "escape", out: "../../etc/passwd\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseApplets(tt.out, tt.prefix)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseApplets error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseApplets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRootfsRelPath(t *testing.T) {
	tests := []struct {
		name, want string
		wantErr    bool
	}{
		{name: "etc/passwd", want: "etc/passwd"},
		{name: "/etc/passwd", want: "etc/passwd"},
		{name: "./usr/../bin/sh", want: "bin/sh"},
		{name: "./", want: "."},
		{name: "", want: "."},
		{name: "../evil", wantErr: true},
		{name: "/abs/../../evil", wantErr: true},
		{name: "a/../../evil", wantErr: true},
		{name: "..", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rootfsRelPath(tt.name)
			if (err != nil) != tt.wantErr {
				t.Fatalf("rootfsRelPath(%q) error = %v, want error %v", tt.name, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rootfsRelPath(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name, body, link string
	kind             byte
	mode             int64
}

func tarFile(name, body string) tarEntry { return tarEntry{name: name, body: body, kind: tar.TypeReg} }
func tarDir(name string) tarEntry        { return tarEntry{name: name, kind: tar.TypeDir} }
func tarSymlink(name, target string) tarEntry {
	return tarEntry{name: name, link: target, kind: tar.TypeSymlink}
}
func tarHardlink(name, target string) tarEntry {
	return tarEntry{name: name, link: target, kind: tar.TypeLink}
}

// makeTestTar builds an archive of entries in memory, gzipped if asked.
func makeTestTar(t *testing.T, entries []tarEntry, gzipped bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if e.kind == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.kind, Mode: mode,
			Size: int64(len(e.body)), Uid: os.Getuid(), Gid: os.Getgid(), ModTime: time.Unix(1e9, 0)}
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
	if !gzipped {
		return buf.Bytes()
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

// describeTree lists every entry below root as "dir 755", "file 644 body",
// "symlink -> target", "char 1,3 666" or "fifo 600"; files with several
// links say so.
func describeTree(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		perm := info.Mode().Perm()
		if info.Mode()&fs.ModeSticky != 0 {
			perm |= 0o1000
		}
		switch {
		case info.IsDir():
			tree[rel] = fmt.Sprintf("dir %o", perm)
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			tree[rel] = "symlink -> " + target
		case info.Mode()&fs.ModeCharDevice != 0:
			rdev := info.Sys().(*syscall.Stat_t).Rdev
			tree[rel] = fmt.Sprintf("char %d,%d %o", unix.Major(rdev), unix.Minor(rdev), perm)
		case info.Mode()&fs.ModeNamedPipe != 0:
			tree[rel] = fmt.Sprintf("fifo %o", perm)
		case info.Mode().IsRegular():
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree[rel] = fmt.Sprintf("file %o %s", perm, body)
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				tree[rel] += fmt.Sprintf(" (%d links)", st.Nlink)
			}
		default:
			tree[rel] = info.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// importedTree is want plus what every import adds: the mount points and
// the marker naming the archive.
func importedTree(archive string, want map[string]string) map[string]string {
	tree := map[string]string{
		"proc": "dir 555", "sys": "dir 555", "dev": "dir 755", "tmp": "dir 1777", "etc": "dir 755",
		rootfsMarker: fmt.Sprintf("file 644 imported by %s rootfs import from %s\n", programName(), archive),
	}
	for k, v := range want {
		tree[k] = v
	}
	return tree
}

func TestImportRootfs(t *testing.T) {
	setupNarration(true)
	tests := []struct {
		name    string
		entries []tarEntry
		gzipped bool
		want    map[string]string
	}{
		{
			name: "files, dirs and symlinks",
			entries: []tarEntry{
				tarDir("./"), tarDir("etc/"), tarFile("etc/hosts", "127.0.0.1 localhost\n"),
				tarSymlink("etc/mtab", "/proc/self/mounts"), tarFile("/abs", "made relative"),
				tarFile("usr/bin/tool", "no dir entry before"),
				{name: "secret", body: "s", kind: tar.TypeReg, mode: 0o600},
				{name: "usr/local/", kind: tar.TypeDir, mode: 0o700},
			},
			want: map[string]string{
				"etc/hosts": "file 644 127.0.0.1 localhost\n", "etc/mtab": "symlink -> /proc/self/mounts",
				"abs": "file 644 made relative", "usr": "dir 755", "usr/bin": "dir 755",
				"usr/bin/tool": "file 644 no dir entry before", "secret": "file 600 s", "usr/local": "dir 700",
			},
		},
		{
			name:    "hard links",
			entries: []tarEntry{tarFile("bin/busybox", "ELF"), tarHardlink("bin/sh", "bin/busybox"), tarHardlink("/bin/ls", "/bin/busybox")},
			want: map[string]string{
				"bin": "dir 755", "bin/busybox": "file 644 ELF (3 links)", "bin/sh": "file 644 ELF (3 links)",
				"bin/ls": "file 644 ELF (3 links)",
			},
		},
		{
			name:    "gzip found by its magic bytes, not by the name",
			entries: []tarEntry{tarFile("hello", "world")},
			gzipped: true,
			want:    map[string]string{"hello": "file 644 world"},
		},
		{
			name:    "fifo",
			entries: []tarEntry{{name: "run/initctl", kind: tar.TypeFifo, mode: 0o600}},
			want:    map[string]string{"run": "dir 755", "run/initctl": "fifo 600"},
		},
		{
			name:    "a later entry replaces a symlink instead of following it",
			entries: []tarEntry{tarSymlink("etc", "/etc"), tarDir("etc/"), tarSymlink("motd", "/etc/motd"), tarFile("motd", "hi")},
			want:    map[string]string{"motd": "file 644 hi"},
		},
		{
			name:    "tmp from the archive keeps its mode",
			entries: []tarEntry{{name: "tmp/", kind: tar.TypeDir, mode: 0o700}},
			want:    map[string]string{"tmp": "dir 700"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "rootfs.tar")
			if err := os.WriteFile(archive, makeTestTar(t, tt.entries, tt.gzipped), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "rootfs")
			if err := importRootfs(archive, dir); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(importedTree(archive, tt.want), describeTree(t, dir)); diff != "" {
				t.Errorf("imported tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImportRootfsRefusesEscapes(t *testing.T) {
	setupNarration(true)
	tests := []struct {
		name    string
		entries func(outside string) []tarEntry
		wantErr string
	}{
		{"dot dot", func(string) []tarEntry { return []tarEntry{tarFile("ok", "x"), tarFile("../evil", "x")} },
			`entry "../evil" points outside`},
		{"absolute with dot dot", func(string) []tarEntry { return []tarEntry{tarFile("/abs/../../evil", "x")} },
			`entry "/abs/../../evil" points outside`},
		{"write through an absolute symlink", func(outside string) []tarEntry {
			return []tarEntry{tarSymlink("link", outside), tarFile("link/file", "x")}
		}, "link/file: link is a symlink"},
		{"write through a relative symlink", func(string) []tarEntry {
			return []tarEntry{tarDir("a/"), tarSymlink("a/up", "../../.."), tarFile("a/up/evil", "x")}
		}, "a/up/evil: a/up is a symlink"},
		{"directory through a symlink", func(outside string) []tarEntry {
			return []tarEntry{tarSymlink("link", outside), tarDir("link/sub/")}
		}, "link/sub: link is a symlink"},
		{"hard link out with dot dot", func(string) []tarEntry {
			return []tarEntry{tarHardlink("stolen", "../outside/secret")}
		}, `entry "../outside/secret" points outside`},
		{"hard link through a symlink", func(outside string) []tarEntry {
			return []tarEntry{tarSymlink("link", outside), tarHardlink("stolen", "link/secret")}
		}, "link/secret: link is a symlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(base, "evil.tar")
			if err := os.WriteFile(archive, makeTestTar(t, tt.entries(outside), false), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(base, "rootfs")
			err := importRootfs(archive, dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("importRootfs error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was left behind after a failed import (lstat: %v)", dir, err)
			}
			got := describeTree(t, base)
			delete(got, "evil.tar")
			want := map[string]string{"outside": "dir 755", "outside/secret": "file 600 secret"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outside the rootfs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestImportRootfsDevices checks that root gets device nodes and anyone
// else an import without them, not an error.
func TestImportRootfsDevices(t *testing.T) {
	setupNarration(true)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "dev.tar")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := importRootfs(archive, dir); err != nil {
		t.Fatal(err)
	}
	want := importedTree(archive, nil)
	if os.Geteuid() == 0 {
		want["dev/null"] = "char 1,3 666"
	}
	if diff := cmp.Diff(want, describeTree(t, dir)); diff != "" {
		t.Errorf("imported tree (-want +got):\n%s", diff)
	}
}

func TestImportRootfsKeepsTimes(t *testing.T) {
	setupNarration(true)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, hdr := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime},
		{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "/nowhere", ModTime: mtime},
	} {
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "times.tar")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := importRootfs(archive, dir); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, name := range []string{"d", "d/f", "d/l"} {
		info, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got[name] = info.ModTime().UTC()
	}
	want := map[string]time.Time{"d": mtime, "d/f": mtime, "d/l": mtime}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mtimes (-want +got):\n%s", diff)
	}
}

func TestDecompress(t *testing.T) {
	plain := makeTestTar(t, []tarEntry{tarFile("a", "b")}, false)
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{name: "tar", data: plain},
		{name: "gzip", data: makeTestTar(t, []tarEntry{tarFile("a", "b")}, true)},
		{name: "xz", data: []byte("\xfd7zXZ\x00rest"), wantErr: "xz-compressed"},
		{name: "zstd", data: []byte("\x28\xb5\x2f\xfdrest"), wantErr: "zstd-compressed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decompress(bytes.NewReader(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decompress error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := tar.NewReader(r).Next()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("a", hdr.Name); diff != "" {
				t.Errorf("first entry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrepareRootfsDir(t *testing.T) {
	setupNarration(true)
	tests := []struct {
		name    string
		setup   func(dir string) error
		wantErr bool
	}{
		{name: "missing", setup: func(string) error { return nil }},
		{name: "empty", setup: func(dir string) error { return os.Mkdir(dir, 0o755) }},
		{name: "not empty", setup: func(dir string) error {
			return writeFiles(dir, map[string]string{"home/me/notes": "keep"})
		}, wantErr: true},
		{name: "made by us", setup: func(dir string) error {
			return writeFiles(dir, map[string]string{rootfsMarker: "built", "bin/sh": "old"})
		}},
		{name: "marker behind a symlink", setup: func(dir string) error {
			if err := writeFiles(dir+"-real", map[string]string{"box-rootfs": "built"}); err != nil {
				return err
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			return os.Symlink(dir+"-real", filepath.Join(dir, "etc"))
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			before := describeTree(t, filepath.Dir(dir))
			_, err := prepareRootfsDir(dir)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "rm -rf "+dir) {
					t.Errorf("prepareRootfsDir error = %v, want one naming the fix", err)
				}
				if diff := cmp.Diff(before, describeTree(t, filepath.Dir(dir))); diff != "" {
					t.Errorf("a refused directory changed (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{}, describeTree(t, dir)); diff != "" {
				t.Errorf("prepared directory is not empty (-want +got):\n%s", diff)
			}
		})
	}
}

// writeFiles creates files below dir, with their directories.
func writeFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func TestBuildRootfsFromHost(t *testing.T) {
	setupNarration(true)
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := buildRootfs(dir, true); err != nil {
		t.Fatal(err)
	}
	paths, _ := findHostCommands([]string{"sh"})
	sh := paths[0]
	deps, err := readELFDeps(sh)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{sh, "/bin/sh", deps.Interp}
	for _, name := range deps.Needed {
		lib, err := resolveLibrary(name, deps, libraryDirs())
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, lib)
	}
	var missing []string
	for _, p := range want {
		// Stat follows the rootfs's merged-/usr links, which are relative
		// and so stay inside it.
		if info, err := os.Stat(filepath.Join(dir, p)); err != nil || !info.Mode().IsRegular() {
			missing = append(missing, p)
		}
	}
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("missing from the rootfs (-want +got):\n%s", diff)
	}
	checkSkeleton(t, dir)
}

func TestBuildRootfsBusybox(t *testing.T) {
	setupNarration(true)
	if busybox, why := findStaticBusybox(); busybox == "" {
		t.Skip(why)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := buildRootfs(dir, false); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(filepath.Join(dir, "bin/busybox"))
	if err != nil || !info.Mode().IsRegular() {
		t.Fatalf("bin/busybox is not a regular file: %v", err)
	}
	got := map[string]string{}
	for _, name := range []string{"bin/sh", "bin/ls"} {
		got[name], _ = os.Readlink(filepath.Join(dir, name))
	}
	want := map[string]string{"bin/sh": "/bin/busybox", "bin/ls": "/bin/busybox"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applet links (-want +got):\n%s", diff)
	}
	checkSkeleton(t, dir)
}

// checkSkeleton checks the directories and files every built rootfs has.
func checkSkeleton(t *testing.T, dir string) {
	t.Helper()
	tree := describeTree(t, dir)
	got := map[string]string{}
	for _, name := range []string{"tmp", "root", "proc", "etc/passwd", "etc/group", "etc/hostname"} {
		got[name] = tree[name]
	}
	want := map[string]string{
		"tmp": "dir 1777", "root": "dir 700", "proc": "dir 555",
		"etc/passwd":   "file 644 root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "file 644 root:x:0:\nnogroup:x:65534:\n",
		"etc/hostname": "file 644 box\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rootfs skeleton (-want +got):\n%s", diff)
	}
	if !isBoxRootfs(dir) {
		t.Errorf("%s has no %s", dir, rootfsMarker)
	}
}

// needsRootForRootfs skips a test that needs root, unless CI=true, where a
// skipped test would hide a failure.
func needsRootForRootfs(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root (%s), and CI=true turns this skip into a failure", why)
	}
	t.Skipf("needs root: %s", why)
}

func TestBuiltRootfsRuns(t *testing.T) {
	setupNarration(true)
	needsRootForRootfs(t, "chroot(2) into the built rootfs")
	for _, fromHost := range []bool{false, true} {
		t.Run(fmt.Sprintf("from host %v", fromHost), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			if err := buildRootfs(dir, fromHost); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sh", "-c", "ls / && cat /etc/hostname && echo hi | wc -c")
			cmd.Dir = "/"
			cmd.Env = []string{"PATH=" + containerPath}
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("chroot %s /bin/sh: %v\n%s", dir, err, out)
			}
			fields := strings.Fields(string(out))
			for _, want := range []string{"etc", "proc", "tmp", "box", "3"} {
				if !slices.Contains(fields, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestRebuildRefusesMounts checks that building over an earlier rootfs
// stops at a mount inside it instead of clearing through it.
func TestRebuildRefusesMounts(t *testing.T) {
	needsRootForRootfs(t, "mount a tmpfs")
	setupNarration(true)
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := buildRootfs(dir, false); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(dir, "tmp")
	if err := unix.Mount("tmpfs", inside, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(inside, unix.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(inside, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := buildRootfs(dir, false)
	if err == nil || !strings.Contains(err.Error(), "umount -R "+inside) {
		t.Fatalf("rebuild over a mount: err = %v, want one naming umount -R %s", err, inside)
	}
	if _, err := os.Stat(filepath.Join(inside, "keep")); err != nil {
		t.Errorf("the mounted file is gone: %v", err)
	}
}
