package tests

// final_cgroups_test.go runs final's cgroups for real on this host's
// cgroups (v1 here; the files read are chosen by version): a memory hog
// OOM-killed at -m with the accounting equal to the kernel's counters, a
// fork loop stopped at --pids-limit, CPU throttled at --cpus, pause that
// really freezes, exec joining the container's cgroup, the device
// allowlist, nothing left in any hierarchy afterwards (even after the
// runtime is killed), and refused resource flags.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"box/tests/cgroupv2vm"
	"box/tests/cgroupv2vm/cgroupcheck"
)

// cgInspection is the cgroup part of inspect's JSON.
type cgInspection struct {
	ID       string            `json:"Id"`
	Pid      int               `json:"Pid"`
	Status   string            `json:"Status"`
	ExitCode *int              `json:"ExitCode"`
	Cgroup   string            `json:"Cgroup"`
	Limits   map[string]string `json:"Limits"`
	Usage    map[string]int64  `json:"Usage"`
}

// inspectCgroup runs inspect on one container and reads its cgroup part.
func (f *finalEnv) inspectCgroup(ref string) cgInspection {
	f.t.Helper()
	r := f.mustBox("inspect", ref)
	var out []cgInspection
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		f.t.Fatalf("inspect %s: %v\n%s", ref, err, r)
	}
	return out[0]
}

// requireFinalCgroups fails unless final's run has the resource flags.
func requireFinalCgroups(t *testing.T, f *finalEnv) {
	t.Helper()
	help := f.box("run", "--help")
	for _, flag := range []string{"--memory", "--memory-swap", "--cpus", "--cpu-weight", "--pids-limit"} {
		if !strings.Contains(help.stdout, flag) {
			t.Fatalf("final's run has no %s: run.go must embed resourceFlags (see cgroups.go)\n%s", flag, help)
		}
	}
}

// cgroupFile is the path of a control file of the cgroup process pid is
// in, for controller, as the kernel says in /proc/PID/cgroup: in v1 below
// the controller's mount, in v2 below /sys/fs/cgroup.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if hostCgroupVersion(t) == 2 && parts[0] == "0" {
			return filepath.Join("/sys/fs/cgroup", parts[2], file)
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join(v1Mount(t, controller), parts[2], file)
			}
		}
	}
	t.Fatalf("process %d is in no %s cgroup:\n%s", pid, controller, b)
	return ""
}

// v1Mount is where the v1 hierarchy of controller is mounted; a host
// without one fails t.
func v1Mount(t *testing.T, controller string) string {
	t.Helper()
	mount := v1MountOf(t, controller)
	if mount == "" {
		t.Fatalf("no v1 hierarchy has %s", controller)
	}
	return mount
}

// readInt reads a number from a kernel file: the whole file, or the value
// of key in "key value" lines.
func readInt(t *testing.T, path, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if key == "" && len(f) == 1 || len(f) == 2 && f[0] == key {
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return n
		}
	}
	t.Fatalf("%s has no %q:\n%s", path, key, b)
	return 0
}

// readText reads a kernel file, trimmed.
func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// requireCgroupGone fails if a directory of container id's cgroup is left
// in any hierarchy.
func requireCgroupGone(t *testing.T, id string) {
	t.Helper()
	if left := cgroupcheck.CgroupDirs("box-" + id); len(left) > 0 {
		t.Errorf("cgroup of %s left behind: %v", id[:12], left)
	}
}

// waitForFile polls until path exists; the run timeout bounds the wait.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(runTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %v", path, runTimeout)
}

// inContainer is the host's path of a file in container pid's /dev/shm,
// a tmpfs of its own, through its init's root.
func inContainer(pid int, name string) string {
	return "/proc/" + strconv.Itoa(pid) + "/root/dev/shm/" + name
}

// memoryCounters are the kernel's files for the accounting of memory:
// usage hit the limit, OOM kills, peak.
type memoryCounters struct{ hits, kills, peak int64 }

func readMemoryCounters(t *testing.T, pid int) memoryCounters {
	t.Helper()
	if hostCgroupVersion(t) == 2 {
		return memoryCounters{
			hits:  readInt(t, cgroupFile(t, pid, "memory", "memory.events"), "max"),
			kills: readInt(t, cgroupFile(t, pid, "memory", "memory.events"), "oom_kill"),
			peak:  readInt(t, cgroupFile(t, pid, "memory", "memory.peak"), ""),
		}
	}
	return memoryCounters{
		hits:  readInt(t, cgroupFile(t, pid, "memory", "memory.failcnt"), ""),
		kills: readInt(t, cgroupFile(t, pid, "memory", "memory.oom_control"), "oom_kill"),
		peak:  readInt(t, cgroupFile(t, pid, "memory", "memory.max_usage_in_bytes"), ""),
	}
}

// limitFileNames are the cgroup files inspect names for -m 64m --cpus 0.5
// --cpu-weight 100 --pids-limit 50, by cgroup version (with swap
// accounting on v1).
var limitFileNames = map[int][]string{
	1: {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "pids.max"},
	2: {"cpu.max", "cpu.weight", "memory.max", "memory.swap.max", "pids.max"},
}

