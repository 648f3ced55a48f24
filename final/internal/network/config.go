// Package network gives a container its network: with --net none, a
// network namespace with only lo; with --net veth, also a virtual cable, a
// veth pair, whose host end stays on the host and whose other end is born
// in the container's namespace as eth0, each end with an address from a
// /30 of the configured subnet.
//
// Every change goes to the kernel as an rtnetlink message built here
// (message.go) and sent through package sys, which narrates it.
package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// The modes of --net.
const (
	ModeNone = "none" // lo only
	ModeVeth = "veth" // lo, and eth0 at the end of a veth pair from the host
)

// DefaultSubnet is where --net veth takes a container's addresses from
// unless --subnet says otherwise: a private network, as podman's default.
const DefaultSubnet = "10.88.0.0/16"

// pairBits is the prefix length of one container's link: a /30 holds the
// network address, the host end, the container end and broadcast.
const pairBits = 30

// Config is a container's network as run asks for it and state.json keeps
// it, as one string (state.Config.Network): "none", or "veth:SUBNET".
type Config struct {
	Mode   string
	Subnet netip.Prefix // with ModeVeth: where the /30 of each container comes from
}

// String is c as state.json keeps it: "none" or "veth:10.88.0.0/16".
func (c Config) String() string {
	if c.Mode == ModeVeth {
		return ModeVeth + ":" + c.Subnet.String()
	}
	return ModeNone
}

// Parse checks run's --net and --subnet.
func Parse(mode, subnet string) (Config, error) {
	switch mode {
	case "", ModeNone:
		if subnet != "" {
			return Config{}, fmt.Errorf("--subnet %s needs --net veth: without a veth pair the container has no address to take from it", subnet)
		}
		return Config{Mode: ModeNone}, nil
	case ModeVeth:
		if subnet == "" {
			subnet = DefaultSubnet
		}
		prefix, err := ParseSubnet(subnet)
		if err != nil {
			return Config{}, err
		}
		return Config{Mode: ModeVeth, Subnet: prefix}, nil
	}
	return Config{}, fmt.Errorf("--net %q is not a network mode: give none (lo only) or veth (a veth pair to the host)", mode)
}

// ParseConfig reads a Config as String wrote it.
func ParseConfig(s string) (Config, error) {
	mode, subnet, _ := strings.Cut(s, ":")
	switch mode {
	case "", ModeNone:
		return Config{Mode: ModeNone}, nil
	case ModeVeth:
		prefix, err := netip.ParsePrefix(subnet)
		if err != nil {
			return Config{}, fmt.Errorf("network %q: %w", s, err)
		}
		return Config{Mode: ModeVeth, Subnet: prefix}, nil
	}
	return Config{}, fmt.Errorf("network %q: unknown mode %q", s, mode)
}

// ParseSubnet reads --subnet: an IPv4 network with room for at least one
// /30, in private or otherwise ordinary address space.
func ParseSubnet(s string) (netip.Prefix, error) {
	prefix, err := netip.ParsePrefix(s)
	if err != nil || !prefix.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("--subnet %q: want an IPv4 network like %s", s, DefaultSubnet)
	}
	if prefix.Bits() < 8 || prefix.Bits() > pairBits {
		return netip.Prefix{}, fmt.Errorf("--subnet %s: the prefix length must be 8 to %d (a /%d holds one container), like %s", s, pairBits, pairBits, DefaultSubnet)
	}
	if prefix.Masked() != prefix {
		return netip.Prefix{}, fmt.Errorf("--subnet %s has host bits set; did you mean %s?", s, prefix.Masked())
	}
	if a := prefix.Addr(); a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) ||
		prefix.Overlaps(netip.MustParsePrefix("0.0.0.0/8")) || prefix.Overlaps(netip.MustParsePrefix("240.0.0.0/4")) {
		return netip.Prefix{}, fmt.Errorf("--subnet %s is reserved address space; choose a private network like %s", s, DefaultSubnet)
	}
	return prefix, nil
}

// Pair is the addresses of one veth pair: a /30 whose first address is
// the host end's and whose second is the container's, which routes
// through the host end.
type Pair struct {
	Host      netip.Prefix // e.g. 10.88.0.1/30
	Container netip.Prefix // e.g. 10.88.0.2/30
}

// UsedPrefix is a network a host interface has an address in.
type UsedPrefix struct {
	Prefix    netip.Prefix
	Interface string
}

// allocate picks the first /30 of subnet that overlaps no network in
// used: two interfaces on one network would send packets astray.
func allocate(subnet netip.Prefix, used []UsedPrefix) (Pair, error) {
	block := netip.PrefixFrom(subnet.Addr(), pairBits)
	for subnet.Contains(block.Addr()) {
		clash := -1
		for i, u := range used {
			if u.Prefix.Overlaps(block) {
				clash = i
				break
			}
		}
		if clash < 0 {
			host := block.Addr().Next()
			return Pair{Host: netip.PrefixFrom(host, pairBits), Container: netip.PrefixFrom(host.Next(), pairBits)}, nil
		}
		if subnet.Bits() == pairBits {
			return Pair{}, fmt.Errorf("--subnet %s overlaps %s on %s; choose another with --subnet", subnet, used[clash].Prefix, used[clash].Interface)
		}
		next, ok := nextBlock(block)
		if !ok {
			break
		}
		block = next
	}
	return Pair{}, fmt.Errorf("every /%d of --subnet %s overlaps a network on the host's interfaces; choose another with --subnet", pairBits, subnet)
}

// nextBlock is the /30 after block, or false past the end of IPv4.
func nextBlock(block netip.Prefix) (netip.Prefix, bool) {
	a := block.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n += 1 << (32 - pairBits)
	if n == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), pairBits), true
}
