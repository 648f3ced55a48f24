package main

// cgroup.go puts the container in a control group of its own (cgroups(7)).
// The kernel then limits what the group may use (memory, CPU time, number
// of processes) and counts what it used. A cgroup is a directory in a
// special filesystem, and its limits and counters are the files in it.
// There are two versions of that interface, and both are here: cgroup v1
// mounts one tree per controller (/sys/fs/cgroup/memory, .../pids, ...), so
// the container gets a directory in each; cgroup v2 has one tree,
// /sys/fs/cgroup, so it gets one directory where every controller shows its
// files. Most of what differs is the files' names: see limitFiles.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// cgroupRoot is where the cgroup filesystems are mounted, in v1 and v2.
	cgroupRoot = "/sys/fs/cgroup"
	// cpuPeriod is the period of CPU quotas, in microseconds: the kernel's
	// default, 100 ms, which a new v1 cgroup starts with.
	cpuPeriod = 100000
	// minPids and minMemory are the smallest limits we accept: until it runs
	// the command, the container's first process is a copy of this Go
	// program, with a few threads (pids.max counts threads) and 6 MB.
	minPids   = 8
	minMemory = 6 << 20
)

// leftoverName matches the names of the cgroups this program makes,
// box-<id> with the 6 hex digits of its container ids, so that cleanup
// never takes the cgroup of another runtime for one of ours.
var leftoverName = regexp.MustCompile(`^box-[0-9a-f]{6}$`)

// cgroupOptions are run's resource flags, named and read as docker's.
type cgroupOptions struct {
	Memory    string `short:"m" placeholder:"SIZE" help:"Memory limit, like 100m (units k, m, g; at least 6m), with no swap on top. At the limit the kernel's OOM killer kills."`
	CPUs      string `name:"cpus" placeholder:"N" help:"CPU time the container may use, in CPUs, like 0.5 (half of one CPU)."`
	CPUWeight int64  `placeholder:"1-10000" help:"Share of CPU time when CPUs are contended, against the default 100."`
	PidsLimit int64  `placeholder:"N" help:"Most processes and threads the container may have at once; -1 for no limit."`
}

// cgroupLimits are cgroupOptions checked and converted to the kernel's
// units. Zero means not set: the kernel's default stays.
type cgroupLimits struct {
	memory     int64  // bytes
	memoryText string // as given, like 32m, to speak of it
	cpuQuota   int64  // microseconds of CPU time per cpuPeriod
	cpuWeight  int64  // 1-10000, v2's scale
	pids       int64  // processes, or -1 for no limit
}

// parse checks the flags before anything is created, so that a bad value
// costs one line of error and leaves nothing behind.
func (o cgroupOptions) parse() (cgroupLimits, error) {
	l := cgroupLimits{memoryText: o.Memory, cpuWeight: o.CPUWeight, pids: o.PidsLimit}
	var err error
	if o.Memory != "" {
		if l.memory, err = parseSize(o.Memory); err != nil {
			return l, fmt.Errorf("--memory %w", err)
		}
		if l.memory < minMemory {
			return l, fmt.Errorf("--memory %s is below the minimum of 6m: the container's first process needs that much to start", o.Memory)
		}
	}
	if o.CPUs != "" {
		if l.cpuQuota, err = cpuQuota(o.CPUs, runtime.NumCPU()); err != nil {
			return l, err
		}
	}
	if o.CPUWeight != 0 && (o.CPUWeight < 1 || o.CPUWeight > 10000) {
		return l, fmt.Errorf("--cpu-weight %d is out of range: give 1 to 10000 (the default is 100)", o.CPUWeight)
	}
	if o.PidsLimit < -1 {
		return l, fmt.Errorf("--pids-limit %d: give a number of processes, like 64, or -1 for no limit", o.PidsLimit)
	}
	if o.PidsLimit > 0 && o.PidsLimit < minPids {
		return l, fmt.Errorf("--pids-limit %d is below the minimum of %d: pids.max counts threads, and the container's first process is a Go program with a few until it runs your command", o.PidsLimit, minPids)
	}
	return l, nil
}