// TestFinalInspectLimitFiles checks that inspect names the limits by the
// files of this host's cgroup version, and that each holds the value
// inspect shows, in the container's cgroup as /proc/PID/cgroup names it.
// The v2 machine checks the same there (v2Box.inspectNames).
func TestFinalInspectLimitFiles(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	id := f.detached("-m", "64m", "--cpus", "0.5", "--cpu-weight", "100", "--pids-limit", "50", "--rootfs", sharedRootfs(t), "sleep", "4752")
	in := f.inspectCgroup(id)
	version := hostCgroupVersion(t)
	want := limitFileNames[version]
	if version == 1 {
		if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err != nil {
			want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "memory.memsw.limit_in_bytes" })
		}
	}
	var got []string
	for file := range in.Limits {
		got = append(got, file)
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("inspect's limits on cgroup v%d are %v (-want +got):\n%s", version, in.Limits, diff)
	}
	for file, value := range in.Limits {
		controller, _, _ := strings.Cut(file, ".")
		if kernel := readText(t, cgroupFile(t, in.Pid, controller, file)); kernel != value {
			t.Errorf("inspect says %s %q, the kernel's file says %q", file, value, kernel)
		}
	}
	t.Logf("inspect on cgroup v%d: %v", version, in.Limits)
}

// TestFinalCgroupOOMKill fills memory past -m 32m. In the foreground the
// command is the hog: the runtime exits 137 and says, in one line, that
// the memory limit was reached. Detached, the hog is a child and the
// container lives on: the accounting kept at exit equals the counters the
// kernel showed while it ran.
func TestFinalCgroupOOMKill(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	t.Run("foreground", func(t *testing.T) {
		r := f.box("run", "--name", "oom-fg", "-m", "32m", "--rootfs", sharedRootfs(t),
			"sh", "-c", "exec tail -c 100m </dev/zero >/dev/null")
		lines := nonEmptyLines(r.stderr)
		if r.code != 137 || len(lines) != 1 || !strings.Contains(lines[0], "memory limit reached") {
			t.Fatalf("want exit 137 and one line saying the memory limit was reached, got\n%s", r)
		}
		in := f.inspectCgroup("oom-fg")
		memoryFile := map[bool]string{true: "memory.max", false: "memory.limit_in_bytes"}[hostCgroupVersion(t) == 2]
		if in.Usage["oomKills"] < 1 || in.Limits[memoryFile] != strconv.Itoa(32<<20) {
			t.Errorf("inspect: limits %v, usage %v; want %s 32m and an OOM kill", in.Limits, in.Usage, memoryFile)
		}
		f.mustBox("rm", "oom-fg")
		requireCgroupGone(t, in.ID)
	})
	t.Run("foreground --rm", func(t *testing.T) {
		// run --rm keeps no accounting, so it reads only the count of OOM
		// kills, and still says why the container exited 137.
		r := f.box("run", "--rm", "-m", "32m", "--rootfs", sharedRootfs(t),
			"sh", "-c", "exec tail -c 100m </dev/zero >/dev/null")
		lines := nonEmptyLines(r.stderr)
		if r.code != 137 || len(lines) != 1 || !strings.Contains(lines[0], "memory limit reached") {
			t.Fatalf("want exit 137 and one line saying the memory limit was reached, got\n%s", r)
		}
		if dirs := f.containerDirs(); len(dirs) != 0 {
			t.Errorf("run --rm left state: %v", dirs)
		}
	})
	t.Run("accounting", func(t *testing.T) {
		id := f.detached("-m", "32m", "--rootfs", sharedRootfs(t), "sh", "-c",
			"tail -c 100m </dev/zero >/dev/null; echo $? >/dev/shm/hog; exec sleep 4751")
		in := f.inspectCgroup(id)
		waitForFile(t, inContainer(in.Pid, "hog"))
		if got := readText(t, inContainer(in.Pid, "hog")); got != "137" {
			t.Errorf("the hog exited %s, want 137 (SIGKILL from the OOM killer)", got)
		}
		if got := readInt(t, cgroupFile(t, in.Pid, "memory", map[bool]string{true: "memory.max", false: "memory.limit_in_bytes"}[hostCgroupVersion(t) == 2]), ""); got != 32<<20 {
			t.Errorf("the kernel's memory limit is %d, want %d", got, 32<<20)
		}
		kernel := readMemoryCounters(t, in.Pid)
		if kernel.kills != 1 || kernel.hits < 1 || kernel.peak > 32<<20 || kernel.peak < 16<<20 {
			t.Errorf("the kernel counted %+v; want one OOM kill, the limit hit, a peak near 32m", kernel)
		}
		f.mustBox("stop", "--time", "0", id)
		after := f.inspectCgroup(id)
		got := memoryCounters{hits: after.Usage["memoryLimitHits"], kills: after.Usage["oomKills"], peak: after.Usage["memoryPeakBytes"]}
		if diff := cmp.Diff(kernel, got, cmp.AllowUnexported(memoryCounters{})); diff != "" {
			t.Errorf("the accounting kept differs from the kernel's counters (-kernel +inspect):\n%s", diff)
		}
		f.mustBox("rm", id)
		requireCgroupGone(t, id)
	})
}

