package tests

import (
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Features of the UTS, network and IPC namespaces: the container has its
// own hostname, its own network stack with only lo (and a veth pair to the
// host on request), and its own System V IPC objects.

// utsNetIPCStep is the step that brings these namespaces.
const utsNetIPCStep = "04-uts-net-ipc"

func init() {
	addFeatures(
		feature{name: "own hostname, the host's unchanged", since: utsNetIPCStep, check: ownHostname},
		feature{name: "own network stack with only lo, up", since: utsNetIPCStep, check: onlyLoopback},
		feature{name: "System V IPC objects do not cross", since: utsNetIPCStep, check: ipcDoesNotCross},
	)
}

// ownHostname asks for the hostname inside, where the runtime chose one,
// and checks the host's before and after.
func ownHostname(t *testing.T, step string) bool {
	before, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	r := runIn(t, step, sharedRootfs(t), "hostname")
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	after, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	inside := strings.TrimSpace(r.stdout)
	t.Logf("hostname inside %q, host's %q before and %q after", inside, before, after)
	if after != before {
		t.Fatalf("the host's hostname changed from %q to %q", before, after)
	}
	return inside != before
}

// onlyLoopback lists the interfaces in /proc/net/dev inside, compares the
// network namespace with the host's, and pings 127.0.0.1, which works only
// once lo is up.
func onlyLoopback(t *testing.T, step string) bool {
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	r := runIn(t, step, rootfsCopy(t), "sh", "-c", withProc(
		"readlink /proc/self/ns/net; cat /proc/net/dev; ping -c 1 -W 5 127.0.0.1 >/dev/null && echo lo-up"))
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	lines := nonEmptyLines(r.stdout)
	if len(lines) == 0 {
		t.Fatalf("no output:\n%s", r)
	}
	ns, names := lines[0], netDevNames(strings.Join(lines[1:], "\n"))
	up := lines[len(lines)-1] == "lo-up"
	t.Logf("network namespace %s (host %s), interfaces %v, lo up: %v", ns, hostNS, names, up)
	return ns != hostNS && cmp.Equal([]string{"lo"}, names) && up
}

// netDevNames reads the interface names of /proc/net/dev text: after two
// header lines, one "name: counters" line per interface.
func netDevNames(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		name, _, ok := strings.Cut(line, ":")
		if ok && !strings.Contains(name, "|") {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names
}

// ipcDoesNotCross creates a shared memory segment on the host and another
// in the container's IPC namespace (joined from a thread of this test),
// then reads /proc/sysvipc/shm on both sides: each must see its own only.
func ipcDoesNotCross(t *testing.T, step string) bool {
	hostKey, ctrKey := randomIPCKey(), randomIPCKey()
	hostID, err := unix.SysvShmGet(hostKey, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o644)
	if err != nil {
		t.Fatalf("shmget on the host: %v", err)
	}
	t.Cleanup(func() { _, _ = unix.SysvShmCtl(hostID, unix.IPC_RMID, nil) })

	c := startContainer(t, step, runArgs(rootfsCopy(t), nil, "sh", "-c",
		withProc("echo ready; read -r line; cat /proc/sysvipc/shm"))...)
	c.waitForLine(t, "ready")
	pid := c.waitForChild(t, "sh")
	// Hold the container's IPC namespace open, so the segment made in it
	// can be removed there after the container is gone: in a step without
	// an IPC namespace, that is the host's.
	ipcNS, err := unix.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ipcNS) })
	err = inNamespace(ipcNS, unix.CLONE_NEWIPC, func() error {
		id, err := unix.SysvShmGet(ctrKey, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o644)
		if err != nil {
			return fmt.Errorf("shmget in the container's IPC namespace: %w", err)
		}
		t.Cleanup(func() {
			err := inNamespace(ipcNS, unix.CLONE_NEWIPC, func() error {
				_, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil)
				return err
			})
			if err != nil {
				t.Errorf("remove the segment made in the container's IPC namespace: %v", err)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hostShm, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	var inside strings.Builder
	for {
		line, err := c.stdout.ReadString('\n')
		inside.WriteString(line)
		if err != nil {
			break
		}
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("container exited %d:\n%s", code, c.stderr)
	}
	onHost, in := shmKeys(string(hostShm)), shmKeys(inside.String())
	t.Logf("host segment %d seen inside: %v; container segment %d seen on the host: %v, inside: %v",
		hostKey, in[hostKey], ctrKey, onHost[ctrKey], in[ctrKey])
	if !onHost[hostKey] || !in[ctrKey] {
		t.Fatalf("a segment is missing on its own side:\nhost:\n%s\ninside:\n%s", hostShm, inside.String())
	}
	return !in[hostKey] && !onHost[ctrKey]
}

// randomIPCKey is a System V key unlikely to be in use.
func randomIPCKey() int { return 0x626f0000 | rand.Intn(0x10000) }

// shmKeys reads the keys of /proc/sysvipc/shm text (the first column,
// after a header line).
func shmKeys(text string) map[int]bool {
	keys := map[int]bool{}
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if key, err := strconv.Atoi(fields[0]); err == nil {
			keys[key] = true
		}
	}
	return keys
}

// inNamespace runs fn on a thread that joined the namespace nsFD (an
// open /proc/PID/ns/ file) of type nsType. The thread stays locked and
// dies with its goroutine, so no other goroutine ever runs in there.
func inNamespace(nsFD, nsType int, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(nsFD, nsType); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// netSteps are the steps that have these namespaces and the run flags of
// their step (--hostname, --net, --subnet), final only if it has them.
func netSteps(t *testing.T) []string {
	var steps []string
	for _, s := range harness.steps {
		if !stepAtLeast(s, utsNetIPCStep) {
			continue
		}
		if s == finalStep {
			// A final that does not build fails the feature suite; here
			// it would only hide the numbered steps' results.
			builds.once.Do(buildAll)
			if err := builds.errs[s]; err != nil {
				t.Logf("final does not build; not testing it here: %v", err)
				continue
			}
			help := run(t, s, "run", "--help")
			if !strings.Contains(help.stdout+help.stderr, "--subnet") {
				t.Logf("final has no run --subnet; not testing it here")
				continue
			}
		}
		steps = append(steps, s)
	}
	return steps
}

// testSubnets hands each test its own /30 in 10.201.0.0/16, so tests that
// run at once never share a route.
var testSubnets atomic.Int32

// testSubnet returns a fresh subnet with its host and container addresses.
func testSubnet() (prefix, host, ctr string) {
	n := testSubnets.Add(1)
	base := netip.AddrFrom4([4]byte{10, 201, byte(n / 64), byte(n % 64 * 4)})
	return base.String() + "/30", base.Next().String(), base.Next().Next().String()
}

// vethArgs are the arguments of a quiet run with a veth pair on subnet.
func vethArgs(rootfs, subnet string, cmd ...string) []string {
	args := []string{"--quiet", "run", "--rootfs", rootfs, "--net", "veth", "--subnet", subnet, "--"}
	return append(args, cmd...)
}

// interfaceWithAddr is the name of the host interface holding addr.
func interfaceWithAddr(t *testing.T, addr string) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.String() == addr {
				return iface.Name
			}
		}
	}
	t.Fatalf("no host interface has %s", addr)
	return ""
}