// sizeUnits are the units parseSize takes: docker's, powers of 1024.
var sizeUnits = map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}

// parseSize reads a size as docker does: a number, maybe with a fraction,
// and an optional unit b, k, m or g in any case, "mb" being "m".
func parseSize(s string) (int64, error) {
	lower := strings.ToLower(s)
	i := strings.IndexFunc(lower, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(lower)
	}
	mult, known := sizeUnits[lower[i:]]
	n, err := strconv.ParseFloat(lower[:i], 64)
	if !known || err != nil || n <= 0 || n*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("%q is not a size: give a number and a unit b, k, m or g, like 100m", s)
	}
	return int64(n * float64(mult)), nil
}

// cpuQuota converts --cpus into CPU time per period: 0.5 CPUs is 50 ms of
// every 100 ms, which the group's processes may use on any CPUs together.
func cpuQuota(s string, numCPU int) (int64, error) {
	cpus, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(cpus) || math.IsInf(cpus, 0) {
		return 0, fmt.Errorf("--cpus %q is not a number: give CPUs like 0.5 or 2", s)
	}
	quota := int64(math.Round(cpus * cpuPeriod))
	// The kernel takes no quota below 1 ms (kernel/sched/core.c).
	if quota < 1000 || cpus > float64(numCPU) {
		return 0, fmt.Errorf("--cpus %s is out of range: give 0.01 to %d, the CPUs of this machine", s, numCPU)
	}
	return quota, nil
}

// cpuShares converts a v2 cpu.weight (1 to 10000) into v1's cpu.shares (2
// to 262144) as runc and crun do, range onto range: only ratios matter.
func cpuShares(weight int64) int64 { return 2 + (weight-1)*262142/9999 }

// limitFile is one limit: the controller it belongs to, and the control
// file and value that set it in v1 (index 0) and in v2 (index 1).
type limitFile struct {
	controller string
	file       [2]string
	value      [2]string
	why        string
	optional   bool // the kernel may not have the file (swap accounting)
}

// limitFiles are the writes that set l. Besides the names, the versions
// count two things differently: v1's memsw is memory plus swap, v2's
// swap.max swap alone; v1's cpu.shares is v2's cpu.weight on another scale.
func (l cgroupLimits) limitFiles() []limitFile {
	var f []limitFile
	if l.memory > 0 {
		n := strconv.FormatInt(l.memory, 10)
		f = append(f, limitFile{"memory", [2]string{"memory.limit_in_bytes", "memory.max"}, [2]string{n, n},
			fmt.Sprintf("Limit memory to %s: past it the kernel reclaims what it can, then its OOM killer kills.", l.memoryText), false},
			limitFile{"memory", [2]string{"memory.memsw.limit_in_bytes", "memory.swap.max"}, [2]string{n, "0"},
				"And no swap on top of it, so the limit holds on a host that swaps (v1 counts memory plus swap, v2 swap alone).", true})
	}
	if l.cpuQuota > 0 {
		q := strconv.FormatInt(l.cpuQuota, 10)
		f = append(f, limitFile{"cpu", [2]string{"cpu.cfs_quota_us", "cpu.max"}, [2]string{q, fmt.Sprintf("%s %d", q, cpuPeriod)},
			fmt.Sprintf("Allow %s us of CPU time every %d us: past it the whole group waits, throttled.", q, cpuPeriod), false})
	}
	if l.cpuWeight > 0 {
		w, s := strconv.FormatInt(l.cpuWeight, 10), strconv.FormatInt(cpuShares(l.cpuWeight), 10)
		f = append(f, limitFile{"cpu", [2]string{"cpu.shares", "cpu.weight"}, [2]string{s, w},
			fmt.Sprintf("Weigh the group's share of busy CPUs: cpu.weight %s (default 100) is cpu.shares %s in v1 (default 1024).", w, s), false})
	}
	if l.pids != 0 {
		n := "max"
		if l.pids > 0 {
			n = strconv.FormatInt(l.pids, 10)
		}
		f = append(f, limitFile{"pids", [2]string{"pids.max", "pids.max"}, [2]string{n, n},
			"Limit processes and threads (pids.max): past it fork and clone fail with EAGAIN.", false})
	}
	return f
}

