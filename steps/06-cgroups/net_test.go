package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParseSubnet(t *testing.T) {
	tests := []struct {
		spec            string
		host, container string
		wantErr         string
	}{
		{spec: "10.200.0.0/30", host: "10.200.0.1", container: "10.200.0.2"},
		{spec: "192.168.7.0/24", host: "192.168.7.1", container: "192.168.7.2"},
		{spec: "10.200.0.1/30", wantErr: "did you mean 10.200.0.0/30?"},
		{spec: "10.200.0.0/31", wantErr: "prefix length must be 8 to 30"},
		{spec: "10.0.0.0/7", wantErr: "prefix length must be 8 to 30"},
		{spec: "10.200.0.0", wantErr: "want an IPv4 network"},
		{spec: "fd00::/64", wantErr: "want an IPv4 network"},
		{spec: "127.0.0.0/30", wantErr: "is reserved"},
		{spec: "224.0.0.0/30", wantErr: "is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseSubnet(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseSubnet(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSubnet(%q): %v", tt.spec, err)
			}
			want := []string{tt.spec, tt.host, tt.container}
			if diff := cmp.Diff(want, []string{got.prefix.String(), got.host.String(), got.container.String()}); diff != "" {
				t.Errorf("parseSubnet(%q) mismatch (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}

func TestNetlinkRequestString(t *testing.T) {
	tests := []struct {
		req  netlinkRequest
		want string
	}{
		{linkUpRequest("lo"), `RTM_SETLINK {flags=IFF_UP, ifname="lo"}`},
		{delLinkRequest("box1a2b3c"), `RTM_DELLINK {ifname="box1a2b3c"}`},
		{aliasRequest("box1a2b3c", "box run pid=7 start=9 pidns=pid:[4026531836]"),
			`RTM_SETLINK {ifname="box1a2b3c", ifalias="box run pid=7 start=9 pidns=pid:[4026531836]"}`},
		{vethRequest("box1a2b3c", "eth0", 4242),
			`RTM_NEWLINK NLM_F_EXCL|NLM_F_CREATE {ifname="box1a2b3c", linkinfo={kind="veth", data={peer={ifname="eth0", net_ns_pid=4242}}}}`},
		{addrRequest(5, "box1a2b3c", netip.MustParseAddr("10.200.0.1"), 30),
			`RTM_NEWADDR NLM_F_EXCL|NLM_F_CREATE {family=AF_INET, prefixlen=30, index=5 /* box1a2b3c */, local=10.200.0.1, address=10.200.0.1}`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.req.String()); diff != "" {
			t.Errorf("String() mismatch (-want +got):\n%s", diff)
		}
	}
}

// TestLinkUpEncoding checks the bytes of the simplest request against the
// layout of struct nlmsghdr, ifinfomsg and nlattr on a little-endian host.
func TestLinkUpEncoding(t *testing.T) {
	want := []byte{
		40, 0, 0, 0, unix.RTM_SETLINK, 0, unix.NLM_F_REQUEST | unix.NLM_F_ACK, 0, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr, seq 7
		unix.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, unix.IFF_UP, 0, 0, 0, unix.IFF_UP, 0, 0, 0, // ifinfomsg
		7, 0, unix.IFLA_IFNAME, 0, 'l', 'o', 0, 0, // nlattr "lo\0", padded to 4
	}
	if diff := cmp.Diff(want, linkUpRequest("lo").encode(7)); diff != "" {
		t.Errorf("encode mismatch (-want +got):\n%s", diff)
	}
}

// TestVethEncoding parses a veth request back with the standard library's
// netlink parser, nested attributes included.
func TestVethEncoding(t *testing.T) {
	msgs, err := syscall.ParseNetlinkMessage(vethRequest("box1a2b3c", "eth0", 4242).encode(1))
	if err != nil || len(msgs) != 1 {
		t.Fatalf("ParseNetlinkMessage: %d messages, %v", len(msgs), err)
	}
	if got, want := msgs[0].Header.Flags, uint16(unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL); got != want {
		t.Errorf("flags = %#x, want %#x", got, want)
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[0])
	if err != nil {
		t.Fatalf("ParseNetlinkRouteAttr: %v", err)
	}
	var got []string
	for _, a := range attrs {
		got = append(got, describeAttr(t, fmt.Sprint(a.Attr.Type), a.Value))
	}
	want := []string{`3:"box1a2b3c\x00"`, `18:[1:"veth\x00" 2:[1:ifinfomsg[3:"eth0\x00" 19:"\x92\x10\x00\x00"]]]`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes mismatch (-want +got):\n%s", diff)
	}
}

// describeAttr prints an attribute as type:value, or type:[children] for
// the nested ones of a veth request, which path (the types of its parents
// and its own, like "18/2/1") tells apart.
func describeAttr(t *testing.T, path string, value []byte) string {
	typ := path[strings.LastIndex(path, "/")+1:]
	header := ""
	switch path {
	case "18", "18/2": // IFLA_LINKINFO, IFLA_INFO_DATA
	case "18/2/1": // VETH_INFO_PEER: a struct ifinfomsg, then attributes
		value, header = value[unix.SizeofIfInfomsg:], "ifinfomsg"
	default:
		return fmt.Sprintf("%s:%q", typ, value)
	}
	var parts []string
	for len(value) >= unix.SizeofRtAttr {
		length := int(binary.NativeEndian.Uint16(value[0:2]))
		if length < unix.SizeofRtAttr || length > len(value) {
			t.Fatalf("bad attribute length %d in %q", length, value)
		}
		child := fmt.Sprintf("%s/%d", path, binary.NativeEndian.Uint16(value[2:4]))
		parts = append(parts, describeAttr(t, child, value[unix.SizeofRtAttr:length]))
		value = value[min((length+3)&^3, len(value)):]
	}
	return fmt.Sprintf("%s:%s[%s]", typ, header, strings.Join(parts, " "))
}

func TestOwnerGone(t *testing.T) {
	self, err := ownerAlias(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		alias string
		want  bool
	}{
		{self, false},
		{strings.Replace(self, "start=", "start=9", 1), true},            // our pid, another process
		{strings.Replace(self, "pid=", "pid=999999", 1), true},           // a pid that does not run
		{strings.Replace(self, "pidns=pid:[", "pidns=pid:[9", 1), false}, // another PID namespace
		{"box run pid=999999999 start=1", false},                         // no PID namespace: not ours
		{"", false},
		{"uplink to the lab", false},
	}
	for _, tt := range tests {
		if got := ownerGone(tt.alias); got != tt.want {
			t.Errorf("ownerGone(%q) = %v, want %v", tt.alias, got, tt.want)
		}
	}
}