// hostLinkExists asks sysfs whether the host has a link called name.
func hostLinkExists(name string) bool {
	_, err := os.Lstat("/sys/class/net/" + name)
	return err == nil
}

// TestHostname sets a hostname inside, and changes it again from inside:
// only the container's UTS namespace changes.
func TestHostname(t *testing.T) {
	requireRoot(t)
	for _, step := range netSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			before, err := os.Hostname()
			if err != nil {
				t.Fatal(err)
			}
			script, second := "hostname; hostname changed-inside && hostname", "changed-inside"
			if step == finalStep {
				// final drops CAP_SYS_ADMIN, as docker does: only the
				// runtime sets the hostname.
				script, second = "hostname; hostname changed-inside 2>/dev/null || echo refused", "refused"
			}
			r := run(t, step, "--quiet", "run", "--rootfs", sharedRootfs(t), "--hostname", "web-1.test", "--",
				"sh", "-c", script)
			after, _ := os.Hostname()
			if r.code != 0 {
				t.Fatalf("container failed:\n%s", r)
			}
			if diff := cmp.Diff([]string{"web-1.test", second}, nonEmptyLines(r.stdout)); diff != "" {
				t.Errorf("hostnames inside (-want +got):\n%s", diff)
			}
			if after != before {
				t.Errorf("the host's hostname changed from %q to %q", before, after)
			}
		})
	}
}

// TestHostnameRejected gives names sethostname would take but other
// programs would not: one line, exit 125, nothing run. (An empty
// --hostname= means the default, a random id.)
func TestHostnameRejected(t *testing.T) {
	requireRoot(t)
	for _, step := range netSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			for _, name := range []string{"has space", "a/b", strings.Repeat("x", 65), "-lead", ".lead"} {
				r := run(t, step, "--quiet", "run", "--rootfs", sharedRootfs(t), "--hostname="+name, "--", "true")
				if r.code != 125 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "hostname") {
					t.Errorf("--hostname %q: want exit 125 and one line about the hostname, got\n%s", name, r)
				}
			}
		})
	}
}