// detectCgroupVersion tells v1 from v2 as runc and systemd do, by the
// filesystem at /sys/fs/cgroup: cgroup2 is v2, a tmpfs holding a mount per
// controller is v1. A hybrid host also mounts cgroup2 at
// /sys/fs/cgroup/unified, but with no controllers: it counts as v1.
func detectCgroupVersion() (int, error) {
	explain(featCgroup, "Ask which cgroup interface the host has: cgroup2 on %s is v2, a tmpfs of v1 hierarchies is v1.", cgroupRoot)
	fsType, err := statfs(cgroupRoot)
	switch {
	case err != nil:
		return 0, err
	case fsType == unix.CGROUP2_SUPER_MAGIC:
		return 2, nil
	case fsType == unix.TMPFS_MAGIC:
		return 1, nil
	}
	return 0, fmt.Errorf("%s is neither cgroup2 nor a tmpfs of v1 hierarchies (f_type %#x); mount cgroups there first", cgroupRoot, fsType)
}

// cgroup is the container's control group: one directory in v2, one per
// hierarchy in v1.
type cgroup struct {
	version int
	name    string // box-<id>
	dirs    []cgroupDir
	limits  cgroupLimits
}

// cgroupDir is one directory of the container's cgroup, held open and
// locked with flock(2) while we run. The kernel drops a dead process's
// locks: a cgroup nobody holds was left by a runtime that was killed.
type cgroupDir struct {
	controller string // its v1 hierarchy's; "" in v2, where it has them all
	path       string
	lock       *os.File
}

// createCgroup makes the container's cgroup box-<id> and sets its limits.
// Without root, or where cgroups are mounted read-only (EROFS: docker
// mounts them so in a container started without --privileged), there is
// no cgroup (nil), and no limit may be asked for.
func createCgroup(id string, l cgroupLimits, rootless bool) (*cgroup, error) {
	limits := len(l.limitFiles()) > 0
	if rootless && limits {
		return nil, errors.New("cgroup limits need root: only root may make cgroups here; run as root, or leave out -m, --cpus, --cpu-weight and --pids-limit")
	} else if rootless {
		explain(featCgroup, "Without root we may not make cgroups: the container stays in ours, without limits.")
		return nil, nil
	}
	cg, err := makeCgroup(id, l)
	if errors.Is(err, unix.EROFS) && limits {
		return nil, fmt.Errorf("cgroup limits cannot be set: %s is mounted read-only (%v), as in a container started without --privileged; start that container with docker run --privileged ..., or leave out -m, --cpus, --cpu-weight and --pids-limit", cgroupRoot, err)
	} else if errors.Is(err, unix.EROFS) {
		explain(featCgroup, "%s is mounted read-only, as in a container started without --privileged (docker run --privileged ... makes it writable): no limit was asked for, so the container runs without a cgroup of its own.", cgroupRoot)
		return nil, nil
	}
	return cg, err
}

// makeCgroup is createCgroup as root. First it removes what killed
// runtimes left, all under a lock on /sys/fs/cgroup: no other run may take
// our new cgroup, empty and not yet locked, for a leftover.
func makeCgroup(id string, l cgroupLimits) (cg *cgroup, err error) {
	version, err := detectCgroupVersion()
	if err != nil {
		return nil, err
	}
	unlock, err := lockCgroupTree()
	if err != nil {
		return nil, err
	}
	defer unlock()
	parents := []cgroupDir{{path: v2Box}}
	if version == 2 {
		err = delegateV2(l)
	} else if parents, err = v1Parents(); err == nil {
		var have []string
		for _, p := range parents {
			have = append(have, p.controller)
		}
		err = checkControllers(l, have, "/proc/self/cgroup")
	}
	if err != nil {
		return nil, err
	}
	if _, err := removeLeftovers(parents); err != nil {
		return nil, err
	}
	cg = &cgroup{version: version, name: "box-" + id, limits: l}
	defer func() {
		if err != nil {
			cg.remove()
			cg = nil
		}
	}()
	where := "a leaf under box"
	if version == 1 {
		where = "one in each hierarchy, below our own cgroup there"
	}
	explain(featCgroup, "Make the container's cgroup, %s, and lock it while we run: a cgroup no one holds is a killed runtime's leftover.", where)
	for _, p := range parents {
		path := filepath.Join(p.path, cg.name)
		if err := mkdir(path, 0o755); err != nil {
			return cg, err
		}
		lock, err := openDir(path)
		cg.dirs = append(cg.dirs, cgroupDir{p.controller, path, lock})
		if err == nil {
			err = flock(lock, unix.LOCK_EX|unix.LOCK_NB)
		}
		if err != nil {
			return cg, err
		}
	}
	return cg, cg.setLimits()
}

