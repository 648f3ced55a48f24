package sys

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// sockaddr prints addr as strace prints a struct sockaddr_in.
func sockaddr(addr netip.AddrPort) string {
	return fmt.Sprintf("{sa_family=AF_INET, sin_port=htons(%d), sin_addr=inet_addr(%q)}", addr.Port(), addr.Addr().String())
}

// TCPListener is a listening TCP socket whose accept4(2) calls are made,
// and narrated, here: each blocks until a connection comes, and is printed
// whole once it returned.
type TCPListener struct {
	fd   int
	addr netip.AddrPort
	once sync.Once
}

// ListenTCP opens a TCP listening socket on addr (IPv4) with socket(2),
// setsockopt(2) SO_REUSEADDR, bind(2) and listen(2), each narrated.
func ListenTCP(addr netip.AddrPort) (*TCPListener, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("listen on %s: only IPv4 addresses", addr)
	}
	fd, err := callValue("socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)", func() (int, error) {
		return unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	})
	if err != nil {
		return nil, fmt.Errorf("socket for %s: %w", addr, err)
	}
	if recorder() != nil {
		return nil, fmt.Errorf("listen on %s: not with a Recorder", addr)
	}
	fail := func(err error) (*TCPListener, error) {
		unix.Close(fd)
		return nil, err
	}
	c := fmt.Sprintf("setsockopt(%d, SOL_SOCKET, SO_REUSEADDR, [1], 4)", fd)
	if err := call(c, func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }); err != nil {
		return fail(fmt.Errorf("%s: %w", c, err))
	}
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	c = fmt.Sprintf("bind(%d, %s, 16)", fd, sockaddr(addr))
	if err := call(c, func() error { return unix.Bind(fd, sa) }); err != nil {
		return fail(fmt.Errorf("bind %s: %w", addr, err))
	}
	c = fmt.Sprintf("listen(%d, %d)", fd, unix.SOMAXCONN)
	if err := call(c, func() error { return unix.Listen(fd, unix.SOMAXCONN) }); err != nil {
		return fail(fmt.Errorf("listen on %s: %w", addr, err))
	}
	return &TCPListener{fd: fd, addr: addr}, nil
}

// Accept waits for the next connection with a blocking accept4(2), on a
// thread of its own, and hands it to Go's net package.
func (l *TCPListener) Accept() (*net.TCPConn, error) {
	for {
		nfd, sa, err := unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			// EINVAL once Close shut the socket down.
			narrate.Line(fmt.Sprintf("accept4(%d, buf, [112], SOCK_CLOEXEC) %s", l.fd, Result(-1, err)))
			return nil, fmt.Errorf("accept on %s: %w", l.addr, err)
		}
		peer := "buf"
		if in, ok := sa.(*unix.SockaddrInet4); ok {
			peer = sockaddr(netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)))
		}
		// Go passes room for any address (112 bytes); the kernel says how
		// much it filled in.
		narrate.Line(fmt.Sprintf("accept4(%d, %s, [112 => 16], SOCK_CLOEXEC) = %d", l.fd, peer, nfd))
		return fileConn(nfd, "accepted from "+l.addr.String())
	}
}

// Close stops the listener: shutdown(2) wakes an accept4 that waits.
func (l *TCPListener) Close() {
	l.once.Do(func() {
		_ = unix.Shutdown(l.fd, unix.SHUT_RDWR)
		unix.Close(l.fd)
	})
}

// fileConn hands a connected socket to Go's net package, which takes a
// copy of the descriptor; the original is closed.
func fileConn(fd int, name string) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	tc := conn.(*net.TCPConn)
	narrate.Line(fmt.Sprintf("fcntl(%d, F_DUPFD_CLOEXEC, 0) /* Go's net.FileConn */ = %d", fd, fdOf(tc)))
	return tc, nil
}

// DialTCP connects to addr: a non-blocking connect(2), which returns
// EINPROGRESS at once, then poll(2) until the connection is made or
// timeout passes, and the outcome read with getsockopt(SO_ERROR).
func DialTCP(addr netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	if recorder() != nil {
		return nil, fmt.Errorf("connect to %s: not with a Recorder", addr)
	}
	fd, err := callValue("socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_TCP)", func() (int, error) {
		return unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_TCP)
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	fail := func(err error) (*net.TCPConn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	err = call(fmt.Sprintf("connect(%d, %s, 16)", fd, sockaddr(addr)), func() error { return unix.Connect(fd, sa) })
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return fail(err)
	}
	if err != nil {
		ms := int(timeout / time.Millisecond)
		n, err := callValue(fmt.Sprintf("poll([{fd=%d, events=POLLOUT}], 1, %d)", fd, ms), func() (int, error) {
			for {
				n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, ms)
				if err != unix.EINTR {
					return n, err
				}
			}
		})
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			return fail(unix.ETIMEDOUT)
		}
		soErr := 0
		c := fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_ERROR, [0], [4])", fd)
		err = call(c, func() error {
			var err error
			soErr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			return err
		})
		if err != nil {
			return fail(err)
		}
		if soErr != 0 {
			narrate.Line(fmt.Sprintf("/* the connection failed: SO_ERROR is %s */", unix.ErrnoName(unix.Errno(soErr))))
			return fail(unix.Errno(soErr))
		}
	}
	return fileConn(fd, "connection to "+addr.String())
}

// fdOf is the descriptor under a Go socket, for the narration.
func fdOf(s interface {
	SyscallConn() (syscall.RawConn, error)
}) int {
	fd := -1
	if rc, err := s.SyscallConn(); err == nil {
		_ = rc.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}
