package tests

// final_net_test.go runs final's --net veth for real: TCP both ways over
// the pair, to and from only the addresses on the interfaces the run
// created; the host end gone after success, failure, a failed setup and a
// SIGKILLed runtime (with cleanup); and refused network options.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// netInspection is the network part of inspect's JSON.
type netInspection struct {
	ID              string `json:"Id"`
	Pid             int    `json:"Pid"`
	Network         string `json:"Network"`
	NetworkSettings *struct {
		HostInterface string `json:"hostInterface"`
		HostAddress   string `json:"hostAddress"`
		Interface     string `json:"interface"`
		Address       string `json:"address"`
		Gateway       string `json:"gateway"`
	} `json:"NetworkSettings"`
}

// inspectNet runs inspect on one container and reads its network part.
func (f *finalEnv) inspectNet(ref string) netInspection {
	f.t.Helper()
	r := f.mustBox("inspect", ref)
	var out []netInspection
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		f.t.Fatalf("inspect %s: %v\n%s", ref, err, r)
	}
	return out[0]
}

// requireFinalNet fails unless final's run has --net and --subnet.
func requireFinalNet(t *testing.T, f *finalEnv) {
	t.Helper()
	help := f.box("run", "--help")
	if !strings.Contains(help.stdout, "--subnet") || !strings.Contains(help.stdout, "--net") {
		t.Fatalf("final's run has no --net and --subnet: run.go must embed networkFlags (see network.go)\n%s", help)
	}
}

// hostEndOf is the host end's name for container id: box and the short ID.
func hostEndOf(id string) string { return "box" + id[:12] }

// linkAddrs lists the IPv4 addresses (with prefix) of a host link.
func linkAddrs(t *testing.T, name string) []string {
	t.Helper()
	iface, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatalf("host link %s: %v", name, err)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	var v4 []string
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.To4() != nil {
			v4 = append(v4, ipnet.String())
		}
	}
	return v4
}

// waitLinkGone polls until the host has no link called name: the kernel
// dismantles a dead network namespace, and its pairs, from a work queue.
// The run timeout bounds the wait; it is not a speed check.
func waitLinkGone(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(runTimeout); hostLinkExists(name) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if hostLinkExists(name) {
		t.Errorf("host link %s is still there", name)
	}
}