// lockCgroupTree takes the lock that serializes making cgroups and
// removing leftovers, and returns how to release it.
func lockCgroupTree() (unlock func(), err error) {
	explain(featCgroup, "Lock %s while we look for leftovers and make our cgroup, so no other run takes ours for a leftover.", cgroupRoot)
	f, err := openDir(cgroupRoot)
	if err != nil {
		return nil, err
	}
	if err := flock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// v2Box is the cgroup that holds the containers' cgroups in v2.
const v2Box = cgroupRoot + "/box"

// delegateV2 makes the controllers reach the leaves under box. In v2 a
// controller reaches a cgroup only if its parent lists it in
// cgroup.subtree_control, and so on up to the root. A cgroup that holds
// processes may not do that (the "no internal processes" rule), except the
// root of the whole tree. In a privileged docker container the root we see
// is the container's own cgroup (a cgroup namespace), holding its shell,
// so the write fails with EBUSY: move those processes into a leaf, init,
// and try again, as docker-in-docker does.
func delegateV2(l cgroupLimits) error {
	explain(featCgroup, "cgroup v2: one tree for all controllers. Which may our cgroups have? Those in the root's cgroup.controllers.")
	text, err := readCgroupFile(cgroupRoot + "/cgroup.controllers")
	if err != nil {
		return err
	}
	var have []string
	for _, c := range []string{"cpu", "memory", "pids"} {
		if slices.Contains(strings.Fields(text), c) {
			have = append(have, c)
		}
	}
	if err := checkControllers(l, have, cgroupRoot+"/cgroup.controllers"); err != nil {
		return err
	}
	err = enableControllers(cgroupRoot, have)
	if errors.Is(err, unix.EBUSY) {
		explain(featCgroup, "EBUSY: this cgroup holds processes, so it may not hand controllers down (no internal processes); move them into a leaf, init.")
		if err := moveProcesses(cgroupRoot, cgroupRoot+"/init"); err != nil {
			return err
		}
		err = enableControllers(cgroupRoot, have)
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(v2Box); errors.Is(err, fs.ErrNotExist) {
		explain(featCgroup, "Make box, the cgroup our containers' cgroups go in.")
		if err := mkdir(v2Box, 0o755); err != nil {
			return err
		}
	}
	return enableControllers(v2Box, have)
}

// enableControllers lists controllers in dir's cgroup.subtree_control,
// which lets dir's children have them, unless they are there already.
func enableControllers(dir string, controllers []string) error {
	current, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(dir, "cgroup.subtree_control"), err)
	}
	var add []string
	for _, c := range controllers {
		if !slices.Contains(strings.Fields(string(current)), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	explain(featCgroup, "Let %s hand %s to its children: a controller reaches a cgroup only through its parent's cgroup.subtree_control.", dir, strings.Join(add, " "))
	return writeCgroupFile(filepath.Join(dir, "cgroup.subtree_control"), strings.Join(add, " "))
}

// moveProcesses moves every process of cgroup from into the leaf to.
func moveProcesses(from, to string) error {
	if _, err := os.Stat(to); errors.Is(err, fs.ErrNotExist) {
		if err := mkdir(to, 0o755); err != nil {
			return err
		}
	}
	procs, err := os.ReadFile(filepath.Join(from, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(from, "cgroup.procs"), err)
	}
	for _, pid := range strings.Fields(string(procs)) {
		err := writeCgroupFile(filepath.Join(to, "cgroup.procs"), pid)
		if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: it exited meanwhile
			return err
		}
	}
	return nil
}

// v1Parents finds our own cgroup in the v1 hierarchies of memory, cpu and
// pids, where the container has limits, from /proc/self/cgroup
// ("4:memory:/path"): its cgroups go below ours. Inside a container the
// mount of a hierarchy shows only the container's own cgroup, as its root:
// then that root is ours. (We leave cpuset alone: a new cpuset group
// starts with no CPUs and no memory nodes until given its parent's.)
func v1Parents() ([]cgroupDir, error) {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read our cgroups: %w", err)
	}
	var parents []cgroupDir
	for _, c := range []string{"memory", "cpu", "pids"} {
		for _, line := range strings.Split(string(own), "\n") {
			f := strings.SplitN(line, ":", 3)
			hierarchy := filepath.Join(cgroupRoot, c)
			if _, err := os.Stat(hierarchy); len(f) < 3 || err != nil || !slices.Contains(strings.Split(f[1], ","), c) {
				continue // another controller's line, or not mounted
			}
			dir := filepath.Join(hierarchy, f[2])
			if _, err := os.Stat(dir); err != nil {
				dir = hierarchy
			}
			parents = append(parents, cgroupDir{controller: c, path: dir})
		}
	}
	return parents, nil
}

