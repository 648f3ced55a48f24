package network

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"box/final/internal/golden"
	"box/final/internal/sys"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	tests := []struct {
		mode, subnet string
		want         string // Config.String, or the start of the error
		wantErr      bool
	}{
		{"", "", "none", false},
		{"none", "", "none", false},
		{"veth", "", "veth:10.88.0.0/16", false},
		{"veth", "10.201.0.4/30", "veth:10.201.0.4/30", false},
		{"veth", "192.168.7.0/24", "veth:192.168.7.0/24", false},
		{"bridge", "", `--net "bridge" is not a network mode`, true},
		{"none", "10.88.0.0/16", "--subnet 10.88.0.0/16 needs --net veth", true},
		{"veth", "10.201.255.1/30", "--subnet 10.201.255.1/30 has host bits set; did you mean 10.201.255.0/30?", true},
		{"veth", "10.201.255.0/31", "--subnet 10.201.255.0/31: the prefix length must be 8 to 30", true},
		{"veth", "10.0.0.0/7", "--subnet 10.0.0.0/7: the prefix length must be 8 to 30", true},
		{"veth", "fd00::/64", `--subnet "fd00::/64": want an IPv4 network`, true},
		{"veth", "10.88.0.0", `--subnet "10.88.0.0": want an IPv4 network`, true},
		{"veth", "127.0.0.0/30", "--subnet 127.0.0.0/30 is reserved", true},
		{"veth", "224.0.0.0/24", "--subnet 224.0.0.0/24 is reserved", true},
		{"veth", "169.254.0.0/16", "--subnet 169.254.0.0/16 is reserved", true},
		{"veth", "0.0.0.0/8", "--subnet 0.0.0.0/8 is reserved", true},
	}
	for _, tt := range tests {
		c, err := Parse(tt.mode, tt.subnet)
		got := c.String()
		if err != nil {
			got = err.Error()
		}
		if (err != nil) != tt.wantErr || !strings.HasPrefix(got, tt.want) {
			t.Errorf("Parse(%q, %q) = %q, want %q (error: %v)", tt.mode, tt.subnet, got, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(got, "\n") {
			t.Errorf("Parse(%q, %q): the error is more than one line: %q", tt.mode, tt.subnet, got)
		}
	}
}

// TestConfigRoundTrip checks that what state.json keeps reads back.
func TestConfigRoundTrip(t *testing.T) {
	for _, s := range []string{"none", "veth:10.88.0.0/16", "veth:10.201.0.4/30"} {
		c, err := ParseConfig(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseConfig(%q) = %q, %v", s, c, err)
		}
	}
	if _, err := ParseConfig("bridge:x"); err == nil {
		t.Error("ParseConfig accepted an unknown mode")
	}
}

func TestAllocate(t *testing.T) {
	used := func(prefixes ...string) []UsedPrefix {
		var u []UsedPrefix
		for _, p := range prefixes {
			u = append(u, UsedPrefix{Prefix: netip.MustParsePrefix(p), Interface: "if-" + p})
		}
		return u
	}
	tests := []struct {
		name    string
		subnet  string
		used    []UsedPrefix
		want    string // host and container, or the error
		wantErr bool
	}{
		{"empty host", "10.88.0.0/16", nil, "10.88.0.1/30 10.88.0.2/30", false},
		{"first taken", "10.88.0.0/16", used("10.88.0.0/30"), "10.88.0.5/30 10.88.0.6/30", false},
		{"a bigger network in the way", "10.88.0.0/16", used("10.88.0.0/24"), "10.88.1.1/30 10.88.1.2/30", false},
		{"unrelated networks", "10.88.0.0/16", used("192.168.1.0/24", "127.0.0.0/8"), "10.88.0.1/30 10.88.0.2/30", false},
		{"one /30, free", "10.201.0.4/30", used("10.201.0.0/30"), "10.201.0.5/30 10.201.0.6/30", false},
		{"one /30, taken", "10.201.0.4/30", used("10.201.0.4/30"),
			"--subnet 10.201.0.4/30 overlaps 10.201.0.4/30 on if-10.201.0.4/30; choose another with --subnet", true},
		{"all taken", "10.201.0.0/29", used("10.201.0.0/30", "10.201.0.4/30"),
			"every /30 of --subnet 10.201.0.0/29 overlaps a network on the host's interfaces; choose another with --subnet", true},
		{"the host is inside it", "10.0.0.0/8", used("10.0.0.0/8"),
			"every /30 of --subnet 10.0.0.0/8 overlaps a network on the host's interfaces; choose another with --subnet", true},
		{"end of IPv4", "255.255.255.252/30", nil, "255.255.255.253/30 255.255.255.254/30", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := allocate(netip.MustParsePrefix(tt.subnet), tt.used)
			got := p.Host.String() + " " + p.Container.String()
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("allocate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostEnd(t *testing.T) {
	got := HostEnd("65c65b13bf66d19a0a91e15f1be277aa3021ed3ac45d2398ca68b1cf2f224883")
	if got != "box65c65b13bf66" || len(got) > unix.IFNAMSIZ-1 {
		t.Errorf("HostEnd = %q, want box and the short ID, at most %d characters", got, unix.IFNAMSIZ-1)
	}
}

func TestParseAlias(t *testing.T) {
	ours := "mnt:[4026531832]"
	tests := []struct {
		alias string
		dir   string
		ok    bool
	}{
		{"box container mnt:[4026531832] /run/box/containers/abc", "/run/box/containers/abc", true},
		{"box container mnt:[4026531832] /tmp/a dir with spaces/x", "/tmp/a dir with spaces/x", true},
		{"box container mnt:[1] /run/box/containers/abc", "", false}, // another mount namespace's
		{"box run pid=12 start=34 pidns=pid:[5]", "", false},         // a step's label
		{"", "", false},
	}
	for _, tt := range tests {
		dir, ok := parseAlias(tt.alias, ours)
		if dir != tt.dir || ok != tt.ok {
			t.Errorf("parseAlias(%q) = %q, %v; want %q, %v", tt.alias, dir, ok, tt.dir, tt.ok)
		}
	}
}

// TestRequestEncoding checks a request's bytes: the header's length and
// type, and attributes padded to 4 bytes, with nesting.
func TestRequestEncoding(t *testing.T) {
	r := vethRequest("box0123456789ab", "eth0", 4242)
	b := r.encode()
	if got := binary.NativeEndian.Uint32(b[0:4]); int(got) != len(b) {
		t.Errorf("nlmsg_len %d, message is %d bytes", got, len(b))
	}
	if got := binary.NativeEndian.Uint16(b[4:6]); got != unix.RTM_NEWLINK {
		t.Errorf("nlmsg_type %d, want RTM_NEWLINK", got)
	}
	if len(b)%4 != 0 {
		t.Errorf("message length %d is not a multiple of 4", len(b))
	}
	// The first attribute, after nlmsghdr and ifinfomsg: IFLA_IFNAME.
	at := unix.SizeofNlMsghdr + unix.SizeofIfInfomsg
	if l, typ := binary.NativeEndian.Uint16(b[at:]), binary.NativeEndian.Uint16(b[at+2:]); typ != unix.IFLA_IFNAME || l != 4+16 {
		t.Errorf("first attribute: type %d length %d, want IFLA_IFNAME of 20 bytes", typ, l)
	}
	want := `RTM_NEWLINK NLM_F_REQUEST|NLM_F_ACK|NLM_F_CREATE|NLM_F_EXCL {ifname="box0123456789ab", linkinfo={kind="veth", data={peer={ifname="eth0", net_ns_pid=4242}}}}`
	if diff := cmp.Diff(want, r.String()); diff != "" {
		t.Errorf("narration mismatch (-want +got):\n%s", diff)
	}
	dump := dumpLinksRequest()
	if got := dump.String(); got != "RTM_GETLINK NLM_F_REQUEST|NLM_F_DUMP {}" {
		t.Errorf("dump narration %q", got)
	}
}

// noHostNetworks stands in for a host whose interfaces have no address.
func noHostNetworks(t *testing.T) {
	saved := usedPrefixes
	usedPrefixes = func() ([]UsedPrefix, error) { return nil, nil }
	t.Cleanup(func() { usedPrefixes = saved })
}

// TestConnectCalls records what Connect asks of the kernel.
func TestConnectCalls(t *testing.T) {
	noHostNetworks(t)
	s := &sys.Script{}
	out, err := sys.RecordNarration(s, func() error {
		_, err := Connect("box0123456789ab", "box container mnt:[1] /run/box/containers/0123456789ab", 4242, netip.MustParsePrefix("192.0.2.0/30"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "connect", out)
}

// TestConnectFailureDeletesThePair makes the host end's address fail: the
// pair must be deleted, and nothing else tried.
func TestConnectFailureDeletesThePair(t *testing.T) {
	noHostNetworks(t)
	s := &sys.Script{Errors: map[string]error{"RTM_NEWADDR": unix.EEXIST}}
	_, err := sys.RecordNarration(s, func() error {
		_, err := Connect("box0123456789ab", "", 4242, netip.MustParsePrefix("192.0.2.0/30"))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "add address 192.0.2.1/30 to box0123456789ab") {
		t.Fatalf("Connect error = %v, want the failed address named", err)
	}
	last := s.Calls[len(s.Calls)-1]
	if !strings.HasPrefix(last, "RTM_DELLINK") || !strings.Contains(last, "box0123456789ab") {
		t.Errorf("last call %q, want the pair deleted; calls:\n%s", last, strings.Join(s.Calls, "\n"))
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		spec    string
		want    string // Port.String, or "" for an error
		wantErr string
	}{
		{spec: "8080:80", want: "0.0.0.0:8080:80"},
		{spec: "127.0.0.1:8080:80", want: "127.0.0.1:8080:80"},
		{spec: "8080:80/tcp", want: "0.0.0.0:8080:80"},
		{spec: "53:53/udp", wantErr: "only TCP"},
		{spec: "80", wantErr: "want two or three parts"},
		{spec: "::1:8080:80", wantErr: "want two or three parts"},
		{spec: "localhost:8080:80", wantErr: "IPv4 address"},
		{spec: "0:80", wantErr: "from 1 to 65535"},
		{spec: "8080:70000", wantErr: "from 1 to 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			p, err := ParsePort(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePort(%q) error = %v, want one with %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Errorf("ParsePort(%q) = %v, %v; want %s", tt.spec, p, err, tt.want)
			}
		})
	}
}
