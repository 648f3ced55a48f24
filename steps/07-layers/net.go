package main

// net.go gives the container a network stack of its own. A new network
// namespace (CLONE_NEWNET) has only a loopback interface, and it is down;
// with --net veth the runtime also lays a virtual cable, a veth pair, from
// the host into the container. We speak rtnetlink through x/sys/unix rather
// than use a netlink library because the requests are the lesson: each one
// is built here and narrated as the message it is.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Modes of --net.
const (
	netNone = "none"
	netVeth = "veth"
)

// hostEndPrefix starts the name of every host end we create, so cleanup
// knows which interfaces may be ours.
const hostEndPrefix = "box"

// containerEnd is the name of the container's end of a veth pair.
const containerEnd = "eth0"

// vethInfoPeer is VETH_INFO_PEER from linux/veth.h, which x/sys/unix lacks:
// the attribute that describes the other end of a new veth pair.
const vethInfoPeer = 1

// subnet is the network of a veth pair: the host end gets its first
// address, the container end the second.
type subnet struct {
	prefix          netip.Prefix
	host, container netip.Addr
}

// parseSubnet reads --subnet: an IPv4 network with room for two addresses.
func parseSubnet(s string) (subnet, error) {
	prefix, err := netip.ParsePrefix(s)
	if err != nil || !prefix.Addr().Is4() {
		return subnet{}, fmt.Errorf("subnet %q: want an IPv4 network like 10.200.0.0/30", s)
	}
	if prefix.Bits() < 8 || prefix.Bits() > 30 {
		return subnet{}, fmt.Errorf("subnet %s: the prefix length must be 8 to 30, like 10.200.0.0/30", s)
	}
	if prefix.Masked() != prefix {
		return subnet{}, fmt.Errorf("subnet %s has host bits set; did you mean %s?", s, prefix.Masked())
	}
	if a := prefix.Addr(); a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalUnicast() {
		return subnet{}, fmt.Errorf("subnet %s is reserved; choose a private network like 10.200.0.0/30", s)
	}
	host := prefix.Addr().Next()
	return subnet{prefix: prefix, host: host, container: host.Next()}, nil
}

// checkSubnetFree fails if a host interface already has an address in sub:
// two routes to one network would send the container's packets astray.
func checkSubnetFree(sub subnet) error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			return fmt.Errorf("list addresses of %s: %w", iface.Name, err)
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipnet.IP)
			bits, _ := ipnet.Mask.Size()
			used := netip.PrefixFrom(ip.Unmap(), bits).Masked()
			if used.Overlaps(sub.prefix) {
				return fmt.Errorf("subnet %s overlaps %s on %s; choose another with --subnet", sub.prefix, used, iface.Name)
			}
		}
	}
	return nil
}

// setupContainerNet runs inside the container's network namespace: it
// brings up lo, and with a veth pair, gives eth0 its address.
func setupContainerNet(mode string, sub subnet) error {
	explain(featNet, "This network namespace has only lo, and it is down: bring it up, so 127.0.0.1 works inside.")
	nl, err := openNetlink()
	if err != nil {
		return err
	}
	defer nl.close()
	if err := nl.send(linkUpRequest("lo")); err != nil {
		return err
	}
	if mode != netVeth {
		return nil
	}
	explain(featNet, "The runtime put %s, the container's end of the cable, in here: give it %s and bring it up.", containerEnd, sub.container)
	return configureLink(nl, containerEnd, sub.container, sub.prefix.Bits())
}

// connectVeth runs in the parent, on the host: it creates a veth pair whose
// peer is born in the network namespace of process pid, named eth0, and
// gives the host end the subnet's first address. Creating both ends in one
// request means a failure leaves no half-made pair.
func connectVeth(id string, pid int, sub subnet) (hostEnd string, err error) {
	hostEnd = hostEndPrefix + id
	alias, err := ownerAlias(os.Getpid())
	if err != nil {
		return "", err
	}
	explain(featNet, "Lay a virtual cable: a veth pair whose end %s stays on the host and whose peer is born in the container as %s.", hostEnd, containerEnd)
	nl, err := openNetlink()
	if err != nil {
		return "", err
	}
	defer nl.close()
	if err := nl.send(vethRequest(hostEnd, containerEnd, pid)); err != nil {
		return "", err
	}
	explain(featNet, "Label the host end with our pid, so a later cleanup knows whether its runtime still runs; give it %s and bring it up.", sub.host)
	err = nl.send(aliasRequest(hostEnd, alias))
	if err == nil {
		err = configureLink(nl, hostEnd, sub.host, sub.prefix.Bits())
	}
	if err != nil {
		explain(featNet, "That failed: delete the pair (deleting one end deletes both), so nothing is left behind.")
		_ = nl.send(delLinkRequest(hostEnd))
		return "", err
	}
	return hostEnd, nil
}

