package sys

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// A unix socket's path is limited to 107 bytes (unix(7)), and a state
// directory may be deep: both ends reach the socket through
// /proc/self/fd/N/NAME, where N is their own descriptor of its directory.

// ListenUnix creates a SOCK_SEQPACKET unix socket at path, mode 0600, and
// listens on it. SEQPACKET keeps message boundaries, so a request and the
// descriptors sent with it arrive together.
func ListenUnix(path string) (*os.File, error) {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	defer dir.Close()
	short := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	var fd int
	c := fmt.Sprintf("socket(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0); bind(%s); listen(8)", C(path))
	_, err = callValue(c, func() (int, error) {
		var err error
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
			return 0, err
		}
		err = unix.Bind(fd, &unix.SockaddrUnix{Name: short})
		if err == nil {
			err = unix.Chmod(short, 0o600) // only root may ask the init to run something
		}
		if err == nil {
			err = unix.Listen(fd, 8)
		}
		if err != nil {
			unix.Close(fd)
		}
		return fd, err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Accept waits for the next connection on a listening socket. Not
// narrated: it runs in the container's init, after narration ends.
func Accept(l *os.File) (*os.File, error) {
	for {
		fd, _, err := unix.Accept4(int(l.Fd()), unix.SOCK_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("accept: %w", err)
		}
		return os.NewFile(uintptr(fd), "connection"), nil
	}
}

// DialUnix connects to the SOCK_SEQPACKET unix socket at path.
func DialUnix(path string) (*os.File, error) {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	defer dir.Close()
	short := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	c := fmt.Sprintf("socket(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0); connect(%s)", C(path))
	fd, err := callValue(c, func() (int, error) {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: short}); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