// TestVeth runs containers with a veth pair that end in different ways:
// inside, /proc/net/dev lists lo and eth0; a TCP echo goes from the
// container to the test over the pair; afterwards the host end is gone.
func TestVeth(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name     string
		exit     int  // the status the container's command exits with
		kill     bool // SIGKILL the container's first process from the host instead
		wantCode int
	}{
		{name: "exit 0", exit: 0, wantCode: 0},
		{name: "exit 3", exit: 3, wantCode: 3},
		{name: "killed", kill: true, wantCode: 128 + int(unix.SIGKILL)},
	}
	for _, step := range netSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				tt := tt
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					testVethEcho(t, step, tt.exit, tt.kill, tt.wantCode)
				})
			}
		})
	}
}

// testVethEcho runs one container with a veth pair: it waits for a go on
// stdin (the test listens on the host end meanwhile), sends a line to the
// test's echo server over the pair, prints the answer, then waits for
// stdin to close and exits, unless the test kills it first.
func testVethEcho(t *testing.T, step string, exit int, kill bool, wantCode int) {
	subnet, hostAddr, ctrAddr := testSubnet()
	script := fmt.Sprintf("echo ready; read -r line; cat /proc/net/dev; echo ---; "+
		"echo hello from %s | nc %s 7777; echo done; read -r line; exit %d", ctrAddr, hostAddr, exit)
	c := startContainer(t, step, vethArgs(sharedRootfs(t), subnet, "sh", "-c", script)...)
	c.waitForLine(t, "ready")
	// The child execs the command only after the runtime has set up the
	// host end, so "ready" means its address is there.
	hostEnd := interfaceWithAddr(t, hostAddr)
	ln, err := net.Listen("tcp", net.JoinHostPort(hostAddr, "7777"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan string, 1)
	go func() { served <- echoOnce(ln) }()
	if _, err := c.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for {
		line, err := c.stdout.ReadString('\n')
		if line == "done\n" || err != nil {
			break
		}
		out.WriteString(line)
	}
	if kill {
		if err := unix.Kill(c.waitForChild(t, "sh"), unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	code := c.wait(t)
	dev, answer, _ := strings.Cut(out.String(), "---\n")
	if diff := cmp.Diff([]string{"lo", "eth0"}, netDevNames(dev)); diff != "" {
		t.Errorf("interfaces in /proc/net/dev inside (-want +got):\n%s", diff)
	}
	select {
	case got := <-served:
		if got != "hello from "+ctrAddr+"\n" {
			t.Errorf("the host end received %q", got)
		}
	case <-time.After(runTimeout):
		t.Errorf("no connection reached %s over the veth pair", hostAddr)
	}
	if want := "echo: hello from " + ctrAddr + "\n"; answer != want {
		t.Errorf("container printed %q, want %q; stderr:\n%s", answer, want, c.stderr)
	}
	if code != wantCode {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, wantCode, c.stderr)
	}
	if hostLinkExists(hostEnd) {
		t.Errorf("host end %s is still there after the run", hostEnd)
	}
}

// echoOnce accepts one connection, reads a line and sends it back after
// "echo: "; it returns the line it read.
func echoOnce(ln net.Listener) string {
	conn, err := ln.Accept()
	if err != nil {
		return "accept: " + err.Error()
	}
	defer conn.Close()
	buf := make([]byte, 256)
	var got []byte
	for !strings.HasSuffix(string(got), "\n") {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	_, _ = conn.Write(append([]byte("echo: "), got...))
	return string(got)
}

// TestKilledRuntimeLeavesNoInterface SIGKILLs a runtime whose container
// has a veth pair. The container dies with it (its parent-death signal),
// its network namespace with the container, and the pair with the
// namespace: the kernel removes the host end by itself.
func TestKilledRuntimeLeavesNoInterface(t *testing.T) {
	requireRoot(t)
	for _, step := range netSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			hostEnd, _, _ := killRuntimeWithVeth(t, step, false)
			// The kernel tears a dead namespace down from a work queue, so
			// wait for the link to go; the run timeout bounds the wait.
			deadline := time.Now().Add(runTimeout)
			for hostLinkExists(hostEnd) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if hostLinkExists(hostEnd) {
				t.Errorf("host end %s is still there %v after its container died", hostEnd, runTimeout)
			}
		})
	}
}

