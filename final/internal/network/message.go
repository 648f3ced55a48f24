package network

// message.go lays out rtnetlink messages (rtnetlink(7), netlink(7)) byte
// by byte: a struct nlmsghdr, a fixed header for the kind of object
// (struct ifinfomsg for a link, ifaddrmsg for an address, rtmsg for a
// route), then attributes, each a struct nlattr with its value, some
// holding attributes of their own. Building them here, rather than with a
// netlink library, is the lesson: the narration shows each message as the
// fields it carries.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// vethInfoPeer is VETH_INFO_PEER from linux/veth.h, which x/sys/unix
// lacks: inside a veth's IFLA_INFO_DATA, the description of its peer.
const vethInfoPeer = 1

// messageNames name the message types as the kernel's headers do.
var messageNames = map[uint16]string{
	unix.RTM_NEWLINK:  "RTM_NEWLINK",
	unix.RTM_DELLINK:  "RTM_DELLINK",
	unix.RTM_GETLINK:  "RTM_GETLINK",
	unix.RTM_SETLINK:  "RTM_SETLINK",
	unix.RTM_NEWADDR:  "RTM_NEWADDR",
	unix.RTM_GETADDR:  "RTM_GETADDR",
	unix.RTM_NEWROUTE: "RTM_NEWROUTE",
}

// newFlagNames and getFlagNames name the nlmsghdr flags a request may
// carry. The same bits mean different things to a NEW and a GET request
// (NLM_F_EXCL is NLM_F_MATCH's bit, and NLM_F_DUMP is NLM_F_ROOT|
// NLM_F_MATCH), so the table goes by the request's type.
var (
	newFlagNames = []struct {
		bit  uint16
		name string
	}{
		{unix.NLM_F_REQUEST, "NLM_F_REQUEST"},
		{unix.NLM_F_ACK, "NLM_F_ACK"},
		{unix.NLM_F_CREATE, "NLM_F_CREATE"},
		{unix.NLM_F_EXCL, "NLM_F_EXCL"},
	}
	getFlagNames = []struct {
		bit  uint16
		name string
	}{
		{unix.NLM_F_REQUEST, "NLM_F_REQUEST"},
		{unix.NLM_F_ACK, "NLM_F_ACK"},
		{unix.NLM_F_DUMP, "NLM_F_DUMP"},
	}
)

// request is one rtnetlink request.
type request struct {
	typ    uint16 // RTM_NEWLINK, RTM_SETLINK, ...
	flags  uint16 // NLM_F_REQUEST and the rest
	header []byte // struct ifinfomsg, ifaddrmsg or rtmsg
	fields string // the header's fields that matter, as narration shows them
	attrs  []attr
	what   string // the operation in words, for errors: "bring up lo"
}

// String is the request as narration shows it:
// RTM_SETLINK NLM_F_REQUEST|NLM_F_ACK {flags=IFF_UP, ifname="lo"}.
func (r request) String() string {
	var parts []string
	if r.fields != "" {
		parts = append(parts, r.fields)
	}
	for _, a := range r.attrs {
		parts = append(parts, a.String())
	}
	return messageNames[r.typ] + " " + r.flagString() + " {" + strings.Join(parts, ", ") + "}"
}

// flagString names the request's nlmsghdr flags, "NLM_F_REQUEST|NLM_F_ACK".
func (r request) flagString() string {
	table := newFlagNames
	if r.typ == unix.RTM_GETLINK || r.typ == unix.RTM_GETADDR {
		table = getFlagNames
	}
	var names []string
	rest := r.flags
	for _, f := range table {
		if rest&f.bit == f.bit {
			names = append(names, f.name)
			rest &^= f.bit
		}
	}
	if rest != 0 {
		names = append(names, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(names, "|")
}

// encode lays r out as the kernel reads it, in the host's byte order:
// struct nlmsghdr (length, type, flags, sequence number, port id), the
// header, the attributes. The socket fills in the sequence number; the
// port id stays 0, which means the kernel.
func (r request) encode() []byte {
	body := append([]byte(nil), r.header...)
	for _, a := range r.attrs {
		body = append(body, a.encode()...)
	}
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:6], r.typ)
	binary.NativeEndian.PutUint16(msg[6:8], r.flags)
	return append(msg, body...)
}

