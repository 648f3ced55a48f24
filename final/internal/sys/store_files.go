package sys

// store_files.go holds the calls the image store makes to fill and to
// empty its directories: its lock file, the records it writes whole and
// renames into place, the dirs of a container's root, and the trees of
// files of a layer, which a Tree narrates as one counted line.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// OpenLockFile opens (creating) the lock file at path and takes its
// flock(2) lock, shared or exclusive, both calls narrated; unlock closes
// the file, which releases the lock.
func OpenLockFile(path string, exclusive bool) (unlock func(), err error) {
	f, err := openNarrated(path, unix.O_RDWR|unix.O_CREAT, "O_RDWR|O_CREAT|O_CLOEXEC", 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := Lock(f, exclusive, false); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// CreateNew creates the new file path for reading and writing
// (O_CREAT|O_EXCL: it fails if anything is there, a symlink included).
func CreateNew(path string, mode uint32) (*os.File, error) {
	f, err := openNarrated(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, "O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC", mode)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return f, nil
}

// WriteNewFile creates or truncates path and writes data to it. The open
// is narrated; the write of the data to a file of our own is not.
func WriteNewFile(path string, data []byte, mode uint32) error {
	f, err := openNarrated(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC", mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil && recorder() == nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// openNarrated is openat(2) with O_CLOEXEC added. A Recorder makes no
// descriptor: the caller then gets /dev/null to write to and close.
func openNarrated(path string, flags int, flagNames string, mode uint32) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, %s, %#o)", C(path), flagNames, mode)
	fd, err := callValue(c, func() (int, error) { return unix.Open(path, flags|unix.O_CLOEXEC, mode) })
	if err != nil {
		return nil, err
	}
	if recorder() != nil {
		return devNullNamed(path)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// devNullNamed opens /dev/null under the name path: what a Recorder's
// caller gets for a file the Recorder did not make.
func devNullNamed(path string) (*os.File, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	fd, err := unix.FcntlInt(null.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Rename is rename(2): the store's way to make a file or a tree appear
// whole, or not at all.
func Rename(oldpath, newpath string) error {
	err := call(fmt.Sprintf("rename(%s, %s)", C(oldpath), C(newpath)), func() error { return unix.Rename(oldpath, newpath) })
	if err != nil {
		return fmt.Errorf("rename %s to %s: %w", oldpath, newpath, err)
	}
	return nil
}

// Chown is chown(2), which follows a symlink (the store makes none where
// it calls it).
func Chown(path string, uid, gid int) error {
	err := call(fmt.Sprintf("chown(%s, %d, %d)", C(path), uid, gid), func() error { return unix.Chown(path, uid, gid) })
	if err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// Chmod is chmod(2): the mode exactly, past the umask mkdir(2) applied.
func Chmod(path string, mode uint32) error {
	err := call(fmt.Sprintf("chmod(%s, %#o)", C(path), mode), func() error { return unix.Chmod(path, mode) })
	if err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// Unlink is unlink(2); a file already gone is fine, and then nothing is
// made or printed.
func Unlink(path string) error {
	if recorder() == nil {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	err := call(fmt.Sprintf("unlink(%s)", C(path)), func() error { return unix.Unlink(path) })
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// RemoveAll removes the tree at path: what it holds, each entry with
// unlinkat(2) relative to its directory and counted on one line, then
// path itself, printed whole. Nothing there is fine, and then nothing is
// made or printed.
func RemoveAll(path string) error {
	if recorder() != nil {
		return Rmdir(path)
	}
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if !info.IsDir() {
		return Unlink(path)
	}
	t := NewTree(path)
	err = t.empty(path)
	t.Done()
	if err != nil {
		return err
	}
	return Rmdir(path)
}

// Tree narrates the calls that fill or empty one directory tree of the
// store: a layer extracted from its tar, a layer copied with its owners
// shifted, a container's dir removed. A layer holds hundreds of files,
// each a mkdir or an open or a symlink, then an lchown, a chmod and a
// utimensat: printed one by one they would bury the steps worth reading.
// So a Tree makes each call, counts those that succeed by the name strace
// gives them, and prints one line when it is done:
//
//	/* under "DIR": 12 mkdir, 30 openat(O_CREAT), 402 symlink, 444 fchownat, 42 fchmodat */
//	/* and 444 utimensat(AT_FDCWD, PATH, TIMES, AT_SYMLINK_NOFOLLOW): each file's times */
//
// lchown(2) is fchownat(2) with AT_SYMLINK_NOFOLLOW, chmod(2) fchmodat(2),
// and what is removed relative to an open directory, unlinkat(2), is
// counted as unlink or rmdir. A call that fails is printed whole, as any
// other. Device nodes, the overlayfs whiteouts among them, and extended
// attributes, the opaque dirs among them, are printed whole too: they are
// what makes a layer a layer. tests/narration_compare_test.go holds the
// first line to the calls strace sees in DIR and below, name by name.
type Tree struct {
	dir    string
	counts map[string]int
	order  []string
}

// NewTree starts counting the calls made in dir and below.
func NewTree(dir string) *Tree { return &Tree{dir: dir, counts: map[string]int{}} }

// Dir is the tree's top directory.
func (t *Tree) Dir() string { return t.dir }

// Done prints the line that counts the calls that succeeded, if any, and
// starts counting again from zero.
func (t *Tree) Done() {
	if len(t.order) == 0 {
		return
	}
	var items []string
	for _, k := range t.order {
		if k != "utimensat" {
			items = append(items, fmt.Sprintf("%d %s", t.counts[k], k))
		}
	}
	if len(items) > 0 {
		narrate.Line(fmt.Sprintf("/* under %s: %s */", C(t.dir), strings.Join(items, ", ")))
	}
	if n := t.counts["utimensat"]; n > 0 {
		narrate.Line(fmt.Sprintf("/* and %d utimensat(AT_FDCWD, PATH, TIMES, AT_SYMLINK_NOFOLLOW): each file's times */", n))
	}
	t.counts, t.order = map[string]int{}, nil
}

// do makes one call of the tree: counted under kind if it succeeds,
// printed whole (c) if it fails. A Recorder gets c instead of the kernel.
func (t *Tree) do(kind, c string, f func() error) error {
	var err error
	if r := recorder(); r != nil {
		_, err = r.Record(c)
	} else {
		err = f()
	}
	if err != nil {
		narrate.Line(c + " " + Result(0, err))
		return err
	}
	if t.counts[kind] == 0 {
		t.order = append(t.order, kind)
	}
	t.counts[kind]++
	return nil
}

// Mkdir is mkdir(2).
func (t *Tree) Mkdir(path string, mode uint32) error {
	err := t.do("mkdir", fmt.Sprintf("mkdir(%s, %#o)", C(path), mode), func() error { return unix.Mkdir(path, mode) })
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}

// MkdirAll makes path and the dirs on the way to it that are missing.
func (t *Tree) MkdirAll(path string, mode uint32) error {
	if info, err := os.Lstat(path); err == nil {
		if info.IsDir() {
			return nil
		}
		return fmt.Errorf("mkdir %s: not a directory", path)
	}
	if parent := filepath.Dir(path); parent != path {
		if err := t.MkdirAll(parent, mode); err != nil {
			return err
		}
	}
	return t.Mkdir(path, mode)
}

// Create creates a new file to write: O_EXCL and O_NOFOLLOW make sure it
// is a new file at path, not what a symlink there points to. A Recorder
// makes no file: the caller writes to /dev/null instead.
func (t *Tree) Create(path string, mode uint32) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, %#o)", C(path), mode)
	var fd int
	err := t.do("openat(O_CREAT)", c, func() error {
		var err error
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if recorder() != nil {
		return devNullNamed(path)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Symlink is symlink(2): a link at linkpath that says target.
func (t *Tree) Symlink(target, linkpath string) error {
	err := t.do("symlink", fmt.Sprintf("symlink(%s, %s)", C(target), C(linkpath)), func() error { return unix.Symlink(target, linkpath) })
	if err != nil {
		return fmt.Errorf("symlink %s: %w", linkpath, err)
	}
	return nil
}

// Link is link(2): a hard link at newpath to the file at oldpath (a
// symlink there is linked, not followed).
func (t *Tree) Link(oldpath, newpath string) error {
	err := t.do("link", fmt.Sprintf("link(%s, %s)", C(oldpath), C(newpath)), func() error { return unix.Link(oldpath, newpath) })
	if err != nil {
		return fmt.Errorf("link %s: %w", newpath, err)
	}
	return nil
}

// Lchown is lchown(2), made as fchownat(2) with AT_SYMLINK_NOFOLLOW (all
// that arm64 has): the owner of path itself, never of what a symlink
// points to.
func (t *Tree) Lchown(path string, uid, gid int) error {
	c := fmt.Sprintf("fchownat(AT_FDCWD, %s, %d, %d, AT_SYMLINK_NOFOLLOW)", C(path), uid, gid)
	err := t.do("fchownat", c, func() error { return unix.Fchownat(unix.AT_FDCWD, path, uid, gid, unix.AT_SYMLINK_NOFOLLOW) })
	if err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// Chmod is chmod(2). The tree calls it on no symlink (it would follow it).
func (t *Tree) Chmod(path string, mode uint32) error {
	c := fmt.Sprintf("fchmodat(AT_FDCWD, %s, %#o)", C(path), mode)
	err := t.do("fchmodat", c, func() error { return unix.Fchmodat(unix.AT_FDCWD, path, mode, 0) })
	if err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// Lutimes sets the access and modification times of path itself
// (utimensat(2) with AT_SYMLINK_NOFOLLOW).
func (t *Tree) Lutimes(path string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	c := fmt.Sprintf("utimensat(AT_FDCWD, %s, [%d, %d], AT_SYMLINK_NOFOLLOW)", C(path), ts.Sec, ts.Sec)
	err := t.do("utimensat", c, func() error {
		return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return fmt.Errorf("set times of %s: %w", path, err)
	}
	return nil
}

// Mknod is mknod(2), printed whole: a device node, a fifo, or an
// overlayfs whiteout.
func (t *Tree) Mknod(path string, mode uint32, major, minor uint32) error {
	return Mknod(path, mode, major, minor)
}

// Lsetxattr is lsetxattr(2), printed whole: an opaque dir, a file's
// capabilities.
func (t *Tree) Lsetxattr(path, attr string, value []byte) error {
	return Lsetxattr(path, attr, value)
}

// RemoveAll removes what is at path, a tree or a file, all counted;
// nothing there is fine.
func (t *Tree) RemoveAll(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if !info.IsDir() {
		err := t.do("unlink", fmt.Sprintf("unlink(%s)", C(path)), func() error { return unix.Unlink(path) })
		if err != nil {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	if err := t.empty(path); err != nil {
		return err
	}
	if err := t.do("rmdir", fmt.Sprintf("rmdir(%s)", C(path)), func() error { return unix.Rmdir(path) }); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// empty removes everything the directory dir holds, deepest first, each
// entry by its name relative to its open directory (unlinkat(2)), so no
// symlink on the way is followed.
func (t *Tree) empty(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("remove %s: %w", filepath.Join(dir, name), err)
		}
		kind, flags, flagNames := "unlink", 0, "0"
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := t.empty(filepath.Join(dir, name)); err != nil {
				return err
			}
			kind, flags, flagNames = "rmdir", unix.AT_REMOVEDIR, "AT_REMOVEDIR"
		}
		c := fmt.Sprintf("unlinkat(%d /* %s */, %s, %s)", fd, dir, C(name), flagNames)
		if err := t.do(kind, c, func() error { return unix.Unlinkat(fd, name, flags) }); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}