// checkControllers fails if a limit needs a controller we do not have.
func checkControllers(l cgroupLimits, have []string, where string) error {
	for _, f := range l.limitFiles() {
		if !slices.Contains(have, f.controller) {
			return fmt.Errorf("the %s controller is not available here (see %s), so its limit cannot be set; leave that flag out", f.controller, where)
		}
	}
	return nil
}

// setLimits writes the limits into the control files, by this version's
// names.
func (cg *cgroup) setLimits() error {
	for _, f := range cg.limits.limitFiles() {
		path := cg.file(f.controller, f.file[cg.version-1])
		if _, err := os.Stat(path); err != nil && f.optional {
			explain(featCgroup, "This kernel does not account swap (swapaccount=0, or no swap support): swap is not limited.")
			continue
		}
		explain(featCgroup, "%s", f.why)
		if err := writeCgroupFile(path, f.value[cg.version-1]); err != nil {
			return err
		}
	}
	return nil
}

// file is the path of a control file of controller: in v2 the one
// directory has them all; in v1 "" if no hierarchy has that controller.
func (cg *cgroup) file(controller, name string) string {
	for _, d := range cg.dirs {
		if d.controller == "" || d.controller == controller {
			return filepath.Join(d.path, name)
		}
	}
	return ""
}

// start starts the container process in the cgroup. In v2, clone3 with
// CLONE_INTO_CGROUP (Linux 5.7) creates it there, so not one instruction
// of it runs outside. Otherwise it starts where we are, and waits (the sync
// pipe) while we write its pid into each hierarchy's cgroup.procs.
func (cg *cgroup) start(child *exec.Cmd) error {
	if cg == nil {
		return startProcess(child)
	}
	why := "v1"
	if cg.version == 2 {
		explain(featCgroup, "clone3 with CLONE_INTO_CGROUP creates it right in its cgroup, given the directory's fd.")
		err := startProcessInCgroup(child, cg.dirs[0].lock)
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.E2BIG) {
			return err
		}
		child.SysProcAttr.UseCgroupFD = false
		why = "this kernel is older than 5.7, which brought CLONE_INTO_CGROUP"
		if err := startProcess(child); err != nil {
			return err
		}
	} else if err := startProcess(child); err != nil {
		return err
	}
	explain(featCgroup, "Move the container process into its cgroup (%s): write its pid into cgroup.procs, while it waits.", why)
	for _, d := range cg.dirs {
		if err := writeCgroupFile(filepath.Join(d.path, "cgroup.procs"), strconv.Itoa(child.Process.Pid)); err != nil {
			_ = child.Process.Kill()
			_ = child.Wait()
			return err
		}
	}
	return nil
}