// TestFinalNetVethEcho runs a container with a veth pair, once from the
// default subnet and once from a /30 of the test's own, and sends TCP
// both ways over it: the test to a listener in the container, and the
// container (through exec) to a listener of the test on the host end.
func TestFinalNetVethEcho(t *testing.T) {
	f := newFinal(t)
	requireFinalNet(t, f)
	subnet, ownHost, ownCtr := testSubnet()
	for _, tt := range []struct {
		name              string
		args              []string
		wantHost, wantCtr string // "": any address of the default subnet, 10.88.0.0/16
	}{
		{"default subnet", []string{"--net", "veth"}, "", ""},
		{"own subnet", []string{"--net", "veth", "--subnet", subnet}, ownHost, ownCtr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, tt.args...), "--rootfs", sharedRootfs(t),
				"sh", "-c", "nc -l -p 7000 -e cat & exec sleep 4741")
			id := f.detached(args...)
			in := f.inspectNet(id)
			hostEnd := hostEndOf(id)
			// The kernel's answer: the host end and its address.
			hostAddrs := linkAddrs(t, hostEnd)
			if in.NetworkSettings == nil || len(hostAddrs) != 1 || hostAddrs[0] != in.NetworkSettings.HostAddress {
				t.Fatalf("host end %s has addresses %v; inspect says %+v", hostEnd, hostAddrs, in.NetworkSettings)
			}
			// And the container's: what eth0 has inside.
			ip := f.mustBox("exec", id, "ip", "-4", "-o", "addr", "show", "eth0")
			fields := strings.Fields(ip.stdout)
			if len(fields) < 4 || fields[3] != in.NetworkSettings.Address {
				t.Fatalf("eth0 inside: %q; inspect says %s", ip.stdout, in.NetworkSettings.Address)
			}
			ctrAddr, _, _ := strings.Cut(in.NetworkSettings.Address, "/")
			hostAddr, _, _ := strings.Cut(hostAddrs[0], "/")
			switch {
			case tt.wantHost != "" && (hostAddr != tt.wantHost || ctrAddr != tt.wantCtr):
				t.Errorf("addresses %s and %s, want %s and %s from --subnet %s", hostAddr, ctrAddr, tt.wantHost, tt.wantCtr, subnet)
			case tt.wantHost == "" && (!strings.HasPrefix(hostAddr, "10.88.") || !strings.HasPrefix(ctrAddr, "10.88.")):
				t.Errorf("addresses %s and %s are not in the default subnet 10.88.0.0/16", hostAddr, ctrAddr)
			}
			routes := f.mustBox("exec", id, "ip", "route")
			if !strings.Contains(routes.stdout, "default via "+hostAddr+" dev eth0") {
				t.Errorf("no default route through the host end inside:\n%s", routes.stdout)
			}

			// Host to container: nc echoes what it reads.
			conn := dialRetry(t, net.JoinHostPort(ctrAddr, "7000"))
			if _, err := conn.Write([]byte("to the container\n")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len("to the container\n"))
			_ = conn.SetReadDeadline(time.Now().Add(runTimeout))
			if _, err := readFull(conn, got); err != nil || string(got) != "to the container\n" {
				t.Errorf("echo from %s: %q, %v", ctrAddr, got, err)
			}
			conn.Close()

			// Container to host: the test listens on the host end's address only.
			ln, err := net.Listen("tcp", net.JoinHostPort(hostAddr, "7777"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan string, 1)
			go func() { served <- echoOnce(ln) }()
			r := f.mustBox("exec", id, "sh", "-c", "echo from the container | nc "+hostAddr+" 7777")
			if want := "echo: from the container\n"; r.stdout != want {
				t.Errorf("the container got %q, want %q", r.stdout, want)
			}
			if got := <-served; got != "from the container\n" {
				t.Errorf("the host end received %q", got)
			}

			f.mustBox("rm", "-f", id)
			if hostLinkExists(hostEnd) {
				t.Errorf("host end %s is still there after rm -f", hostEnd)
			}
		})
	}
}

// dialRetry connects to addr, retrying while nothing listens yet (the
// container's nc starts in the background); the run timeout bounds it.
func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect to %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readFull reads exactly len(buf) bytes.
func readFull(conn net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestFinalNetNothingLeft ends containers with a veth pair in every way:
// success, a failing command, a setup that fails after the pair was made,
// and a runtime killed with SIGKILL, after which cleanup finds the rest.
// Each time, the pair's host end must be gone, and with it its address.
func TestFinalNetNothingLeft(t *testing.T) {
	f := newFinal(t)
	requireFinalNet(t, f)
	rootfs := rootfsCopy(t)
	// A volume onto a symlink fails the container's setup (exit 125), as
	// in TestFinalLeavesNothingBehind.
	if err := os.Symlink("/", rootfs+"/link"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"success", []string{"sh", "-c", "ip -4 -o addr show eth0"}, 0},
		{"command fails", []string{"sh", "-c", "ip -4 -o addr show eth0; exit 3"}, 3},
		// Without a user namespace the init itself finds the symlink,
		// after the pair was laid.
		{"setup fails", []string{"--userns", "host", "-v", "/etc:/link/in", "true"}, 125},
	} {
		t.Run(tt.name, func(t *testing.T) {
			subnet, hostAddr, _ := testSubnet()
			// Narrated, the run names the pair it lays (RTM_NEWLINK).
			args := append([]string{"--explain", "run", "--rm", "--net", "veth", "--subnet", subnet, "--rootfs", rootfs}, tt.args...)
			r := f.box(args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.wantCode, r)
			}
			if tt.wantCode != 125 && !strings.Contains(r.stdout, "eth0") {
				t.Errorf("the container had no eth0 with an address: %q", r.stdout)
			}
			m := newLinkCall.FindStringSubmatch(r.stderr)
			if m == nil {
				t.Fatalf("the run laid no veth pair:\n%s", r.stderr)
			}
			if hostLinkExists(m[1]) {
				t.Errorf("host end %s is still there after the run", m[1])
			}
			if iface := interfaceHolding(hostAddr); iface != "" {
				t.Errorf("%s still holds the host end's address %s", iface, hostAddr)
			}
			if dirs := f.containerDirs(); len(dirs) != 0 {
				t.Errorf("run --rm left state: %v", dirs)
			}
		})
	}
	t.Run("runtime killed", func(t *testing.T) {
		subnet, hostAddr, _ := testSubnet()
		c := f.start("run", "--name", "net-killed", "--net", "veth", "--subnet", subnet, "--rootfs", rootfs,
			"sh", "-c", "echo ready; exec sleep 4742")
		c.waitForLine(t, "ready")
		id := f.inspectNet("net-killed").ID
		if iface := interfaceHolding(hostAddr); iface != hostEndOf(id) {
			t.Fatalf("the host end's address %s is on %q, want %s", hostAddr, iface, hostEndOf(id))
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.wait(t)
		waitGone(t, "4742")
		r := f.mustBox("cleanup")
		if !strings.Contains(r.stdout, "removed") {
			t.Errorf("cleanup removed nothing:\n%s", r)
		}
		waitLinkGone(t, hostEndOf(id))
		if dirs := f.containerDirs(); len(dirs) != 0 {
			t.Errorf("cleanup left state: %v", dirs)
		}
	})
}

