package state

// files.go reads and writes the small files of a container's state with
// plain system calls. os.ReadFile, os.WriteFile and os.OpenFile also offer
// each descriptor to Go's poller (two fcntl(2) pairs and an epoll_ctl(2)
// that a regular file refuses) and stat it, which more than doubles the
// calls per file; a run touches a dozen of these files.

import (
	"fmt"
	"io/fs"
	"os"

	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// openRaw and readFile are sys.OpenRaw and sys.ReadFileRaw.
var (
	openRaw  = sys.OpenRaw
	readFile = sys.ReadFileRaw
)

// writeFile writes data to the file at path, creating it with perm or
// truncating it.
func writeFile(path string, data []byte, perm uint32) error {
	fd, err := openRaw(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := writeAll(fd, path, data, 0); err != nil {
		unix.Close(fd)
		return err
	}
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// writeAll writes data at offset off of fd.
func writeAll(fd int, path string, data []byte, off int64) error {
	for len(data) > 0 {
		n, err := unix.Pwrite(fd, data, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: err}
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

// touchFile creates the file at path, empty, if it is not there.
func touchFile(path string) error {
	fd, err := openRaw(path, unix.O_RDWR|unix.O_CREAT, 0o600)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// openLock opens the lock file at path as an *os.File, to lock it with
// flock(2), creating it if create; Go's poller does not take it.
func openLock(path string, create bool) (*os.File, error) {
	flags := unix.O_RDWR
	if create {
		flags |= unix.O_CREAT
	}
	fd, err := openRaw(path, flags, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// lockFile is sys.LockFile with the file opened by openLock: it opens
// (creating) the lock file at path and locks it, narrated as sys.Lock
// narrates; unlock closes it, which releases the lock.
func lockFile(path string, exclusive bool) (unlock func(), err error) {
	f, err := openLock(path, true)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := sys.Lock(f, exclusive, false); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// rename is rename(2), which replaces newpath at once: os.Rename first
// stats newpath, to refuse a directory there.
func rename(oldpath, newpath string) error {
	if err := unix.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// WriteFileAtomic replaces the file at path with data: a new file,
// path.tmp, renamed over it, so a reader never sees half of one.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := writeFile(tmp, data, 0o600); err != nil {
		_ = unix.Unlink(tmp) // what part of it was written takes space
		return err
	}
	return rename(tmp, path)
}

// removeFlat removes dir and the files in it, and reports false, having
// removed what it could, if dir holds anything else (a directory) or a
// call fails: then os.RemoveAll finishes. A container's state dir holds
// only files, so this is one getdents(2) pass and an unlinkat(2) each,
// where os.RemoveAll first tries unlink and rmdir on dir itself and
// opens its parent.
func removeFlat(dir string) bool {
	fd, err := openRaw(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), dir) // not pollable: Go's poller is not asked
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return false
	}
	for _, name := range names {
		if err := unix.Unlinkat(fd, name, 0); err != nil && err != unix.ENOENT {
			return false
		}
	}
	return unix.Rmdir(dir) == nil
}
