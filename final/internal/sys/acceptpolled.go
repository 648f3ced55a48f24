package sys

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PollableListener turns a listening socket into one Go's poller waits on:
// a copy of the descriptor (fcntl F_DUPFD_CLOEXEC), made non-blocking, as
// net.FileListener does; l is closed. Not narrated: bookkeeping.
func PollableListener(l *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(l.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	l.Close()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", l.Name(), err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", l.Name(), err)
	}
	// A non-blocking descriptor makes a pollable *os.File.
	return os.NewFile(uintptr(fd), l.Name()), nil
}

// AcceptPolled accepts the next connection on a unix socket made by
// PollableListener: accept4(2) with SOCK_NONBLOCK, and while it says
// EAGAIN, Go's poller waits until a connection comes, so no thread waits
// in the kernel. It returns the connection and the call that accepted it
// as strace prints it, for the caller to print: the container's init
// learns only from the request it then reads whether box exec wants it
// narrated. The tries that found nothing (EAGAIN) are not returned.
func AcceptPolled(l *os.File) (conn *os.File, call string, err error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return nil, "", fmt.Errorf("accept on %s: %w", l.Name(), err)
	}
	nfd := -1
	var acceptErr error
	err = rc.Read(func(fd uintptr) bool {
		var rsa unix.RawSockaddrAny
		size := uint32(unsafe.Sizeof(rsa))
		room := size
		r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)),
			unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
		switch errno {
		case unix.EAGAIN, unix.EINTR:
			return false // wait until readable, then try again
		case 0:
			nfd = int(r)
			call = fmt.Sprintf("accept4(%d, %s, [%d => %d], SOCK_CLOEXEC|SOCK_NONBLOCK) = %d", fd, peerUnix(&rsa, size), room, size, nfd)
		default:
			acceptErr = errno
			call = fmt.Sprintf("accept4(%d, buf, [%d], SOCK_CLOEXEC|SOCK_NONBLOCK) %s", fd, room, Result(-1, errno))
		}
		return true
	})
	if err == nil {
		err = acceptErr
	}
	if err != nil {
		return nil, call, fmt.Errorf("accept on %s: %w", l.Name(), err)
	}
	return os.NewFile(uintptr(nfd), "connection to "+l.Name()), call, nil
}

// peerUnix prints the address accept4 filled in (size bytes of it) as
// strace prints a struct sockaddr_un: an unnamed socket, box exec's, has
// only its family.
func peerUnix(rsa *unix.RawSockaddrAny, size uint32) string {
	if rsa.Addr.Family != unix.AF_UNIX {
		return "buf"
	}
	sun := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
	n := int(size) - int(unsafe.Offsetof(sun.Path))
	if n <= 0 {
		return "{sa_family=AF_UNIX}"
	}
	path := make([]byte, 0, n)
	for _, b := range sun.Path[:n] {
		if b == 0 {
			break
		}
		path = append(path, byte(b))
	}
	return fmt.Sprintf("{sa_family=AF_UNIX, sun_path=%s}", C(string(path)))
}
