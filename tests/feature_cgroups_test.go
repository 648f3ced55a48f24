package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"box/tests/cgroupv2vm"
	"box/tests/cgroupv2vm/cgroupcheck"
)

// Features of control groups: the container is in a cgroup of its own,
// which limits its memory and its number of processes, and is gone
// afterwards. The same checks run on this host's cgroups (v1 here) in
// TestCgroupsOnHost, and on cgroup v2 in a virtual machine in
// TestCgroupsV2VM.

// cgroupsStep is the step that brings cgroups.
const cgroupsStep = "06-cgroups"

func init() {
	addFeatures(
		feature{name: "own cgroup, removed afterwards", since: cgroupsStep, check: ownCgroup},
		feature{name: "memory limit: OOM-killed past -m, exit 137", since: cgroupsStep, check: memoryLimited},
		feature{name: "process limit: fork fails past --pids-limit", since: cgroupsStep, check: pidsLimited},
	)
}

// ownCgroup compares the command's /proc/self/cgroup with ours: in a step
// with cgroups, it is in box-<id> below our cgroup, which is gone once the
// container has exited.
func ownCgroup(t *testing.T, step string) bool {
	ours, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	// Read from the host: inside, a cgroup namespace (final's) shows the
	// container's own cgroup as "/".
	c := startContainer(t, step, runArgs(rootfsCopy(t), nil, "sleep", "300")...)
	pid := c.waitForProcess(t, "sleep")
	theirs, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	own := ""
	for _, line := range nonEmptyLines(string(theirs)) {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && !strings.Contains(string(ours), line+"\n") && strings.HasPrefix(filepath.Base(parts[2]), "box-") {
			own = filepath.Base(parts[2])
		}
	}
	t.Logf("the command's cgroups, seen from the host:\n%s", theirs)
	if own == "" {
		return false
	}
	if left := cgroupcheck.CgroupDirs(own); len(left) > 0 {
		t.Fatalf("%s left behind: %v", own, left)
	}
	return true
}

// memoryLimited fills memory past -m 32m: tail keeps the last 100 MiB of
// /dev/zero in one buffer. The kernel kills it (exit 137, SIGKILL). A step
// without cgroups refuses the flag.
func memoryLimited(t *testing.T, step string) bool {
	r := run(t, step, "--quiet", "run", "--rootfs", sharedRootfs(t), "-m", "32m", "--",
		"sh", "-c", "exec tail -c 100m </dev/zero >/dev/null")
	t.Logf("exit %d, stderr %q", r.code, r.stderr)
	return r.code == 137
}

// pidsLimited starts 40 background processes under --pids-limit 16 (final's
// least, for its init's threads): the
// kernel refuses the fork past the limit with EAGAIN, which sh reports.
func pidsLimited(t *testing.T, step string) bool {
	r := run(t, step, "--quiet", "run", "--rootfs", sharedRootfs(t), "--pids-limit", "16", "--",
		"sh", "-c", "n=0; while [ $n -lt 40 ]; do sleep 5 & n=$((n+1)); done; echo started $n")
	t.Logf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	return r.code != 0 && strings.Contains(r.stderr, "can't fork: Resource temporarily unavailable")
}

// hostCgroupVersion is 2 if /sys/fs/cgroup is cgroup2, 1 for a tmpfs of v1
// hierarchies (also on a hybrid host).
func hostCgroupVersion(t *testing.T) int {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
}

// TestCgroupsOnHost runs the cgroup checks on this host's cgroups, as root:
// limits, OOM kills, placement and cleanup. It runs alone (not
// in parallel): it counts the cgroups on the host before and after.
func TestCgroupsOnHost(t *testing.T) {
	requireRoot(t)
	release := hostMounts.share(t)
	defer release()
	env := cgroupcheck.Env{Bin: binary(t, cgroupsStep), Rootfs: rootfsCopy(t), Version: hostCgroupVersion(t)}
	t.Logf("this host's cgroups are v%d", env.Version)
	for _, c := range cgroupcheck.Checks {
		c := c
		t.Run(c.Name, func(t *testing.T) {
			env := env
			env.Logf = t.Logf
			if err := c.Run(env); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// v2vmCache is where the kernel and busybox packages are kept between
// runs, so that only the first run downloads (about 72 MB).
func v2vmCache(t *testing.T) string {
	if os.Geteuid() == 0 {
		return "/var/cache/box-v2vm"
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "box-v2vm")
}

// bootV2VM boots the prepared machine, logs the lines of the guest's report
// (those that start with one of prefixes) and fails t unless the guest
// said BOXVM-RESULT: PASS and exited 0; what names what was checked. It
// returns the serial console.
func bootV2VM(t *testing.T, m cgroupv2vm.Machine, work, what string, prefixes ...string) string {
	t.Helper()
	boot, err := cgroupv2vm.Run(m, work, 10*time.Minute)
	t.Logf("booted %s: qemu exit %d (isa-debug-exit: 1 is guest status 0), boot to result %.1fs wall", filepath.Base(m.Kernel), boot.QEMUExit, boot.Wall.Seconds())
	if err != nil {
		t.Fatalf("%v\nserial console:\n%s", err, boot.Serial)
	}
	var report []string
	for _, line := range strings.Split(boot.Serial, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				report = append(report, line)
				break
			}
		}
	}
	t.Logf("guest report:\n%s", strings.Join(report, "\n"))
	if !strings.Contains(boot.Serial, "BOXVM-RESULT: PASS") || boot.QEMUExit != 1 {
		t.Fatalf("%s failed in the machine; serial console:\n%s", what, boot.Serial)
	}
	return boot.Serial
}

// TestCgroupsV2VM boots a virtual machine whose only cgroup hierarchy is
// cgroup2 and runs the cgroup checks there, plus the two ways a runtime
// can find the v2 tree (see cgroupv2vm/guest). It needs QEMU, apt-get and
// dpkg-deb, not root and not KVM: the machine is emulated (TCG).
func TestCgroupsV2VM(t *testing.T) {
	requireTool(t, "qemu-system-x86_64")
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build the virtual machine (Debian's apt and dpkg)", tool)
		}
	}
	work := t.TempDir()
	guest := filepath.Join(work, "guest")
	build := exec.Command("go", "build", "-o", guest, "./tests/cgroupv2vm/guest")
	build.Dir = harness.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the guest program: %v\n%s", err, out)
	}
	m, err := cgroupv2vm.Prepare(v2vmCache(t), work, binary(t, cgroupsStep), guest, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	bootV2VM(t, m, work, "the checks", "CHECK ", "      ", "BOX", "guest:")
}