// disconnectVeth deletes the host end once the container has exited. The
// kernel destroys a veth pair with the network namespace of either end,
// but it dismantles a dead namespace later, from a work queue; deleting the
// pair ourselves means it is gone when run returns.
func disconnectVeth(hostEnd string) error {
	explain(featNet, "The pair dies with the container's network namespace, but the kernel does that later: delete %s now (ENODEV if the kernel was first).", hostEnd)
	nl, err := openNetlink()
	if err != nil {
		return err
	}
	defer nl.close()
	err = nl.send(delLinkRequest(hostEnd))
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

// configureLink gives the link called name its address and brings it up.
func configureLink(nl *netlinkConn, name string, addr netip.Addr, bits int) error {
	// struct ifaddrmsg names its link by index only; the net package asks
	// the kernel (RTM_GETLINK) for the index of name.
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", name, err)
	}
	if err := nl.send(addrRequest(iface.Index, name, addr, bits)); err != nil {
		return err
	}
	return nl.send(linkUpRequest(name))
}

// cleanupCmd removes what a killed runtime could not.
type cleanupCmd struct{}

// Run removes what runtimes that no longer run left behind: the host ends
// of veth pairs, cgroups, and container dirs in the store.
func (c *cleanupCmd) Run(cl *cli) error {
	if os.Geteuid() != 0 {
		return errors.New("cleanup needs root: use sudo, or a container started with --privileged")
	}
	removed, err := removeStaleHostEnds()
	if err != nil {
		return err
	}
	cgroups, err := removeCgroupLeftovers()
	if err != nil {
		return err
	}
	removed = append(removed, cgroups...)
	containers, err := cleanupStore(cl.Store)
	if err != nil {
		return err
	}
	removed = append(removed, containers...)
	if len(removed) == 0 {
		fmt.Println("nothing to clean up")
	}
	for _, name := range removed {
		fmt.Printf("removed %s\n", name)
	}
	return nil
}

// removeStaleHostEnds deletes the host ends left by runtimes that were
// killed before they could delete them. The kernel removes a pair itself
// when the container's network namespace dies, which happens when its last
// process exits; a namespace kept alive by an open /proc/PID/ns/net or a
// bind mount of it keeps its pair too, and that is what this finds.
func removeStaleHostEnds() (removed []string, err error) {
	stale, err := staleHostEnds()
	if err != nil || len(stale) == 0 {
		return nil, err
	}
	explain(featNet, "Delete host ends left by runtimes that were killed: %s.", strings.Join(stale, ", "))
	nl, err := openNetlink()
	if err != nil {
		return nil, err
	}
	defer nl.close()
	for _, name := range stale {
		err := nl.send(delLinkRequest(name))
		if errors.Is(err, unix.ENODEV) {
			continue // the kernel removed it meanwhile
		}
		if err != nil {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// staleHostEnds lists the links named like our host ends whose alias names
// a runtime process that is gone. A listing (an RTM_GETLINK dump) is a
// read, like reading /proc, so it is not narrated.
func staleHostEnds() ([]string, error) {
	dump, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("list network links: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(dump)
	if err != nil {
		return nil, fmt.Errorf("parse network links: %w", err)
	}
	var stale []string
	for i := range msgs {
		if msgs[i].Header.Type != syscall.RTM_NEWLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("parse network link: %w", err)
		}
		var name, alias string
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				name = string(bytes.TrimRight(a.Value, "\x00"))
			case unix.IFLA_IFALIAS:
				alias = string(bytes.TrimRight(a.Value, "\x00"))
			}
		}
		if strings.HasPrefix(name, hostEndPrefix) && ownerGone(alias) {
			stale = append(stale, name)
		}
	}
	return stale, nil
}

// ownerAlias is the alias a host end carries, naming the runtime that owns
// it by pid, start time (a pid alone may be reused by another process) and
// PID namespace (a pid means something only in its own).
func ownerAlias(pid int) (string, error) {
	start, err := processStart(pid)
	if err != nil {
		return "", err
	}
	pidNS, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", fmt.Errorf("read our PID namespace: %w", err)
	}
	return fmt.Sprintf("box run pid=%d start=%s pidns=%s", pid, start, pidNS), nil
}

