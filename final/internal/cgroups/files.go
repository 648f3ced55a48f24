package cgroups

// files.go reads the cgroup filesystem's small files and directories with
// plain system calls. os.ReadFile and os.ReadDir also offer each
// descriptor to Go's poller (two fcntl(2) pairs and an epoll_ctl(2), which
// these files refuse) and stat it, which triples the calls per file; a
// container's start and end read some twenty of them.

import (
	"io/fs"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// openRaw is open(2), retried on EINTR, with the error as os.Open's.
func openRaw(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// readFile reads the whole file at path, as os.ReadFile does.
func readFile(path string) ([]byte, error) {
	fd, err := openRaw(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// readDir lists the directory at path by name, as os.ReadDir does.
func readDir(path string) ([]os.DirEntry, error) {
	fd, err := openRaw(path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path) // not pollable: Go's poller is not asked
	defer f.Close()
	entries, err := f.ReadDir(-1)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}
