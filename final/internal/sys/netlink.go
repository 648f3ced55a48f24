package sys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// LinkUp brings up the network link called name, as "ip link set NAME up"
// does: an rtnetlink RTM_SETLINK request (rtnetlink(7)) with IFF_UP, sent
// on a NETLINK_ROUTE socket of the caller's network namespace. The request
// is narrated as the message it is; its result is the kernel's ack.
func LinkUp(name string) error {
	fd, err := callValue("socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)", func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	})
	if err != nil {
		return fmt.Errorf("open netlink socket: %w", err)
	}
	defer Close(fd)
	c := fmt.Sprintf("RTM_SETLINK NLM_F_REQUEST|NLM_F_ACK {flags=IFF_UP, ifname=%s}", C(name))
	err = call(c, func() error { return setLinkUp(fd, name) })
	if err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}

// setLinkUp sends the request: struct nlmsghdr, struct ifinfomsg with
// IFF_UP in both flags and change, and an IFLA_IFNAME attribute naming the
// link, in the host's byte order; then it reads the ack, whose error field
// is 0 or a negative errno.
func setLinkUp(fd int, name string) error {
	attr := make([]byte, (unix.SizeofRtAttr+len(name)+1+3)&^3)
	binary.NativeEndian.PutUint16(attr[0:2], uint16(unix.SizeofRtAttr+len(name)+1))
	binary.NativeEndian.PutUint16(attr[2:4], unix.IFLA_IFNAME)
	copy(attr[unix.SizeofRtAttr:], name)
	info := make([]byte, unix.SizeofIfInfomsg)
	info[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(info[8:12], unix.IFF_UP)
	binary.NativeEndian.PutUint32(info[12:16], unix.IFF_UP)
	msg := make([]byte, unix.SizeofNlMsghdr)
	binary.NativeEndian.PutUint32(msg[0:4], uint32(unix.SizeofNlMsghdr+len(info)+len(attr)))
	binary.NativeEndian.PutUint16(msg[4:6], unix.RTM_SETLINK)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:12], 1)
	msg = append(append(msg, info...), attr...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		replies, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parse netlink reply: %w", err)
		}
		for _, r := range replies {
			if r.Header.Seq != 1 || r.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(r.Data) < 4 {
				return errors.New("short netlink ack")
			}
			if code := int32(binary.NativeEndian.Uint32(r.Data)); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}