// reportOOM says in one line when the kernel's OOM killer killed in the
// container, which is why it exits 137 (128 + SIGKILL) without a word from
// the command. The kernel counts the kills: oom_kill in memory.events (v2)
// or memory.oom_control (v1).
func (cg *cgroup) reportOOM(status int) {
	if cg == nil || cg.limits.memory == 0 {
		return
	}
	file := map[int]string{1: "memory.oom_control", 2: "memory.events"}[cg.version]
	explain(featCgroup, "Did the OOM killer kill in %s? The kernel counts it in %s.", cg.name, file)
	text, _ := readCgroupFile(cg.file("memory", file))
	kills := 0
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			kills, _ = strconv.Atoi(f[1])
		}
	}
	if kills == 0 {
		return
	}
	how := ""
	if status == 128+int(unix.SIGKILL) {
		how = ", so it exits 137 (128 + SIGKILL)"
	}
	fmt.Fprintf(os.Stderr, "%s: the container reached its memory limit of %s: the kernel's OOM killer killed %d process(es)%s\n",
		programName(), cg.limits.memoryText, kills, how)
}

// remove deletes the container's cgroup. rmdir fails (EBUSY) while a
// process is in it, and when the container's first process has exited the
// kernel may still be ending the rest: wait until it is empty. A failure is
// reported, not returned: the container's exit code stays the runtime's.
func (cg *cgroup) remove() {
	if cg == nil || len(cg.dirs) == 0 {
		return
	}
	explain(featCgroup, "Remove the container's cgroup, once its last process has left.")
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		d := cg.dirs[i]
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if procs, err := os.ReadFile(filepath.Join(d.path, "cgroup.procs")); err != nil || len(procs) == 0 {
				break
			}
		}
		if err := rmdirCgroup(d.path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v; run: %s cleanup\n", programName(), err, programName())
		}
		if d.lock != nil {
			d.lock.Close()
		}
	}
	cg.dirs = nil
}

// removeLeftovers removes the cgroups that killed runtimes left in
// parents. The kernel killed their containers (Pdeathsig), so they are
// empty, and dropped their runtimes' locks. One with processes is a running
// container's, passed over without a word; an empty one is a leftover if we
// can lock it (a runtime removing its own still holds the lock).
func removeLeftovers(parents []cgroupDir) (removed []string, err error) {
	for _, p := range parents {
		entries, err := os.ReadDir(p.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return removed, fmt.Errorf("list %s: %w", p.path, err)
		}
		for _, e := range entries {
			dir := filepath.Join(p.path, e.Name())
			if procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); !leftoverName.MatchString(e.Name()) || err != nil || len(procs) > 0 {
				continue
			}
			explain(featCgroup, "%s has no processes: if no runtime holds its lock, a killed runtime left it. Lock it and remove it.", dir)
			f, err := openDir(dir)
			if err == nil {
				if err = flock(f, unix.LOCK_EX|unix.LOCK_NB); err == nil {
					err = rmdirCgroup(dir)
				}
				f.Close()
			}
			switch {
			case err == nil:
				removed = append(removed, dir)
			case !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY):
				return removed, err // else a running runtime's, gone meanwhile, or a process went in
			}
		}
	}
	return removed, nil
}

// removeCgroupLeftovers removes the cgroups of runtimes that were killed
// (kill -9) before they could; run does the same before each container.
func removeCgroupLeftovers() ([]string, error) {
	version, err := detectCgroupVersion()
	if err != nil {
		return nil, err
	}
	unlock, err := lockCgroupTree()
	if err != nil {
		return nil, err
	}
	defer unlock()
	parents := []cgroupDir{{path: v2Box}}
	if version == 1 {
		if parents, err = v1Parents(); err != nil {
			return nil, err
		}
	}
	return removeLeftovers(parents)
}
