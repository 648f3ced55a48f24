package sys

// rawfiles.go reads and opens the small files box keeps or consults at
// every start (state records, lock files, cgroup files, an image's record,
// the mount table) with plain system calls. os.ReadFile and os.OpenFile
// also offer each descriptor to Go's poller (two fcntl(2) pairs and an
// epoll_ctl(2), which regular and kernel files refuse) and stat it: more
// than twice the calls per file, some forty files per run. Reads are not
// narrated, as elsewhere: they change nothing.

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// OpenRaw is open(2) with O_CLOEXEC, retried on EINTR; its error is
// os.OpenFile's (a *fs.PathError naming path).
func OpenRaw(path string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// ReadFileRaw reads the whole file at path, as os.ReadFile does (and with
// its errors), in plain open, read and close calls.
func ReadFileRaw(path string) ([]byte, error) {
	fd, err := OpenRaw(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 2048)
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
