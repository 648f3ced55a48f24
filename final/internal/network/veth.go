package network

// veth.go lays the cable: a veth pair from the host into the container's
// network namespace, with an address at each end, and takes it away.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// ContainerInterface is the name of the container's end of the pair.
const ContainerInterface = "eth0"

// hostEndPrefix starts the name of every host end, so a listing shows
// which interfaces are containers'.
const hostEndPrefix = "box"

// maxAlias is the longest alias the kernel takes (IFALIASZ, less the NUL).
const maxAlias = 255

// HostEnd is the name of the host end of container id's pair: "box" and
// the short ID, 15 characters, the most an interface name may have
// (IFNAMSIZ is 16 with the NUL).
func HostEnd(id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return hostEndPrefix + id
}

// Attachment is what Connect made: the two ends and their addresses. The
// runtime keeps it with the container's state, for inspect.
type Attachment struct {
	HostInterface string `json:"hostInterface"`
	HostAddress   string `json:"hostAddress"` // with its prefix length: 10.88.0.1/30
	Interface     string `json:"interface"`
	Address       string `json:"address"`
	Gateway       string `json:"gateway"`
}

// LoopbackUp brings up lo in the caller's network namespace: a new one
// has only lo, and it is down, so even 127.0.0.1 is unreachable.
func LoopbackUp() error {
	narrate.Explain(narrate.Net, "This network namespace has only lo, and it is down: bring it up, so 127.0.0.1 works inside.")
	nl, err := sys.OpenRouteSocket()
	if err != nil {
		return err
	}
	defer nl.Close()
	return send(nl, linkUpRequest("lo"))
}

// Connect connects the container whose init is pid to the host: a veth
// pair whose host end is hostEnd, labelled alias, and whose peer is born
// in the container's network namespace as eth0; each end gets its address
// from a free /30 of subnet, and the container routes through the host
// end. On failure it deletes the pair.
func Connect(hostEnd, alias string, pid int, subnet netip.Prefix) (a Attachment, err error) {
	pair, err := createPair(hostEnd, alias, pid, subnet)
	if err != nil {
		return Attachment{}, err
	}
	defer func() {
		if err != nil {
			_, _ = Disconnect(hostEnd)
		}
	}()
	nsPath := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	narrate.Explain(narrate.Net, "Configure %s from out here: a netlink socket opened inside the container's network namespace acts on that namespace.", ContainerInterface)
	nl, err := sys.OpenRouteSocketIn(nsPath)
	if err != nil {
		return Attachment{}, err
	}
	defer nl.Close()
	narrate.Explain(narrate.Net, "Give %s %s, bring it up, and route everything else through the host end, %s.", ContainerInterface, pair.Container, pair.Host.Addr())
	index, err := configure(nl, ContainerInterface, pair.Container)
	if err != nil {
		return Attachment{}, err
	}
	if err := send(nl, defaultRouteRequest(index, ContainerInterface, pair.Host.Addr())); err != nil {
		return Attachment{}, err
	}
	return Attachment{HostInterface: hostEnd, HostAddress: pair.Host.String(), Interface: ContainerInterface,
		Address: pair.Container.String(), Gateway: pair.Host.Addr().String()}, nil
}

