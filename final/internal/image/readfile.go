package image

// readfile.go reads the store's small files (an image's record, the mount
// table) with plain system calls: os.ReadFile also offers the descriptor
// to Go's poller (two fcntl(2) pairs and an epoll_ctl(2), which a regular
// file refuses) and stats it, twice the calls, at every container start.

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// readFile reads the whole file at path; its errors are os.ReadFile's.
func readFile(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		if fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
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