// TestFinalCgroupPidsLimit starts a fork loop under --pids-limit 20: fork
// fails with EAGAIN at the limit, which sh reports, and the kernel counts
// the refusals. The loop waits for a go from the test (a fifo), so the
// container's init has started its threads by then.
func TestFinalCgroupPidsLimit(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	id := f.detached("--pids-limit", "20", "--rootfs", sharedRootfs(t), "sh", "-c",
		"mkfifo /dev/shm/go; read x </dev/shm/go; n=0; while [ $n -lt 40 ]; do sleep 4752 & n=$((n+1)); done; echo started $n")
	in := f.inspectCgroup(id)
	if got := readText(t, cgroupFile(t, in.Pid, "pids", "pids.max")); got != "20" {
		t.Errorf("the kernel's pids.max is %s, want 20", got)
	}
	waitForFile(t, inContainer(in.Pid, "go"))
	if err := os.WriteFile(inContainer(in.Pid, "go"), []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	r := f.mustBox("wait", id)
	logs := f.mustBox("logs", id)
	if strings.TrimSpace(r.stdout) == "0" || !strings.Contains(logs.stdout+logs.stderr, "can't fork") {
		t.Errorf("exit %s, logs:\n%s; want sh to fail: can't fork", r.stdout, logs)
	}
	after := f.inspectCgroup(id)
	if after.Usage["pidsLimitHits"] < 1 || after.Usage["pidsPeak"] > 20 || after.Usage["pidsPeak"] < 10 {
		t.Errorf("accounting %v: want forks refused and a peak of at most 20", after.Usage)
	}
	waitGone(t, "4752")
	f.mustBox("rm", id)
	requireCgroupGone(t, id)
	t.Run("the init survives the limit", func(t *testing.T) {
		// pids.max counts the init's threads too: if its Go runtime needs
		// a new thread once the command has forked up to the limit, it dies
		// ("failed to create new OS thread"), unless it started spare
		// threads before the command (initproc.prewarmThreads).
		if out := logs.stdout + logs.stderr; strings.Contains(out, "failed to create new OS thread") {
			t.Errorf("the container's init crashed at the limit:\n%s", out)
		}
	})
}

// TestFinalCgroupCPUThrottled runs a busy loop with --cpus 0.1: the kernel
// throttles the group (cpu.stat nr_throttled), and the accounting kept at
// exit says so. --cpu-weight lands in the kernel's cpu.shares (v1) or
// cpu.weight (v2).
func TestFinalCgroupCPUThrottled(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	id := f.detached("--cpus", "0.1", "--cpu-weight", "200", "--rootfs", sharedRootfs(t), "sh", "-c", "while :; do :; done")
	in := f.inspectCgroup(id)
	stat := cgroupFile(t, in.Pid, "cpu", "cpu.stat")
	if hostCgroupVersion(t) == 2 {
		if got := readText(t, cgroupFile(t, in.Pid, "cpu", "cpu.max")); got != "10000 100000" {
			t.Errorf("cpu.max is %q, want 10000 100000", got)
		}
		if got := readText(t, cgroupFile(t, in.Pid, "cpu", "cpu.weight")); got != "200" {
			t.Errorf("cpu.weight is %q, want 200", got)
		}
	} else {
		quota := readText(t, cgroupFile(t, in.Pid, "cpu", "cpu.cfs_quota_us"))
		period := readText(t, cgroupFile(t, in.Pid, "cpu", "cpu.cfs_period_us"))
		shares := readText(t, cgroupFile(t, in.Pid, "cpu", "cpu.shares"))
		if quota != "10000" || period != "100000" || shares != "5219" {
			t.Errorf("quota %s per %s us, shares %s; want 10000 per 100000 and 5219 (weight 200)", quota, period, shares)
		}
	}
	var throttled int64
	for deadline := time.Now().Add(runTimeout); throttled == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		throttled = readInt(t, stat, "nr_throttled")
	}
	if throttled == 0 {
		t.Fatalf("the kernel never throttled the container:\n%s", readText(t, stat))
	}
	f.mustBox("stop", "--time", "0", id)
	if got := f.inspectCgroup(id).Usage["throttledPeriods"]; got < throttled {
		t.Errorf("accounting says %d throttled periods, the kernel had counted %d already", got, throttled)
	}
	f.mustBox("rm", id)
	requireCgroupGone(t, id)
}

// TestFinalPauseFreezes pauses a container that counts as fast as it can:
// while paused, the kernel's freezer says frozen and the count stands
// still; unpaused, it goes on. A paused container is also removed with
// rm -f without hanging.
func TestFinalPauseFreezes(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	id := f.detached("--rootfs", sharedRootfs(t), "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >/dev/shm/count; done")
	in := f.inspectCgroup(id)
	count := inContainer(in.Pid, "count")
	waitForFile(t, count)
	frozen := func() string {
		if hostCgroupVersion(t) == 2 {
			return strconv.FormatInt(readInt(t, cgroupFile(t, in.Pid, "freezer", "cgroup.events"), "frozen"), 10)
		}
		return readText(t, cgroupFile(t, in.Pid, "freezer", "freezer.state"))
	}
	// The count as written: frozen between truncating the file and writing
	// it, the shell leaves it empty, which still must not change.
	readCount := func() string {
		b, err := os.ReadFile(count)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	f.mustBox("pause", id)
	if got := f.inspectCgroup(id).Status; got != "paused" {
		t.Errorf("status %s after pause, want paused", got)
	}
	if got := frozen(); got != "FROZEN" && got != "1" {
		t.Errorf("the kernel's freezer says %s, want frozen", got)
	}
	before := readCount()
	time.Sleep(200 * time.Millisecond) // time for a running loop to count thousands
	if after := readCount(); after != before {
		t.Errorf("the count went from %q to %q while paused", before, after)
	}
	r := f.box("exec", id, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "is paused") {
		t.Errorf("exec into a paused container: want a refusal, got\n%s", r)
	}
	f.mustBox("unpause", id)
	for deadline := time.Now().Add(runTimeout); readCount() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the count did not move after unpause")
		}
	}
	f.mustBox("pause", id)
	f.mustBox("rm", "-f", id)
	requireCgroupGone(t, id)
}

