package sys

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// sockaddr prints addr as strace prints a struct sockaddr_in.
func sockaddr(addr netip.AddrPort) string {
	return fmt.Sprintf("{sa_family=AF_INET, sin_port=htons(%d), sin_addr=inet_addr(%q)}", addr.Port(), addr.Addr().String())
}

// ListenTCP opens a TCP listening socket on addr (IPv4) with socket(2),
// setsockopt(2) SO_REUSEADDR, bind(2) and listen(2), each narrated, and
// hands it to Go's net package, which accepts from it.
func ListenTCP(addr netip.AddrPort) (*net.TCPListener, error) {
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
	f := os.NewFile(uintptr(fd), "tcp:"+addr.String())
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	c := fmt.Sprintf("setsockopt(%d, SOL_SOCKET, SO_REUSEADDR, [1], 4)", fd)
	if err := call(c, func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }); err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	c = fmt.Sprintf("bind(%d, %s, 16)", fd, sockaddr(addr))
	if err := call(c, func() error { return unix.Bind(fd, sa) }); err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	c = fmt.Sprintf("listen(%d, %d)", fd, unix.SOMAXCONN)
	if err := call(c, func() error { return unix.Listen(fd, unix.SOMAXCONN) }); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	// Go's net package takes a copy of the descriptor to accept from.
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	tl := l.(*net.TCPListener)
	narrate.Line(fmt.Sprintf("fcntl(%d, F_DUPFD_CLOEXEC, 0) /* Go's net.FileListener */ = %d", fd, fdOf(tl)))
	err = f.Close()
	f = nil
	narrate.Line(fmt.Sprintf("close(%d) %s", fd, Result(0, err)))
	return tl, nil
}

// DialTCP connects to addr, through Go's net package (socket(2), then a
// non-blocking connect(2) it waits on), narrated as the one connect once
// it returned: connections are made while the container runs, and their
// lines must not split another's.
func DialTCP(addr netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	conn, err := net.DialTimeout("tcp4", addr.String(), timeout)
	fd := 0
	if err == nil {
		fd = fdOf(conn.(*net.TCPConn))
	}
	narrate.Line(fmt.Sprintf("connect(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP), %s, 16) /* Go's net.Dial */ %s", sockaddr(addr), Result(fd, errnoOf(err))))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn.(*net.TCPConn), nil
}

// errnoOf digs the errno out of a net error, for the narration.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// AcceptTCP waits for a connection on l with Go's Accept (accept4(2)),
// and narrates the call once it returned, with the peer's address.
func AcceptTCP(l *net.TCPListener) (*net.TCPConn, error) {
	conn, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	peer := conn.RemoteAddr().(*net.TCPAddr).AddrPort()
	c := fmt.Sprintf("accept4(%d, %s, [16], SOCK_CLOEXEC|SOCK_NONBLOCK) /* Go's Accept */", fdOf(l), sockaddr(netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())))
	narrate.Line(c + " " + Result(fdOf(conn), nil))
	return conn, nil
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
