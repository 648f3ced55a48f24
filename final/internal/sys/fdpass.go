package sys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Socketpair makes a connected pair of unix sockets, to pass file
// descriptors between the runtime and the container.
func Socketpair() (a, b *os.File, err error) {
	var fds [2]int
	_, err = callValue("socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0)", func() (int, error) {
		var err error
		fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		return 0, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "socket"), os.NewFile(uintptr(fds[1]), "socket"), nil
}

// SendFds sends the descriptors fds and a message over the unix socket
// sock, as SCM_RIGHTS ancillary data (unix(7)): the receiver gets its own
// descriptors for the same open files.
func SendFds(sock *os.File, msg string, fds ...int) error {
	c := fmt.Sprintf("sendmsg(%d, {msg=%s}, 0)", sock.Fd(), C(msg))
	if len(fds) > 0 {
		c = fmt.Sprintf("sendmsg(%d, {msg=%s, SCM_RIGHTS=%v}, 0)", sock.Fd(), C(msg), fds)
	}
	// The result is the number of bytes of msg sent.
	_, err := callValue(c, func() (int, error) {
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		return unix.SendmsgN(int(sock.Fd()), []byte(msg), oob, nil, 0)
	})
	if err != nil {
		return fmt.Errorf("send descriptors: %w", err)
	}
	return nil
}

// RecvFds receives a message and up to max descriptors sent by SendFds.
// The descriptors are close-on-exec (MSG_CMSG_CLOEXEC).
func RecvFds(sock *os.File, max int) (msg string, files []*os.File, err error) {
	c := fmt.Sprintf("recvmsg(%d, {SCM_RIGHTS}, MSG_CMSG_CLOEXEC)", sock.Fd())
	_, err = callValue(c, func() (int, error) {
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(4*max))
		for {
			n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, err
			}
			msg = string(buf[:n])
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return 0, err
			}
			for _, cm := range cmsgs {
				fds, err := unix.ParseUnixRights(&cm)
				if err != nil {
					return 0, err
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "received"))
				}
			}
			return n, nil
		}
	})
	if err != nil {
		return "", nil, fmt.Errorf("receive descriptors: %w", err)
	}
	return msg, files, nil
}