// TestFinalExecJoinsCgroup runs exec in a container with and without a
// user namespace (without, exec itself joins the cgroup before it forks;
// with, the container's init forks the command): the command's cgroups
// are the init's, in every hierarchy.
func TestFinalExecJoinsCgroup(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"user namespace", nil},
		{"no user namespace", []string{"--userns", "host"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := f.detached(append(tt.args, "--pids-limit", "64", "--rootfs", sharedRootfs(t), "sleep", "4753")...)
			in := f.inspectCgroup(id)
			want, err := os.ReadFile("/proc/" + strconv.Itoa(in.Pid) + "/cgroup")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(want), "box-"+id) {
				t.Fatalf("the init is not in box-%s:\n%s", id[:12], want)
			}
			// Inside, a cgroup namespace rooted at box-ID shows it as "/"; a
			// command left in another cgroup would show a path like /../x.
			r := f.mustBox("exec", id, "cat", "/proc/self/cgroup")
			if diff := cmp.Diff(cgroupNamespaceRoot(string(want)), r.stdout); diff != "" {
				t.Errorf("exec'd command's cgroups differ from the init's (-init +exec):\n%s", diff)
			}
			f.mustBox("rm", "-f", id)
			requireCgroupGone(t, id)
		})
	}
}

// TestFinalCgroupDevices reads the device allowlist from the kernel (v1's
// devices.list): every device denied but the container's /dev nodes.
func TestFinalCgroupDevices(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	if hostCgroupVersion(t) == 2 {
		t.Skip("cgroup v2 has no devices files: its allowlist would be an eBPF program, which final does not load")
	}
	id := f.detached("--rootfs", sharedRootfs(t), "sleep", "4754")
	in := f.inspectCgroup(id)
	got := strings.Split(readText(t, cgroupFile(t, in.Pid, "devices", "devices.list")), "\n")
	want := []string{"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("devices.list (-want +got):\n%s", diff)
	}
	f.mustBox("rm", "-f", id)
	requireCgroupGone(t, id)
}

// TestFinalCgroupKilledRuntime SIGKILLs the runtime of a container with
// limits: the container dies with it, and cleanup removes its cgroup from
// every hierarchy and its state.
func TestFinalCgroupKilledRuntime(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	c := f.start("run", "--name", "cg-killed", "-m", "64m", "--pids-limit", "64", "--rootfs", sharedRootfs(t),
		"sh", "-c", "echo ready; exec sleep 4755")
	c.waitForLine(t, "ready")
	in := f.inspectCgroup("cg-killed")
	if left := cgroupcheck.CgroupDirs("box-" + in.ID); len(left) == 0 {
		t.Fatalf("the running container has no cgroup box-%s", in.ID[:12])
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	waitGone(t, "4755")
	r := f.mustBox("cleanup")
	if !strings.Contains(r.stdout, "removed") {
		t.Errorf("cleanup removed nothing:\n%s", r)
	}
	requireCgroupGone(t, in.ID)
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("cleanup left state: %v", dirs)
	}
}

// TestFinalCgroupLeftovers leaves cgroups as a killed runtime whose state
// was lost would: empty box-<id> directories below our own cgroup. cleanup
// removes them and says so, but not one that a runtime holds (locked), nor
// one of another name.
func TestFinalCgroupLeftovers(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	parent := filepath.Dir(cgroupFile(t, os.Getpid(), "pids", "x"))
	if hostCgroupVersion(t) == 2 {
		parent = "/sys/fs/cgroup/box"
	}
	name := func(c byte) string { return "box-" + strings.Repeat(string(c), 64) }
	leftover, held, other := filepath.Join(parent, name('a')), filepath.Join(parent, name('b')), filepath.Join(parent, "box-not-ours")
	for _, dir := range []string{leftover, held, other} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		dir := dir
		t.Cleanup(func() { _ = syscall.Rmdir(dir) })
	}
	lock, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	r := f.mustBox("cleanup")
	if !strings.Contains(r.stdout, "removed "+name('a')+" (cgroup)") {
		t.Errorf("cleanup does not say it removed %s:\n%s", name('a'), r)
	}
	for dir, want := range map[string]bool{leftover: false, held: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", dir, err == nil, want)
		}
	}
}