// TestStaleHostEndRemoved keeps a killed container's network namespace
// alive through an open /proc/PID/ns/net, as a bind mount of it would, so
// its pair outlives the runtime: then "cleanup", or the next run, must
// find the host end of the dead runtime and delete it.
func TestStaleHostEndRemoved(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		args func() []string
		want string // on stdout
	}{
		{"cleanup", func() []string { return []string{"--quiet", "cleanup"} }, "removed "},
		{"next run", func() []string { return runArgs(sharedRootfs(t), nil, "true") }, ""},
	}
	for _, step := range netSteps(t) {
		for _, tt := range tests {
			t.Run(step+"/"+tt.name, func(t *testing.T) {
				// No other container may start meanwhile: its run would
				// remove our stale host end first.
				holdHostMounts(t)
				hostEnd, _, pinned := killRuntimeWithVeth(t, step, true)
				defer unix.Close(pinned)
				if !hostLinkExists(hostEnd) {
					t.Fatalf("host end %s is gone although its namespace is held open", hostEnd)
				}
				r := run(t, step, tt.args()...)
				if r.code != 0 {
					t.Fatalf("%s failed:\n%s", tt.name, r)
				}
				if tt.want != "" && !strings.Contains(r.stdout, tt.want+hostEnd) {
					t.Errorf("stdout does not say %q:\n%s", tt.want+hostEnd, r)
				}
				if hostLinkExists(hostEnd) {
					t.Errorf("host end %s is still there after %s", hostEnd, tt.name)
				}
			})
		}
	}
}

// killRuntimeWithVeth starts a container with a veth pair, SIGKILLs its
// runtime and returns once the container's first process is gone, with
// the host end's name. With pin, it first opens the container's network
// namespace and returns that fd, which keeps the namespace alive.
func killRuntimeWithVeth(t *testing.T, step string, pin bool) (hostEnd string, ctrPid, pinned int) {
	t.Helper()
	subnet, hostAddr, _ := testSubnet()
	c := startContainer(t, step, vethArgs(sharedRootfs(t), subnet, "sh", "-c", "echo ready; read -r line")...)
	c.waitForLine(t, "ready")
	hostEnd = interfaceWithAddr(t, hostAddr)
	ctrPid = c.waitForChild(t, "sh")
	pidfd, err := unix.PidfdOpen(ctrPid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", ctrPid, err)
	}
	defer unix.Close(pidfd)
	pinned = -1
	if pin {
		if pinned, err = unix.Open(fmt.Sprintf("/proc/%d/ns/net", ctrPid), unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	// A pidfd polls readable when its process has exited.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(runTimeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("container process %d still runs after its runtime was killed (%v)", ctrPid, err)
		}
		break
	}
	return hostEnd, ctrPid, pinned
}

// TestNetBadInput gives network options a run must refuse: one line on
// stderr, a failing exit, and no new interface on the host.
func TestNetBadInput(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		args []string // after run --rootfs DIR
		want string   // in the one line of stderr
	}{
		{"host bits set", []string{"--net", "veth", "--subnet", "10.201.255.1/30"}, "did you mean 10.201.255.0/30"},
		{"prefix too long", []string{"--net", "veth", "--subnet", "10.201.255.0/31"}, "prefix length"},
		{"not IPv4", []string{"--net", "veth", "--subnet", "fd00::/64"}, "IPv4"},
		{"loopback", []string{"--net", "veth", "--subnet", "127.0.0.0/30"}, "reserved"},
		{"unknown mode", []string{"--net", "bridge"}, "--net"},
		{"subnet in use", []string{"--net", "veth", "--subnet", "SUBNET-IN-USE"}, "overlaps"},
	}
	for _, step := range netSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			// No other container may start meanwhile: the host's links
			// are compared before and after.
			holdHostMounts(t)
			subnet, _, _ := testSubnet()
			busy := startContainer(t, step, vethArgs(sharedRootfs(t), subnet, "sh", "-c", "echo ready; read -r line; exit 0")...)
			busy.waitForLine(t, "ready")
			before := hostLinks(t)
			for _, tt := range tests {
				args := []string{"--quiet", "run", "--rootfs", sharedRootfs(t)}
				for _, a := range tt.args {
					args = append(args, strings.ReplaceAll(a, "SUBNET-IN-USE", subnet))
				}
				r := run(t, step, append(args, "--", "true")...)
				lines := nonEmptyLines(r.stderr)
				if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
					t.Errorf("%s: want a failure and one line containing %q, got\n%s", tt.name, tt.want, r)
				}
			}
			if diff := cmp.Diff(before, hostLinks(t)); diff != "" {
				t.Errorf("host links changed (-before +after):\n%s", diff)
			}
			if code := busy.wait(t); code != 0 {
				t.Errorf("the container holding the subnet exited %d:\n%s", code, busy.stderr)
			}
		})
	}
}

// hostLinks lists the host's network links, from sysfs.
func hostLinks(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