// ownerGone tells whether alias is one of ours whose runtime has exited.
// An alias we did not write, or written from another PID namespace (a
// runtime in another container sharing this network), is not ours to judge.
func ownerGone(alias string) bool {
	var pid int
	var start, pidNS string
	if n, err := fmt.Sscanf(alias, "box run pid=%d start=%s pidns=%s", &pid, &start, &pidNS); err != nil || n != 3 {
		return false
	}
	if ours, err := os.Readlink("/proc/self/ns/pid"); err != nil || ours != pidNS {
		return false
	}
	now, err := processStart(pid)
	return err != nil || now != start
}

// processStart is the start time of process pid, in clock ticks since
// boot: field 22 of /proc/PID/stat (proc(5)).
func processStart(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// Field 2, the command name, is in parentheses and may hold spaces, so
	// count from the last ")": the field after it is field 3.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("read start time of pid %d: short /proc/%d/stat", pid, pid)
	}
	return fields[19], nil
}

// netlinkRequest is one rtnetlink request: a message type, a fixed header
// (struct ifinfomsg or ifaddrmsg, see rtnetlink(7)) and attributes.
type netlinkRequest struct {
	typ    uint16   // RTM_NEWLINK, RTM_SETLINK, ...
	flags  uint16   // NLM_F_CREATE|NLM_F_EXCL to create; send adds NLM_F_REQUEST|NLM_F_ACK
	header []byte   // struct ifinfomsg or ifaddrmsg
	fields string   // the header fields that matter, as narration shows them
	attrs  []nlAttr // what to create or change
	what   string   // the operation, for errors: "bring up lo"
}

// String is how narration shows r: RTM_SETLINK {flags=IFF_UP, ifname="lo"}.
func (r netlinkRequest) String() string {
	var parts []string
	if r.fields != "" {
		parts = append(parts, r.fields)
	}
	for _, a := range r.attrs {
		parts = append(parts, a.String())
	}
	name := netlinkMessageNames[r.typ]
	if r.flags != 0 {
		name += " " + flagString(uintptr(r.flags), netlinkFlagNames)
	}
	return name + " {" + strings.Join(parts, ", ") + "}"
}

// encode lays r out as the kernel reads it: struct nlmsghdr, the header,
// then the attributes. Netlink uses the host's byte order.
func (r netlinkRequest) encode(seq uint32) []byte {
	body := append([]byte(nil), r.header...)
	for _, a := range r.attrs {
		body = append(body, a.encode()...)
	}
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:6], r.typ)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK|r.flags)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	// nlmsg_pid stays 0: the message is for the kernel.
	return append(msg, body...)
}

// nlAttr is one netlink attribute (struct nlattr): a type, then either plain
// data or nested attributes, which a veth peer puts after a header of its own.
type nlAttr struct {
	typ    uint16
	name   string   // as narration shows it: ifname
	data   []byte   // the value, or the header before nested attributes
	text   string   // the value as narration shows it: "lo"
	nested []nlAttr // for attributes that hold attributes
}

func (a nlAttr) encode() []byte {
	payload := append([]byte(nil), a.data...)
	for _, n := range a.nested {
		payload = append(payload, n.encode()...)
	}
	length := unix.SizeofRtAttr + len(payload)
	// Every attribute starts on a 4-byte boundary: pad the one before.
	buf := make([]byte, (length+3)&^3)
	binary.NativeEndian.PutUint16(buf[0:2], uint16(length))
	binary.NativeEndian.PutUint16(buf[2:4], a.typ)
	copy(buf[unix.SizeofRtAttr:], payload)
	return buf
}

func (a nlAttr) String() string {
	if a.nested == nil {
		return a.name + "=" + a.text
	}
	parts := make([]string, len(a.nested))
	for i, n := range a.nested {
		parts[i] = n.String()
	}
	return a.name + "={" + strings.Join(parts, ", ") + "}"
}

func stringAttr(typ uint16, name, value string) nlAttr {
	return nlAttr{typ: typ, name: name, data: append([]byte(value), 0), text: cString(value)}
}

