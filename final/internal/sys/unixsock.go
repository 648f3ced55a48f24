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
	fd, err := unixSocket()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	c := fmt.Sprintf("bind(%d, %s, %d) /* %s */", fd, unixAddr(short), 2+len(short)+1, path)
	err = call(c, func() error { return unix.Bind(fd, &unix.SockaddrUnix{Name: short}) })
	if err == nil {
		// Only root may ask the init to run something.
		err = call(fmt.Sprintf("chmod(%s, 0600)", C(short)), func() error { return unix.Chmod(short, 0o600) })
	}
	if err == nil {
		err = call(fmt.Sprintf("listen(%d, 8)", fd), func() error { return unix.Listen(fd, 8) })
	}
	if err != nil {
		Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// unixSocket opens a SOCK_SEQPACKET unix socket.
func unixSocket() (int, error) {
	return callValue("socket(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0)", func() (int, error) {
		return unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	})
}

// unixAddr prints a struct sockaddr_un as strace does.
func unixAddr(path string) string {
	return fmt.Sprintf("{sa_family=AF_UNIX, sun_path=%s}", C(path))
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
	fd, err := unixSocket()
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	c := fmt.Sprintf("connect(%d, %s, %d) /* %s */", fd, unixAddr(short), 2+len(short)+1, path)
	if err := call(c, func() error { return unix.Connect(fd, &unix.SockaddrUnix{Name: short}) }); err != nil {
		Close(fd)
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