// createPair chooses the pair's /30 and makes the pair with the host end
// configured, holding a lock meanwhile: an address counts as taken once it
// is on an interface, and two runs at once must not both see it free.
func createPair(hostEnd, alias string, pid int, subnet netip.Prefix) (Pair, error) {
	narrate.Explain(narrate.Net, "Lock /sys/class/net while choosing addresses, so two runs at once never take the same /30 of %s.", subnet)
	lock, err := sys.OpenDirectory("/sys/class/net")
	if err != nil {
		return Pair{}, err
	}
	defer lock.Close()
	if err := sys.Lock(lock, true, false); err != nil {
		return Pair{}, err
	}
	used, err := usedPrefixes()
	if err != nil {
		return Pair{}, err
	}
	pair, err := allocate(subnet, used)
	if err != nil {
		return Pair{}, err
	}
	narrate.Explain(narrate.Net, "Lay a virtual cable: a veth pair whose end %s stays on the host and whose peer is born in the container's network namespace as %s.", hostEnd, ContainerInterface)
	nl, err := sys.OpenRouteSocket()
	if err != nil {
		return Pair{}, err
	}
	defer nl.Close()
	if err := send(nl, vethRequest(hostEnd, ContainerInterface, pid)); err != nil {
		return Pair{}, err
	}
	err = func() error {
		if alias != "" && len(alias) <= maxAlias {
			narrate.Explain(narrate.Net, "Label %s with its container's state directory, so a cleanup can tell whether a runtime still looks after it.", hostEnd)
			if err := send(nl, aliasRequest(hostEnd, alias)); err != nil {
				return err
			}
		}
		narrate.Explain(narrate.Net, "Give the host end %s and bring it up; the kernel adds the route to %s through it.", pair.Host, pair.Host.Masked())
		_, err := configure(nl, hostEnd, pair.Host)
		return err
	}()
	if err != nil {
		narrate.Explain(narrate.Net, "That failed: delete the pair (deleting one end deletes both), so nothing is left behind.")
		_ = send(nl, delLinkRequest(hostEnd))
		return Pair{}, err
	}
	return pair, nil
}

// configure gives the link called name its address and brings it up; it
// returns the link's index.
func configure(nl *sys.RouteSocket, name string, prefix netip.Prefix) (int, error) {
	index, err := linkIndex(nl, name)
	if err != nil {
		return 0, err
	}
	if err := send(nl, addrRequest(index, name, prefix)); err != nil {
		return 0, err
	}
	return index, send(nl, linkUpRequest(name))
}

// Disconnect deletes the pair whose host end is hostEnd, and says whether
// it was there. The kernel deletes a pair itself when the container's
// network namespace dies, but later, from a work queue; deleting it here
// means it is gone when run returns. ENODEV means the kernel was first.
func Disconnect(hostEnd string) (deleted bool, err error) {
	if !linkExists(hostEnd) {
		return false, nil
	}
	narrate.Explain(narrate.Net, "Delete the veth pair at %s: it would die with the container's network namespace, but later (ENODEV if the kernel was first).", hostEnd)
	nl, err := sys.OpenRouteSocket()
	if err != nil {
		return false, err
	}
	defer nl.Close()
	err = send(nl, delLinkRequest(hostEnd))
	if errors.Is(err, unix.ENODEV) {
		return false, nil
	}
	return err == nil, err
}

// send makes one narrated request and names the operation in its error.
func send(nl *sys.RouteSocket, r request) error {
	if err := nl.Request(r.String(), r.encode()); err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	return nil
}

// linkIndex asks the kernel for the index of the link called name, which
// struct ifaddrmsg and routes name links by. It only reads.
func linkIndex(nl *sys.RouteSocket, name string) (int, error) {
	r := getLinkRequest(name)
	answers, err := nl.Query(r.encode())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.what, err)
	}
	for _, m := range answers {
		if m.Header.Type == unix.RTM_NEWLINK && len(m.Data) >= unix.SizeofIfInfomsg {
			return int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))), nil
		}
	}
	// The kernel answers a link it has, or ENODEV; only a test's
	// Recorder, standing in for it, answers nothing.
	return 0, nil
}

// linkExists tells whether our network namespace has a link called name,
// from sysfs: a read.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// usedPrefixes lists the networks a new pair must not overlap: those of
// the host's interfaces. Tests stand in for the host here.
var usedPrefixes = hostPrefixes

// hostPrefixes lists the IPv4 networks the host's interfaces have
// addresses in. It only reads.
func hostPrefixes() ([]UsedPrefix, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list the host's interfaces: %w", err)
	}
	var used []UsedPrefix
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, fmt.Errorf("list the addresses of %s: %w", iface.Name, err)
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipnet.IP)
			bits, _ := ipnet.Mask.Size()
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			used = append(used, UsedPrefix{Prefix: netip.PrefixFrom(ip.Unmap(), bits).Masked(), Interface: iface.Name})
		}
	}
	return used, nil
}