// TestFinalCgroupBadInput gives resource flags run must refuse: exit 125,
// one line naming the flag, and no state. The runs narrate (--explain), so
// the one line also shows that not one cgroup call was made.
func TestFinalCgroupBadInput(t *testing.T) {
	f := newFinal(t)
	requireFinalCgroups(t, f)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"memory not a size", []string{"-m", "lots"}, `--memory "lots" is not a size`},
		{"memory unit", []string{"--memory", "1t"}, `--memory "1t" is not a size`},
		{"memory too little", []string{"-m", "1m"}, "below the minimum of 6m"},
		{"swap without memory", []string{"--memory-swap", "1g"}, "--memory-swap needs --memory"},
		{"swap below memory", []string{"-m", "100m", "--memory-swap", "50m"}, "is less than --memory"},
		{"cpus not a number", []string{"--cpus", "half"}, `--cpus "half" is not a number`},
		{"cpus zero", []string{"--cpus", "0"}, "--cpus 0 is out of range"},
		{"cpus too many", []string{"--cpus", "4096"}, "--cpus 4096 is out of range"},
		{"cpu weight", []string{"--cpu-weight", "20000"}, "--cpu-weight 20000 is out of range"},
		{"cpu weight not a number", []string{"--cpu-weight", "high"}, "--cpu-weight"},
		{"pids negative", []string{"--pids-limit=-5"}, "--pids-limit -5: give a number of processes"},
		{"pids negative, kong's reading", []string{"--pids-limit", "-5"}, `--pids-limit="-5"`},
		{"pids too few", []string{"--pids-limit", "3"}, "below the minimum of 16"},
	}
	dirsBefore := f.containerDirs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.box(append(append([]string{"--explain", "run"}, tt.args...), "--rootfs", sharedRootfs(t), "true")...)
			lines := nonEmptyLines(r.stderr)
			if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("want exit 125 and one line containing %q (no narrated call), got\n%s", tt.want, r)
			}
		})
	}
	if diff := cmp.Diff(dirsBefore, f.containerDirs()); diff != "" {
		t.Errorf("refused runs left state (-before +after):\n%s", diff)
	}
}

// The tests of final on cgroup v2 run in the virtual machine of package
// cgroupv2vm, whose /init runs "/guest /box": the machine's only cgroup
// hierarchy is cgroup2, with this shell in the root cgroup. This test
// binary, built static, is that guest: its init function below takes
// over before the tests would run.

// v2GuestName is how the machine's /init runs its guest program.
const v2GuestName = "/guest"

// v2NamespaceRootRole is the argument that makes the guest the first
// process of a docker-like cgroup namespace (see v2DockerLike).
const v2NamespaceRootRole = "--cgroupns-root"

func init() {
	if len(os.Args) < 2 || os.Args[0] != v2GuestName {
		return
	}
	if len(os.Args) == 3 && os.Args[1] == v2NamespaceRootRole {
		os.Exit(v2NamespaceRoot(os.Args[2]))
	}
	os.Exit(v2Guest(os.Args[1]))
}

// TestFinalCgroupsV2VM boots the cgroup v2 machine with final as /box and
// this test binary as the guest, which runs final's cgroup checks there.
func TestFinalCgroupsV2VM(t *testing.T) {
	requireTool(t, "qemu-system-x86_64")
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build the virtual machine (Debian's apt and dpkg)", tool)
		}
	}
	finalBin := binary(t, finalStep)
	if help := rawFinal(t, runOptions{}, "run", "--help"); !strings.Contains(help.stdout, "--pids-limit") {
		t.Fatalf("final's run has no resource flags: run.go must embed resourceFlags (see cgroups.go)\n%s", help)
	}
	work := t.TempDir()
	guest := filepath.Join(work, "guest")
	build := exec.Command("go", "test", "-c", "-o", guest, "./tests")
	build.Dir = harness.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the guest (this test binary): %v\n%s", err, out)
	}
	m, err := cgroupv2vm.Prepare(v2vmCache(t), work, finalBin, guest, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	bootV2VM(t, m, work, "final's checks", "CHECK ", "      ", "BOX")
}

// Where the guest keeps things in the machine.
const (
	v2Rootfs = "/tmp/rootfs"
	v2State  = "/run/box-state"
)

// v2Guest runs final's cgroup checks on cgroup v2 with final at bin, and
// prints CHECK lines and the BOXVM-RESULT line /init and the test read.
func v2Guest(bin string) int {
	passed, failed := 0, 0
	check := func(name string, run func() error) {
		began := time.Now()
		if err := run(); err != nil {
			failed++
			fmt.Printf("CHECK %s FAIL (%.1fs): %v\n", name, time.Since(began).Seconds(), err)
			return
		}
		passed++
		fmt.Printf("CHECK %s PASS (%.1fs)\n", name, time.Since(began).Seconds())
	}
	g := v2Box{bin: bin, state: v2State}
	check("rootfs from the machine's busybox", v2BuildRootfs)
	check("first run hands controllers down, creates the init in its cgroup, OOM kill exits 137", g.firstRun)
	check("accounting kept at exit, shown by inspect", g.accounting)
	check("fork loop stopped at --pids-limit", g.pidsLimit)
	check("CPU throttled at --cpus", g.cpuThrottled)
	check("pause freezes (cgroup.freeze), unpause thaws", g.pause)
	check("exec joins the container's cgroup", g.execJoins)
	check("stats reads memory.current, memory.max and pids.current", g.stats)
	check("inspect names the limits by v2's files, as the kernel holds them", g.inspectNames)
	check("the device allowlist (an eBPF program) refuses mknod outside it", g.deviceAllowlist)
	check("docker-like cgroup namespace: processes moved to a leaf", func() error { return v2DockerLike(bin) })
	check("nothing left under box", func() error { return v2NothingLeft("/sys/fs/cgroup/box") })
	result := "PASS"
	if failed > 0 {
		result = "FAIL"
	}
	fmt.Printf("BOXVM-RESULT: %s (%d passed, %d failed)\n", result, passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// v2BuildRootfs makes a rootfs of the machine's static busybox, with the
// applets the checks use.
func v2BuildRootfs() error {
	for _, dir := range []string{"bin", "dev", "proc", "sys", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(v2Rootfs, dir), 0o755); err != nil {
			return err
		}
	}
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(v2Rootfs, "bin/busybox"), b, 0o755); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "true", "tail", "sleep", "cat", "echo", "mkfifo", "mknod", "rm"} {
		if err := os.Symlink("busybox", filepath.Join(v2Rootfs, "bin", applet)); err != nil {
			return err
		}
	}
	return os.Chmod("/tmp", 0o1777)
}