func uint32Attr(typ uint16, name string, value uint32) nlAttr {
	data := binary.NativeEndian.AppendUint32(nil, value)
	return nlAttr{typ: typ, name: name, data: data, text: strconv.FormatUint(uint64(value), 10)}
}

func addrAttr(typ uint16, name string, addr netip.Addr) nlAttr {
	ip := addr.As4()
	return nlAttr{typ: typ, name: name, data: ip[:], text: addr.String()}
}

func nestedAttr(typ uint16, name string, attrs ...nlAttr) nlAttr {
	return nlAttr{typ: typ, name: name, nested: attrs}
}

// ifinfomsg is struct ifinfomsg: the link by index (0 when an ifname
// attribute names it), and which of its flags to change to what.
func ifinfomsg(index int, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	binary.NativeEndian.PutUint32(b[12:16], change)
	return b
}

// ifaddrmsg is struct ifaddrmsg: an IPv4 address's prefix length and link.
func ifaddrmsg(bits, index int) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	b[1] = byte(bits)
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	return b
}

// linkUpRequest sets IFF_UP on the link called name: "ip link set NAME up".
func linkUpRequest(name string) netlinkRequest {
	return netlinkRequest{
		typ:    unix.RTM_SETLINK,
		header: ifinfomsg(0, unix.IFF_UP, unix.IFF_UP),
		fields: "flags=IFF_UP",
		attrs:  []nlAttr{stringAttr(unix.IFLA_IFNAME, "ifname", name)},
		what:   "bring up " + name,
	}
}

// vethRequest creates a veth pair: host in our network namespace, and its
// peer directly in the network namespace of process pid, so it never shows
// on the host.
func vethRequest(host, peer string, pid int) netlinkRequest {
	peerInfo := nlAttr{typ: vethInfoPeer, name: "peer", data: ifinfomsg(0, 0, 0), nested: []nlAttr{
		stringAttr(unix.IFLA_IFNAME, "ifname", peer),
		uint32Attr(unix.IFLA_NET_NS_PID, "net_ns_pid", uint32(pid)),
	}}
	return netlinkRequest{
		typ:    unix.RTM_NEWLINK,
		flags:  unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		header: ifinfomsg(0, 0, 0),
		attrs: []nlAttr{
			stringAttr(unix.IFLA_IFNAME, "ifname", host),
			nestedAttr(unix.IFLA_LINKINFO, "linkinfo",
				stringAttr(unix.IFLA_INFO_KIND, "kind", "veth"),
				nestedAttr(unix.IFLA_INFO_DATA, "data", peerInfo)),
		},
		what: fmt.Sprintf("create veth pair %s and %s", host, peer),
	}
}

// aliasRequest sets the alias of the link called name, a free-form label
// (ifalias in sysfs). A new link cannot get one: RTM_NEWLINK ignores it.
func aliasRequest(name, alias string) netlinkRequest {
	return netlinkRequest{
		typ:    unix.RTM_SETLINK,
		header: ifinfomsg(0, 0, 0),
		attrs:  []nlAttr{stringAttr(unix.IFLA_IFNAME, "ifname", name), stringAttr(unix.IFLA_IFALIAS, "ifalias", alias)},
		what:   "set alias of " + name,
	}
}

// addrRequest adds addr/bits to the link with index: "ip addr add".
func addrRequest(index int, name string, addr netip.Addr, bits int) netlinkRequest {
	return netlinkRequest{
		typ:    unix.RTM_NEWADDR,
		flags:  unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		header: ifaddrmsg(bits, index),
		fields: fmt.Sprintf("family=AF_INET, prefixlen=%d, index=%d /* %s */", bits, index, name),
		attrs:  []nlAttr{addrAttr(unix.IFA_LOCAL, "local", addr), addrAttr(unix.IFA_ADDRESS, "address", addr)},
		what:   fmt.Sprintf("add address %s/%d to %s", addr, bits, name),
	}
}

// delLinkRequest deletes the link called name: "ip link del NAME".
func delLinkRequest(name string) netlinkRequest {
	return netlinkRequest{
		typ:    unix.RTM_DELLINK,
		header: ifinfomsg(0, 0, 0),
		attrs:  []nlAttr{stringAttr(unix.IFLA_IFNAME, "ifname", name)},
		what:   "delete " + name,
	}
}