// newLinkCall matches the narrated request that creates a veth pair.
var newLinkCall = regexp.MustCompile(`RTM_NEWLINK [A-Z_|]+ \{ifname="(box[0-9a-f]{12})", linkinfo=\{kind="veth"`)

// interfaceHolding is the host link that has addr, or "".
func interfaceHolding(addr string) string {
	if names := interfacesHolding(addr); len(names) > 0 {
		return names[0]
	}
	return ""
}

// interfacesHolding lists the host links that have addr.
func interfacesHolding(addr string) []string {
	var names []string
	ifaces, _ := net.Interfaces()
	for _, iface := range ifaces {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.String() == addr {
				names = append(names, iface.Name)
			}
		}
	}
	return names
}

// TestFinalNetStaleHostEnd keeps a killed container's network namespace
// alive through an open /proc/PID/ns/net, as a bind mount of it would, so
// its pair outlives the runtime; cleanup must find its host end by its
// label and say it removed it.
func TestFinalNetStaleHostEnd(t *testing.T) {
	f := newFinal(t)
	requireFinalNet(t, f)
	subnet, _, _ := testSubnet()
	c := f.start("run", "--name", "net-stale", "--net", "veth", "--subnet", subnet, "--rootfs", sharedRootfs(t),
		"sh", "-c", "echo ready; exec sleep 4743")
	c.waitForLine(t, "ready")
	in := f.inspectNet("net-stale")
	hostEnd := hostEndOf(in.ID)
	alias, err := os.ReadFile("/sys/class/net/" + hostEnd + "/ifalias")
	if err != nil || !strings.Contains(string(alias), in.ID) {
		t.Errorf("host end %s is labelled %q, want its container's state directory", hostEnd, alias)
	}
	pinned, err := unix.Open("/proc/"+strconv.Itoa(in.Pid)+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pinned)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	waitGone(t, "4743")
	if !hostLinkExists(hostEnd) {
		t.Fatalf("host end %s is gone although its namespace is held open", hostEnd)
	}
	r := f.mustBox("cleanup")
	if !strings.Contains(r.stdout, "removed "+hostEnd) {
		t.Errorf("cleanup does not say it removed %s:\n%s", hostEnd, r)
	}
	if hostLinkExists(hostEnd) {
		t.Errorf("host end %s is still there after cleanup", hostEnd)
	}
}