// v2Box runs final in the machine.
type v2Box struct{ bin, state string }

// run runs final with args and returns what it printed and its status.
func (g v2Box) run(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(g.bin, append([]string{"--state-dir", g.state}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return out.String(), errOut.String(), code
}

// must runs final and fails unless it exits 0.
func (g v2Box) must(args ...string) (string, error) {
	out, errOut, code := g.run(args...)
	if code != 0 {
		return out, fmt.Errorf("box %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, nil
}

// inspect reads the cgroup part of inspect's JSON.
func (g v2Box) inspect(ref string) (cgInspection, error) {
	out, err := g.must("inspect", ref)
	if err != nil {
		return cgInspection{}, err
	}
	var in []cgInspection
	if err := json.Unmarshal([]byte(out), &in); err != nil || len(in) != 1 {
		return cgInspection{}, fmt.Errorf("inspect %s: %v\n%s", ref, err, out)
	}
	return in[0], nil
}

// cgroupDir is container id's cgroup.
func v2CgroupDir(id string) string { return "/sys/fs/cgroup/box/box-" + id }

// firstRun is the machine's first container, with processes in the root
// cgroup and no controller handed down yet (the root is exempt from "no
// internal processes"), narrated: the controllers go down to box, clone3
// creates the init in its cgroup, and the hog is OOM-killed.
func (g v2Box) firstRun() error {
	_, errOut, code := g.run("--explain", "run", "--name", "oom", "--rootfs", v2Rootfs, "-m", "32m",
		"sh", "-c", "exec tail -c 100m </dev/zero >/dev/null")
	for _, want := range []string{
		`write /sys/fs/cgroup/cgroup.subtree_control <- "+cpu +memory +pids" = 0`,
		`write /sys/fs/cgroup/box/cgroup.subtree_control <- "+cpu +memory +pids" = 0`,
		"CLONE_INTO_CGROUP",
		"memory limit reached",
	} {
		if !strings.Contains(errOut, want) {
			return fmt.Errorf("the narration lacks %q\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "Move the container's init into its cgroup") {
		return fmt.Errorf("the init was moved after clone, not created in its cgroup\n%s", errOut)
	}
	if code != 137 {
		return fmt.Errorf("exit %d, want 137\n%s", code, errOut)
	}
	return nil
}

// accounting reads what the first run kept.
func (g v2Box) accounting() error {
	in, err := g.inspect("oom")
	if err != nil {
		return err
	}
	fmt.Printf("      usage kept: %v\n", in.Usage)
	if in.Usage["oomKills"] < 1 || in.Usage["memoryLimitHits"] < 1 || in.Usage["memoryPeakBytes"] < 16<<20 {
		return fmt.Errorf("usage %v: want an OOM kill, the limit hit and a peak near 32m", in.Usage)
	}
	_, err = g.must("rm", "oom")
	return err
}

// pidsLimit starts a fork loop under --pids-limit 20.
func (g v2Box) pidsLimit() error {
	_, errOut, code := g.run("run", "--rm", "--rootfs", v2Rootfs, "--pids-limit", "20",
		"sh", "-c", "n=0; while [ $n -lt 40 ]; do sleep 30 & n=$((n+1)); done; echo started $n")
	if code == 0 || !strings.Contains(errOut, "can't fork") {
		return fmt.Errorf("exit %d, want sh to fail with can't fork\n%s", code, errOut)
	}
	return nil
}

// cpuThrottled runs a busy loop at --cpus 0.1 until the kernel throttles it.
func (g v2Box) cpuThrottled() error {
	out, err := g.must("run", "-d", "--rootfs", v2Rootfs, "--cpus", "0.1", "sh", "-c", "while :; do :; done")
	if err != nil {
		return err
	}
	id := strings.TrimSpace(out)
	defer g.run("rm", "-f", id)
	if got := v2Read(v2CgroupDir(id) + "/cpu.max"); got != "10000 100000" {
		return fmt.Errorf("cpu.max is %q, want 10000 100000", got)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n, ok := keyedInt(v2Read(v2CgroupDir(id)+"/cpu.stat"), "nr_throttled"); ok && n > 0 {
			fmt.Printf("      nr_throttled %d\n", n)
			return nil
		}
	}
	return fmt.Errorf("never throttled:\n%s", v2Read(v2CgroupDir(id)+"/cpu.stat"))
}

// pause freezes a counting container and thaws it.
func (g v2Box) pause() error {
	out, err := g.must("run", "-d", "--rootfs", v2Rootfs, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >/dev/shm/count; done")
	if err != nil {
		return err
	}
	id := strings.TrimSpace(out)
	defer g.run("rm", "-f", id)
	in, err := g.inspect(id)
	if err != nil {
		return err
	}
	count := inContainer(in.Pid, "count")
	for deadline := time.Now().Add(time.Minute); v2Read(count) == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if _, err := g.must("pause", id); err != nil {
		return err
	}
	if frozen, _ := keyedInt(v2Read(v2CgroupDir(id)+"/cgroup.events"), "frozen"); frozen != 1 {
		return fmt.Errorf("cgroup.events says frozen %d after pause", frozen)
	}
	before := v2Read(count)
	time.Sleep(300 * time.Millisecond) // time for a running loop to count on
	if after := v2Read(count); after != before {
		return fmt.Errorf("the count went from %q to %q while paused", before, after)
	}
	if _, err := g.must("unpause", id); err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); v2Read(count) == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the count did not move after unpause")
		}
	}
	return nil
}

// execJoins compares an exec'd command's cgroup with the init's, with and
// without a user namespace.
func (g v2Box) execJoins() error {
	for _, args := range [][]string{nil, {"--userns", "host"}} {
		out, err := g.must(append(append([]string{"run", "-d"}, args...), "--rootfs", v2Rootfs, "sleep", "60")...)
		if err != nil {
			return err
		}
		id := strings.TrimSpace(out)
		in, err := g.inspect(id)
		if err == nil {
			var got string
			if got, err = g.must("exec", id, "cat", "/proc/self/cgroup"); err == nil {
				// The init's cgroup is the root of the container's cgroup
				// namespace: the exec'd command, in the same cgroup, sees "/";
				// anywhere else it would see a path with "..".
				want := v2Read("/proc/" + strconv.Itoa(in.Pid) + "/cgroup")
				if strings.TrimSpace(got) != "0::/" || want != "0::/box/box-"+id {
					err = fmt.Errorf("exec %v: in %q, the init in %q", args, got, want)
				}
			}
		}
		g.run("rm", "-f", id)
		if err != nil {
			return err
		}
	}
	return nil
}

// stats shows a limited and an unlimited container from v2's files.
func (g v2Box) stats() error {
	var ids []string
	defer func() {
		for _, id := range ids {
			g.run("rm", "-f", id)
		}
	}()
	for _, limit := range [][]string{{"-m", "64m"}, nil} {
		out, err := g.must(append(append([]string{"run", "-d", "--no-init"}, limit...), "--rootfs", v2Rootfs, "sleep", "60")...)
		if err != nil {
			return err
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	out, err := g.must("stats", "--no-stream")
	if err != nil {
		return err
	}
	if !strings.Contains(out, " / 64m ") || !strings.Contains(out, " / no limit ") {
		return fmt.Errorf("stats shows neither limit:\n%s", out)
	}
	return nil
}

// inspectNames checks that inspect names the limits by v2's files, each
// holding the value shown (see TestFinalInspectLimitFiles for v1).
func (g v2Box) inspectNames() error {
	out, err := g.must("run", "-d", "-m", "64m", "--cpus", "0.5", "--cpu-weight", "100", "--pids-limit", "50", "--rootfs", v2Rootfs, "sleep", "60")
	if err != nil {
		return err
	}
	id := strings.TrimSpace(out)
	defer g.run("rm", "-f", id)
	in, err := g.inspect(id)
	if err != nil {
		return err
	}
	var names []string
	for file, value := range in.Limits {
		names = append(names, file)
		if kernel := v2Read(v2CgroupDir(id) + "/" + file); kernel != value {
			return fmt.Errorf("inspect says %s %q, the kernel's file says %q", file, value, kernel)
		}
	}
	sort.Strings(names)
	if !slices.Equal(names, limitFileNames[2]) {
		return fmt.Errorf("inspect names %v, want %v", in.Limits, limitFileNames[2])
	}
	fmt.Printf("      inspect: %v\n", in.Limits)
	return nil
}

// deviceAllowlist runs the device probe of TestFinalSecureByDefault with
// --userns host, where only the allowlist stops root from making a node.
func (g v2Box) deviceAllowlist() error {
	out, err := g.must("run", "--rm", "--userns", "host", "--rootfs", v2Rootfs, "sh", "-c", deviceNodeProbe)
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(out); got != deviceNodeRefused {
		return fmt.Errorf("the probe printed %q, want %q", got, deviceNodeRefused)
	}
	return nil
}

// v2DockerLike makes a docker-like cgroup namespace: a cgroup, ctr,
// whose processes see it as their root, with one process (a copy of this
// guest) in it, which runs final there (see v2NamespaceRoot).
func v2DockerLike(bin string) error {
	ctr := "/sys/fs/cgroup/ctr"
	if err := os.Mkdir(ctr, 0o755); err != nil {
		return err
	}
	// We join ctr, so that the namespace the clone below makes has it as
	// its root, and leave it again once the child is there alone.
	if err := os.WriteFile(ctr+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return err
	}
	cmd := exec.Command(v2GuestName, v2NamespaceRootRole, bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWNS}
	err := cmd.Start()
	if backErr := os.WriteFile("/sys/fs/cgroup/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err == nil {
		err = backErr
	}
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("the namespace's root process: %w", err)
	}
	return v2NothingLeft(ctr + "/box")
}

// v2NamespaceRoot runs in the docker-like namespace: it mounts cgroup2 as
// its namespace shows it (ctr as the root, holding this process) and runs
// a container with a memory limit. final must meet EBUSY on handing the
// controllers down, move the root's processes into a leaf and go on.
func v2NamespaceRoot(bin string) int {
	fail := func(err error) int {
		fmt.Printf("      %v\n", err)
		return 1
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fail(err)
	}
	// The old mount goes first: the kernel does not stack a mount of the
	// same filesystem on its own root.
	if err := syscall.Unmount("/sys/fs/cgroup", syscall.MNT_DETACH); err != nil {
		return fail(err)
	}
	if err := syscall.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
		return fail(err)
	}
	if own := v2Read("/proc/self/cgroup"); own != "0::/" {
		return fail(fmt.Errorf("in cgroup %q, want the namespace's root", own))
	}
	g := v2Box{bin: bin, state: "/run/box-state-ns"}
	_, errOut, code := g.run("--explain", "run", "--rm", "--rootfs", v2Rootfs, "-m", "32m",
		"sh", "-c", "exec tail -c 100m </dev/zero >/dev/null")
	me := strconv.Itoa(os.Getpid())
	for _, want := range []string{
		`write /sys/fs/cgroup/cgroup.subtree_control <- "+cpu +memory +pids" = -1 EBUSY`,
		`write /sys/fs/cgroup/init/cgroup.procs <- "` + me + `" = 0`,
		`write /sys/fs/cgroup/cgroup.subtree_control <- "+cpu +memory +pids" = 0`,
	} {
		if !strings.Contains(errOut, want) {
			return fail(fmt.Errorf("the narration lacks %q\n%s", want, errOut))
		}
	}
	if code != 137 {
		return fail(fmt.Errorf("exit %d, want 137\n%s", code, errOut))
	}
	fmt.Printf("      EBUSY, moved %s into /init, controllers %q, OOM kill exit 137\n", me, v2Read("/sys/fs/cgroup/cgroup.subtree_control"))
	return 0
}

// v2NothingLeft fails if a container's cgroup is left under parent.
func v2NothingLeft(parent string) error {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "box-") {
			return fmt.Errorf("%s/%s is left", parent, e.Name())
		}
	}
	return nil
}

// v2Read is a small file's content, trimmed, or "" if it cannot be read.
func v2Read(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// keyedInt is the number of key in "key value" lines.
func keyedInt(text, key string) (int64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, err := strconv.ParseInt(f[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// TestFinalStats reads two containers' cgroups live: a busy loop held to
// half a CPU under a 64m limit, and an idle sleep without limits. The CPU
// bounds are loose on purpose: they tell busy from idle and show the
// quota working, not how fast this machine is.
func TestFinalStats(t *testing.T) {
	f := newFinal(t)
	rootfs := sharedRootfs(t)
	f.detached("--name", "busy", "--no-init", "-m", "64m", "--cpus", "0.5", "--rootfs", rootfs, "sh", "-c", "while :; do :; done")
	f.detached("--name", "idle", "--no-init", "--rootfs", rootfs, "sleep", "4713")
	r := f.mustBox("stats", "--no-stream")
	rows := map[string][]string{}
	for _, line := range nonEmptyLines(r.stdout)[1:] {
		fields := strings.Fields(line)
		rows[fields[0]] = fields
	}
	// NAME ID CPU% USAGE / LIMIT MEM% PIDS
	busy, idle := rows["busy"], rows["idle"]
	if len(busy) != 8 || len(idle) != 9 {
		t.Fatalf("stats rows: want busy and idle:\n%s", r.stdout)
	}
	cpu := func(s string) float64 {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			t.Fatalf("CPU %% %q is not a percentage:\n%s", s, r.stdout)
		}
		return v
	}
	if c := cpu(busy[2]); c < 1 || c > 75 {
		t.Errorf("busy loop at --cpus 0.5 used %.1f%% CPU, want some and at most about 50%%:\n%s", c, r.stdout)
	}
	if c := cpu(idle[2]); c > 1 {
		t.Errorf("sleep used %.1f%% CPU:\n%s", c, r.stdout)
	}
	if busy[5] != "64m" || busy[7] != "1" || idle[5] != "no" || idle[8] != "1" {
		t.Errorf("want busy's limit 64m and one process each:\n%s", r.stdout)
	}
	f.mustBox("rm", "-f", "idle")
	if r := f.box("stats", "--no-stream", "idle"); r.code == 0 {
		t.Errorf("stats of a removed container should fail: %s", r)
	}
}

// cgroupNamespaceRoot is /proc/PID/cgroup as seen from inside a cgroup
// namespace rooted at PID's cgroups: every path is "/".
func cgroupNamespaceRoot(cgroups string) string {
	var out strings.Builder
	for _, line := range strings.SplitAfter(cgroups, "\n") {
		if i := strings.LastIndexByte(line, ':'); i >= 0 {
			out.WriteString(line[:i+1] + "/\n")
		}
	}
	return out.String()
}