// attr is one netlink attribute: a type, then either a value or nested
// attributes (which a veth's peer puts after a header of its own).
type attr struct {
	typ    uint16
	name   string // as narration shows it: ifname
	data   []byte // the value, or the header before nested attributes
	text   string // the value as narration shows it: "lo"
	nested []attr
}

func (a attr) encode() []byte {
	payload := append([]byte(nil), a.data...)
	for _, n := range a.nested {
		payload = append(payload, n.encode()...)
	}
	length := unix.SizeofRtAttr + len(payload)
	// Every attribute starts on a 4-byte boundary: pad this one.
	buf := make([]byte, (length+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1))
	binary.NativeEndian.PutUint16(buf[0:2], uint16(length))
	binary.NativeEndian.PutUint16(buf[2:4], a.typ)
	copy(buf[unix.SizeofRtAttr:], payload)
	return buf
}

func (a attr) String() string {
	if a.nested == nil {
		return a.name + "=" + a.text
	}
	parts := make([]string, len(a.nested))
	for i, n := range a.nested {
		parts[i] = n.String()
	}
	return a.name + "={" + strings.Join(parts, ", ") + "}"
}

func stringAttr(typ uint16, name, value string) attr {
	return attr{typ: typ, name: name, data: append([]byte(value), 0), text: strconv.Quote(value)}
}

func uint32Attr(typ uint16, name string, value uint32) attr {
	return attr{typ: typ, name: name, data: binary.NativeEndian.AppendUint32(nil, value), text: strconv.FormatUint(uint64(value), 10)}
}

func addrAttr(typ uint16, name string, addr netip.Addr) attr {
	ip := addr.As4()
	return attr{typ: typ, name: name, data: ip[:], text: addr.String()}
}

func nestedAttr(typ uint16, name string, attrs ...attr) attr {
	return attr{typ: typ, name: name, nested: attrs}
}

// ifinfomsg is struct ifinfomsg: a link by index (0 when an IFLA_IFNAME
// attribute names it), and which of its flags to change (change) to what
// (flags).
func ifinfomsg(index int, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	binary.NativeEndian.PutUint32(b[12:16], change)
	return b
}

// ifaddrmsg is struct ifaddrmsg: an IPv4 address's prefix length and the
// index of its link.
func ifaddrmsg(bits, index int) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	b[1] = byte(bits)
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	return b
}

// rtmsg is struct rtmsg for an IPv4 unicast route in the main table, to a
// destination of dstBits (0: the default route).
func rtmsg(dstBits int) []byte {
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = unix.AF_INET
	b[1] = byte(dstBits)
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_BOOT
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNICAST
	return b
}

// linkUpRequest sets IFF_UP on the link called name: "ip link set NAME up".
func linkUpRequest(name string) request {
	return request{
		typ:    unix.RTM_SETLINK,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		header: ifinfomsg(0, unix.IFF_UP, unix.IFF_UP),
		fields: "flags=IFF_UP",
		attrs:  []attr{stringAttr(unix.IFLA_IFNAME, "ifname", name)},
		what:   "bring up " + name,
	}
}

