package sys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// RouteSocket is a NETLINK_ROUTE socket: the kernel's interface for
// network links, addresses and routes (rtnetlink(7)), which ip(8) uses
// too. A socket belongs to the network namespace of the thread that opened
// it, for as long as it lives, wherever it is used from.
type RouteSocket struct {
	fd  int
	seq uint32
}

// routeSocketCall is how the opening of a NETLINK_ROUTE socket is shown.
const routeSocketCall = "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)"

// OpenRouteSocket opens a NETLINK_ROUTE socket in our network namespace.
func OpenRouteSocket() (*RouteSocket, error) {
	fd, err := callValue(routeSocketCall, func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	})
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	return &RouteSocket{fd: fd}, nil
}

// OpenRouteSocketIn opens a NETLINK_ROUTE socket in the network namespace
// behind nsPath (/proc/PID/ns/net), so the host side can configure a
// container's interfaces without running anything inside it.
//
// A namespace is entered per thread, so this happens on a thread of its
// own: a goroutine locked to its OS thread enters the namespace with
// setns(2), opens the socket, and goes back. If going back fails, the
// goroutine exits still locked, and Go ends that thread rather than let
// other goroutines run in the container's namespace.
func OpenRouteSocketIn(nsPath string) (*RouteSocket, error) {
	type opened struct {
		s   *RouteSocket
		err error
	}
	done := make(chan opened, 1)
	go func() {
		runtime.LockOSThread()
		s, err, back := openRouteSocketIn(nsPath)
		if back {
			runtime.UnlockOSThread()
		}
		done <- opened{s, err}
	}()
	o := <-done
	return o.s, o.err
}

// openRouteSocketIn does OpenRouteSocketIn's work on the locked thread;
// back tells whether the thread is in its own network namespace again.
func openRouteSocketIn(nsPath string) (s *RouteSocket, err error, back bool) {
	// /proc/thread-self, not /proc/self: namespaces are per thread, and
	// /proc/self is the main thread's.
	ours, err := OpenNamespace("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err, true
	}
	defer Close(ours)
	theirs, err := OpenNamespace(nsPath)
	if err != nil {
		return nil, err, true
	}
	defer Close(theirs)
	if err := Setns(theirs, unix.CLONE_NEWNET, nsPath); err != nil {
		return nil, err, true
	}
	s, err = OpenRouteSocket()
	if backErr := Setns(ours, unix.CLONE_NEWNET, "/proc/thread-self/ns/net"); backErr != nil {
		if s != nil {
			s.Close()
		}
		return nil, fmt.Errorf("return to our network namespace: %w", backErr), false
	}
	return s, err, true
}

// Close closes the socket.
func (s *RouteSocket) Close() {
	if s != nil {
		_ = Close(s.fd)
	}
}

// Request sends one rtnetlink request, msg (struct nlmsghdr and what
// follows, with NLM_F_ACK set), and waits for the kernel's ack, whose
// error field is 0 or a negative errno. It is narrated as narration, the
// request in words; its result is the ack's, as a system call's is.
func (s *RouteSocket) Request(narration string, msg []byte) error {
	return call(narration, func() error {
		seq, err := s.send(msg)
		if err != nil {
			return err
		}
		_, err = s.receive(seq)
		return err
	})
}

// Query sends a request that only reads and returns the kernel's
// answers, like reading a /proc file; it is not narrated. msg is a dump
// (NLM_F_DUMP, which ends with NLMSG_DONE) or asks for an ack (NLM_F_ACK),
// so that the end of the answers is known. Under a Recorder it answers
// nothing.
func (s *RouteSocket) Query(msg []byte) ([]syscall.NetlinkMessage, error) {
	if r := recorder(); r != nil {
		return nil, nil
	}
	seq, err := s.send(msg)
	if err != nil {
		return nil, err
	}
	return s.receive(seq)
}

// send numbers msg with the next sequence number and sends it to the
// kernel; it returns the number.
func (s *RouteSocket) send(msg []byte) (uint32, error) {
	if len(msg) < unix.SizeofNlMsghdr {
		return 0, errors.New("short netlink message")
	}
	s.seq++
	binary.NativeEndian.PutUint32(msg[8:12], s.seq)
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	return s.seq, nil
}

// receive reads the answers to request seq until the kernel's ack (or the
// end of a dump), and returns the other messages it got on the way.
func (s *RouteSocket) receive(seq uint32) ([]syscall.NetlinkMessage, error) {
	var answers []syscall.NetlinkMessage
	for {
		// A new buffer for each read: the answers kept point into it.
		buf := make([]byte, 1<<16)
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parse netlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return answers, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("short netlink ack")
				}
				// The ack's error field: 0 for success, or -errno.
				if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
					return nil, unix.Errno(-code)
				}
				return answers, nil
			default:
				answers = append(answers, m)
			}
		}
	}
}

// DumpRoute sends one read-only request (a dump: NLM_F_DUMP) on a socket
// of its own in our network namespace and returns the answers. Listing
// links or addresses is a read, like reading /proc/net/dev, so neither the
// socket nor the request is narrated.
func DumpRoute(msg []byte) ([]syscall.NetlinkMessage, error) {
	if r := recorder(); r != nil {
		return nil, nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	s := &RouteSocket{fd: fd}
	defer unix.Close(fd)
	return s.Query(msg)
}