// TestFinalNetBadInput gives network options run must refuse: exit 125,
// one line naming the problem, and no state, link or address left. Flags
// are checked before anything is made: those runs narrate (--explain), and
// the one line shows that not one call was made. A subnet in use is found
// only when the pair is laid, and must be undone.
func TestFinalNetBadInput(t *testing.T) {
	f := newFinal(t)
	requireFinalNet(t, f)
	inUse, inUseHost, _ := testSubnet()
	busy := f.detached("--net", "veth", "--subnet", inUse, "--rootfs", sharedRootfs(t), "sleep", "4744")
	tests := []struct {
		name    string
		args    []string
		want    string
		explain bool
	}{
		{"unknown mode", []string{"--net", "bridge"}, `--net "bridge" is not a network mode`, true},
		{"subnet without veth", []string{"--subnet", "10.201.255.0/30"}, "needs --net veth", true},
		{"host bits set", []string{"--net", "veth", "--subnet", "10.201.255.1/30"}, "did you mean 10.201.255.0/30", true},
		{"prefix too long", []string{"--net", "veth", "--subnet", "10.201.255.0/31"}, "prefix length must be 8 to 30", true},
		{"not IPv4", []string{"--net", "veth", "--subnet", "fd00::/64"}, "want an IPv4 network", true},
		{"not a network", []string{"--net", "veth", "--subnet", "ten.0.0.0/8"}, "want an IPv4 network", true},
		{"loopback", []string{"--net", "veth", "--subnet", "127.0.0.0/30"}, "reserved", true},
		{"multicast", []string{"--net", "veth", "--subnet", "224.1.0.0/16"}, "reserved", true},
		{"subnet in use", []string{"--net", "veth", "--subnet", inUse}, "overlaps " + inUse + " on " + hostEndOf(busy), false},
	}
	dirsBefore := f.containerDirs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run"}, tt.args...), "--rootfs", sharedRootfs(t), "true")
			if tt.explain {
				args = append([]string{"--explain"}, args...)
			}
			r := f.box(args...)
			lines := nonEmptyLines(r.stderr)
			if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("want exit 125 and one line containing %q, got\n%s", tt.want, r)
			}
		})
	}
	if diff := cmp.Diff(dirsBefore, f.containerDirs()); diff != "" {
		t.Errorf("refused runs left state (-before +after):\n%s", diff)
	}
	if got := interfacesHolding(inUseHost); len(got) != 1 || got[0] != hostEndOf(busy) {
		t.Errorf("%s is held by %v, want only the busy container's host end %s", inUseHost, got, hostEndOf(busy))
	}
	for _, addr := range []string{"10.201.255.1", "10.201.255.2"} {
		if got := interfacesHolding(addr); len(got) != 0 {
			t.Errorf("%s is on %v after refused runs", addr, got)
		}
	}
}

// TestFinalPublish publishes a container's web server with -p on a
// loopback port of the host and fetches a page through it; after rm the
// port is free again and the veth pair gone. A second run on a port the
// test holds fails with one line and leaves nothing.
func TestFinalPublish(t *testing.T) {
	f := newFinal(t)
	requireFinalNet(t, f)
	rootfs := rootfsCopy(t)
	if err := os.MkdirAll(filepath.Join(rootfs, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "www/index.html"), []byte("published\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freeLoopbackPort(t)
	id := f.detached("--net", "veth", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "--rootfs", rootfs, "httpd", "-f", "-p", "80", "-h", "/www")
	if got := f.inspect(id).Ports; !cmp.Equal(got, []string{fmt.Sprintf("127.0.0.1:%d:80", port)}) {
		t.Errorf("inspect Ports = %q", got)
	}
	if body := httpGetRetry(t, fmt.Sprintf("127.0.0.1:%d", port)); body != "published\n" {
		t.Errorf("GET through -p: %q, want the page", body)
	}
	f.mustBox("rm", "-f", id)
	waitLinkGone(t, hostEndOf(id))
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d is still held after rm: %v", port, err)
	}
	// Held by the test now: a run that publishes it must fail cleanly.
	before := hostLinks(t)
	r := f.box("run", "--rm", "--net", "veth", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "--rootfs", rootfs, "true")
	l.Close()
	if want := fmt.Sprintf("host port %d is in use", port); r.code != 125 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("run on a port in use: want exit 125 and one line with %q:\n%s", want, r)
	}
	if diff := cmp.Diff(before, hostLinks(t)); diff != "" {
		t.Errorf("host links changed by the failed run (-before +after):\n%s", diff)
	}
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("the failed run left state: %v", dirs)
	}
}

// freeLoopbackPort is a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGetRetry fetches / from addr with HTTP/1.0, again while the answer
// is empty: the proxy accepts at once, and closes the connection while
// the server in the container is not listening yet. The run timeout
// bounds it.
func httpGetRetry(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			_, _ = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			reply, _ := io.ReadAll(conn)
			conn.Close()
			if _, body, ok := strings.Cut(string(reply), "\r\n\r\n"); ok {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET http://%s/: no answer (last error %v)", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