// vethRequest creates a veth pair, "ip link add HOST type veth peer name
// PEER netns PID": host here, and its peer born in the network namespace
// of process pid, so it never shows on the host. One request makes both
// ends, so a failure leaves no half-made pair.
func vethRequest(host, peer string, pid int) request {
	peerInfo := attr{typ: vethInfoPeer, name: "peer", data: ifinfomsg(0, 0, 0), nested: []attr{
		stringAttr(unix.IFLA_IFNAME, "ifname", peer),
		uint32Attr(unix.IFLA_NET_NS_PID, "net_ns_pid", uint32(pid)),
	}}
	return request{
		typ:    unix.RTM_NEWLINK,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK | unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		header: ifinfomsg(0, 0, 0),
		attrs: []attr{
			stringAttr(unix.IFLA_IFNAME, "ifname", host),
			nestedAttr(unix.IFLA_LINKINFO, "linkinfo",
				stringAttr(unix.IFLA_INFO_KIND, "kind", "veth"),
				nestedAttr(unix.IFLA_INFO_DATA, "data", peerInfo)),
		},
		what: fmt.Sprintf("create veth pair %s and %s", host, peer),
	}
}

// aliasRequest sets the alias of the link called name, a free-form label
// (/sys/class/net/NAME/ifalias). RTM_NEWLINK ignores one, hence a second
// request.
func aliasRequest(name, alias string) request {
	return request{
		typ:    unix.RTM_SETLINK,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		header: ifinfomsg(0, 0, 0),
		attrs:  []attr{stringAttr(unix.IFLA_IFNAME, "ifname", name), stringAttr(unix.IFLA_IFALIAS, "ifalias", alias)},
		what:   "label " + name,
	}
}

// addrRequest adds prefix's address to the link with index, "ip addr add
// ADDR/BITS dev NAME"; the kernel adds the route to the prefix's network.
func addrRequest(index int, name string, prefix netip.Prefix) request {
	return request{
		typ:    unix.RTM_NEWADDR,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK | unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		header: ifaddrmsg(prefix.Bits(), index),
		fields: fmt.Sprintf("family=AF_INET, prefixlen=%d, index=%d /* %s */", prefix.Bits(), index, name),
		attrs:  []attr{addrAttr(unix.IFA_LOCAL, "local", prefix.Addr()), addrAttr(unix.IFA_ADDRESS, "address", prefix.Addr())},
		what:   fmt.Sprintf("add address %s to %s", prefix, name),
	}
}

// defaultRouteRequest adds the default route through gateway, on the link
// with index: "ip route add default via GATEWAY dev NAME".
func defaultRouteRequest(index int, name string, gateway netip.Addr) request {
	return request{
		typ:    unix.RTM_NEWROUTE,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK | unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		header: rtmsg(0),
		fields: "family=AF_INET, dst_len=0, table=RT_TABLE_MAIN, protocol=RTPROT_BOOT, scope=RT_SCOPE_UNIVERSE, type=RTN_UNICAST",
		attrs: []attr{addrAttr(unix.RTA_GATEWAY, "gateway", gateway),
			{typ: unix.RTA_OIF, name: "oif", data: binary.NativeEndian.AppendUint32(nil, uint32(index)), text: fmt.Sprintf("%d /* %s */", index, name)}},
		what: fmt.Sprintf("add a default route via %s to %s", gateway, name),
	}
}

// delLinkRequest deletes the link called name, "ip link del NAME"; for one
// end of a veth pair, the kernel deletes both.
func delLinkRequest(name string) request {
	return request{
		typ:    unix.RTM_DELLINK,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		header: ifinfomsg(0, 0, 0),
		attrs:  []attr{stringAttr(unix.IFLA_IFNAME, "ifname", name)},
		what:   "delete " + name,
	}
}

// getLinkRequest asks for the link called name, to learn its index: a
// read, so it is not narrated; NLM_F_ACK marks the end of the answer.
func getLinkRequest(name string) request {
	return request{
		typ:    unix.RTM_GETLINK,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		header: ifinfomsg(0, 0, 0),
		attrs:  []attr{stringAttr(unix.IFLA_IFNAME, "ifname", name)},
		what:   "find " + name,
	}
}

// dumpLinksRequest asks for every link of the namespace.
func dumpLinksRequest() request {
	return request{
		typ:    unix.RTM_GETLINK,
		flags:  unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
		header: ifinfomsg(0, 0, 0),
		what:   "list links",
	}
}
