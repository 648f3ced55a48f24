package main

// cgroup.go puts the container in a control group of its own (cgroups(7)).
// The kernel then limits what the group may use (memory, CPU time, number
// of processes), counts what it used, and can freeze it. A cgroup is a
// directory in a special filesystem, and its limits and counters are the
// files in it. There are two versions of that interface, and both are here,
// side by side: cgroup v1 mounts one tree per controller
// (/sys/fs/cgroup/memory, /sys/fs/cgroup/pids, ...), so the container gets a
// directory in each; cgroup v2 has one tree, /sys/fs/cgroup, so it gets one
// directory where every controller shows its files.

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

// cgroupRoot is where the cgroup filesystems are mounted, in v1 and v2.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupPrefix starts the name of every container's cgroup, box-<id>.
const cgroupPrefix = "box-"

// leftoverName matches the names of the cgroups this program makes, with
// the 6 hex digits of its container ids, so that cleanup never takes the
// cgroups of another runtime with a similar name for ours.
var leftoverName = regexp.MustCompile(`^box-[0-9a-f]{6}$`)

// cpuPeriod is the period CPU quotas are measured in, in microseconds:
// the kernel's default and docker's, 100 ms.
const cpuPeriod = 100000

// minPids is the smallest --pids-limit we accept. pids.max counts
// threads, and until it runs the command, the container's first process is
// a copy of this Go program, whose runtime starts about five threads and
// dies if it cannot start one more.
const minPids = 8

// minMemory is the smallest memory limit we accept, as docker does: with
// less, the container's first process (a copy of this Go program) may be
// killed before it gets to run the command.
const minMemory = 6 << 20

// cgroupOptions are run's resource flags, named and read as docker's.
type cgroupOptions struct {
	Memory      string        `short:"m" placeholder:"SIZE" help:"Memory limit, like 100m (units b, k, m, g; at least 6m). At the limit the kernel's OOM killer kills."`
	MemorySwap  string        `placeholder:"SIZE" help:"Memory plus swap, like 200m, or -1 for unlimited swap (default: twice --memory, as docker)."`
	CPUs        string        `name:"cpus" placeholder:"N" help:"CPU time the container may use, in CPUs, like 0.5 (half of one CPU)."`
	CPUWeight   int64         `placeholder:"1-10000" help:"Share of CPU time when CPUs are contended, against the default 100."`
	PidsLimit   int64         `placeholder:"N" help:"Most processes and threads the container may have at once; -1 for no limit."`
	FreezeAfter time.Duration `placeholder:"DURATION" help:"Freeze the container this long after it starts, like 1s, to see that a frozen group uses no CPU."`
	FreezeFor   time.Duration `default:"2s" placeholder:"DURATION" help:"How long --freeze-after keeps the container frozen before thawing it."`
}

// cgroupLimits are cgroupOptions checked and converted to the kernel's
// units. Zero means not set: the kernel's default stays.
type cgroupLimits struct {
	memory      int64 // bytes
	memorySwap  int64 // bytes of memory plus swap, or -1 for unlimited swap
	cpuQuota    int64 // microseconds of CPU time per cpuPeriod
	cpuWeight   int64 // 1-10000, v2's scale
	pids        int64 // processes, or -1 for no limit
	freezeAfter time.Duration
	freezeFor   time.Duration
}

// parse checks the flags before anything is created, so that a bad value
// costs one line of error and leaves nothing behind.
func (o cgroupOptions) parse() (cgroupLimits, error) {
	var l cgroupLimits
	var err error
	if o.Memory != "" {
		if l.memory, err = parseSize(o.Memory); err != nil {
			return l, fmt.Errorf("--memory %w", err)
		}
		if l.memory < minMemory {
			return l, fmt.Errorf("--memory %s is below the minimum of 6m: the container's first process needs that much to start", o.Memory)
		}
	}
	switch {
	case o.MemorySwap == "" && l.memory > 0:
		l.memorySwap = 2 * l.memory // docker: as much swap as memory
	case o.MemorySwap == "":
	case l.memory == 0:
		return l, errors.New("--memory-swap needs --memory: it is memory plus swap, like -m 100m --memory-swap 200m")
	case o.MemorySwap == "-1":
		l.memorySwap = -1
	default:
		if l.memorySwap, err = parseSize(o.MemorySwap); err != nil {
			return l, fmt.Errorf("--memory-swap %w", err)
		}
		if l.memorySwap < l.memory {
			return l, fmt.Errorf("--memory-swap %s is less than --memory %s: it is memory plus swap, so give at least as much, or -1 for unlimited swap", o.MemorySwap, o.Memory)
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
	l.cpuWeight = o.CPUWeight
	if o.PidsLimit < -1 {
		return l, fmt.Errorf("--pids-limit %d: give a number of processes, like 64, or -1 for no limit", o.PidsLimit)
	}
	if o.PidsLimit > 0 && o.PidsLimit < minPids {
		return l, fmt.Errorf("--pids-limit %d is below the minimum of %d: pids.max counts threads, and the container's first process is a Go program with a few until it runs your command", o.PidsLimit, minPids)
	}
	l.pids = o.PidsLimit
	if o.FreezeAfter < 0 || o.FreezeFor <= 0 {
		return l, errors.New("--freeze-after and --freeze-for take positive durations, like --freeze-after 1s --freeze-for 2s")
	}
	l.freezeAfter, l.freezeFor = o.FreezeAfter, o.FreezeFor
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
	number, unit := lower[:i], lower[i:]
	mult, known := sizeUnits[unit]
	n, err := strconv.ParseFloat(number, 64)
	if !known || err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size: give a number and a unit b, k, m or g, like 100m", s)
	}
	if n*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
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

// cpuShares converts a v2 cpu.weight (1 to 10000, default 100) into v1's
// cpu.shares (2 to 262144, default 1024) with the linear map that runc and
// crun use. It maps range onto range, so the defaults do not meet: weight
// 100 is 2597 shares. Only the ratio between groups matters.
func cpuShares(weight int64) int64 { return 2 + (weight-1)*262142/9999 }

// controllers are the controllers the limits need.
func (l cgroupLimits) controllers() []string {
	var need []string
	if l.memory != 0 {
		need = append(need, "memory")
	}
	if l.cpuQuota != 0 || l.cpuWeight != 0 {
		need = append(need, "cpu")
	}
	if l.pids != 0 {
		need = append(need, "pids")
	}
	return need
}

// cgroupWrite is one value written into a control file to set a limit.
type cgroupWrite struct {
	controller string // whose hierarchy the file is in, for v1
	file       string
	value      string
	why        string // the explanation before it; "" goes on with the last
}

// v2Writes are the writes that set l in a v2 cgroup. swapFile tells
// whether the kernel accounts swap (memory.swap.max exists).
func (l cgroupLimits) v2Writes(swapFile bool) []cgroupWrite {
	var w []cgroupWrite
	if l.memory > 0 {
		w = append(w, cgroupWrite{"memory", "memory.max", strconv.FormatInt(l.memory, 10),
			fmt.Sprintf("Limit memory to %s: past memory.max the kernel reclaims what it can, then its OOM killer kills.", formatSize(l.memory))})
		// v2 limits swap alone; docker's --memory-swap is memory plus swap.
		swap := "max"
		if l.memorySwap > 0 {
			swap = strconv.FormatInt(l.memorySwap-l.memory, 10)
		}
		if swapFile {
			w = append(w, cgroupWrite{"memory", "memory.swap.max", swap,
				"Limit swap (memory.swap.max is swap alone: docker's --memory-swap minus --memory)."})
		}
	}
	if l.cpuQuota > 0 {
		w = append(w, cgroupWrite{"cpu", "cpu.max", fmt.Sprintf("%d %d", l.cpuQuota, cpuPeriod),
			fmt.Sprintf("Allow %d us of CPU time every %d us (cpu.max): past it the whole group waits, throttled.", l.cpuQuota, cpuPeriod)})
	}
	if l.cpuWeight > 0 {
		w = append(w, cgroupWrite{"cpu", "cpu.weight", strconv.FormatInt(l.cpuWeight, 10),
			"Weigh the group's share of busy CPUs against the default 100 (cpu.weight)."})
	}
	if l.pids != 0 {
		w = append(w, cgroupWrite{"pids", "pids.max", pidsValue(l.pids, "max"),
			"Limit processes and threads (pids.max): past it fork and clone fail with EAGAIN."})
	}
	return w
}

// v1Writes are the writes that set l in v1 hierarchies. swapFile tells
// whether memory.memsw.limit_in_bytes exists.
func (l cgroupLimits) v1Writes(swapFile bool) []cgroupWrite {
	var w []cgroupWrite
	if l.memory > 0 {
		w = append(w, cgroupWrite{"memory", "memory.limit_in_bytes", strconv.FormatInt(l.memory, 10),
			fmt.Sprintf("Limit memory to %s: past memory.limit_in_bytes the kernel reclaims what it can, then its OOM killer kills.", formatSize(l.memory))})
		if swapFile {
			// The kernel refuses memsw below the memory limit, so it comes second.
			w = append(w, cgroupWrite{"memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(l.memorySwap, 10),
				"Limit memory plus swap (memory.memsw.limit_in_bytes, never below the memory limit)."})
		}
	}
	if l.cpuQuota > 0 {
		w = append(w,
			cgroupWrite{"cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriod),
				fmt.Sprintf("Allow %d us of CPU time every %d us (CFS bandwidth): past it the whole group waits, throttled.", l.cpuQuota, cpuPeriod)},
			cgroupWrite{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(l.cpuQuota, 10), ""})
	}
	if l.cpuWeight > 0 {
		w = append(w, cgroupWrite{"cpu", "cpu.shares", strconv.FormatInt(cpuShares(l.cpuWeight), 10),
			fmt.Sprintf("Weigh the group's share of busy CPUs: cpu.weight %d is cpu.shares %d in v1 (default 1024).", l.cpuWeight, cpuShares(l.cpuWeight))})
	}
	if l.pids != 0 {
		w = append(w, cgroupWrite{"pids", "pids.max", pidsValue(l.pids, "max"),
			"Limit processes and threads (pids.max): past it fork and clone fail with EAGAIN."})
	}
	return w
}

// pidsValue is n for pids.max, or unlimited for -1.
func pidsValue(n int64, unlimited string) string {
	if n < 0 {
		return unlimited
	}
	return strconv.FormatInt(n, 10)
}

// formatSize prints bytes the way --memory takes them: 100m, 1.5g, 4096.
func formatSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		switch {
		case n >= u.size && n%u.size == 0:
			return strconv.FormatInt(n/u.size, 10) + u.unit
		case n >= u.size:
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

// cgroupVersion is the interface the host mounts: 1 or 2.
type cgroupVersion int

// detectCgroupVersion tells v1 from v2 as runc and systemd do, by the
// filesystem at /sys/fs/cgroup: cgroup2 is v2, a tmpfs holding a mount per
// controller is v1. A hybrid host also mounts cgroup2 at
// /sys/fs/cgroup/unified, but with no controllers: it counts as v1.
func detectCgroupVersion() (cgroupVersion, error) {
	explain(featCgroup, "Ask which cgroup interface the host has: cgroup2 on %s is v2, a tmpfs of v1 hierarchies is v1.", cgroupRoot)
	fsType, err := statfs(cgroupRoot)
	if err != nil {
		return 0, err
	}
	switch fsType {
	case unix.CGROUP2_SUPER_MAGIC:
		return 2, nil
	case unix.TMPFS_MAGIC:
		return 1, nil
	}
	return 0, fmt.Errorf("%s is neither cgroup2 nor a tmpfs of v1 hierarchies (f_type %#x); mount cgroups there first", cgroupRoot, fsType)
}

// cgroup is the container's control group: one directory in v2, one per
// hierarchy in v1. Each is held open and locked with flock(2) while we run,
// which is how a later run tells them from the leftovers of a runtime that
// was killed: the kernel drops a dead process's locks.
type cgroup struct {
	version cgroupVersion
	name    string // box-<id>
	dirs    []cgroupDir
	limits  cgroupLimits
}

// cgroupDir is one directory of the container's cgroup.
type cgroupDir struct {
	path        string   // /sys/fs/cgroup/box/box-<id>, or .../memory/<ours>/box-<id>
	controllers []string // the controllers it has files of
	lock        *os.File // the directory, open and locked
}

// createCgroup makes the container's cgroup box-<id> and sets its limits.
// First it removes what killed runtimes left behind. A lock on
// /sys/fs/cgroup, which every run takes for this, keeps two runs from
// taking each other's new, still empty cgroup for a leftover. Without root
// there is no cgroup (nil), and no limit may be asked for.
func createCgroup(id string, l cgroupLimits, rootless bool) (cg *cgroup, err error) {
	if rootless {
		if len(l.controllers()) > 0 || l.freezeAfter > 0 {
			return nil, errors.New("cgroup limits need root: only root may make cgroups here; run as root, or leave out -m, --cpus, --cpu-weight, --pids-limit and --freeze-after")
		}
		explain(featCgroup, "Without root we may not make cgroups: the container stays in ours, without limits or accounting.")
		return nil, nil
	}
	version, err := detectCgroupVersion()
	if err != nil {
		return nil, err
	}
	unlock, err := lockCgroupTree()
	if err != nil {
		return nil, err
	}
	defer unlock()
	cg = &cgroup{version: version, name: cgroupPrefix + id, limits: l}
	defer func() {
		if err != nil {
			cg.remove()
			cg = nil
		}
	}()
	if version == 2 {
		err = cg.createV2()
	} else {
		err = cg.createV1()
	}
	if errors.Is(err, unix.EROFS) {
		cg.remove()
		return nil, withoutCgroup(l, err)
	}
	return cg, err
}

// withoutCgroup handles cgroups mounted read-only (EROFS), as docker mounts
// them in a container started without --privileged: a run that asked for
// no limit goes on without a cgroup, and says so; one that did gets one
// line saying how to start that container instead.
func withoutCgroup(l cgroupLimits, err error) error {
	if len(l.controllers()) > 0 || l.freezeAfter > 0 {
		return fmt.Errorf("cgroup limits cannot be set: %s is mounted read-only (%v), as in a container started without --privileged; start that container with docker run --privileged ..., or leave out -m, --cpus, --cpu-weight, --pids-limit and --freeze-after", cgroupRoot, err)
	}
	explain(featCgroup, "%s is mounted read-only, as in a container started without --privileged (docker run --privileged ... makes it writable): no limit was asked for, so the container runs without a cgroup of its own, with no accounting.", cgroupRoot)
	return nil
}

// lockCgroupTree takes the lock that serializes creating cgroups and
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

// v2Controllers are the controllers a v2 container's cgroup gets: cpu for
// cpu.max and cpu.weight, memory, and pids. Freezing needs none.
var v2Controllers = []string{"cpu", "memory", "pids"}

// v2Parent is the cgroup that holds the containers' cgroups in v2.
const v2Parent = cgroupRoot + "/box"

// createV2 makes /sys/fs/cgroup/box/box-<id>. In v2 a controller reaches
// a cgroup only if its parent lists it in cgroup.subtree_control, and so on
// up to the root. Containers live in leaves under box, a cgroup of ours.
func (cg *cgroup) createV2() error {
	explain(featCgroup, "cgroup v2: one tree for all controllers. Which may our cgroups have? Those in the root's cgroup.controllers.")
	text, err := readCgroupFile(cgroupRoot + "/cgroup.controllers")
	if err != nil {
		return err
	}
	available := strings.Fields(text)
	var controllers []string
	for _, c := range v2Controllers {
		if slices.Contains(available, c) {
			controllers = append(controllers, c)
		}
	}
	if err := checkControllers(cg.limits, controllers, cgroupRoot+"/cgroup.controllers"); err != nil {
		return err
	}
	if err := delegateV2(controllers); err != nil {
		return err
	}
	if _, err := removeLeftovers([]string{v2Parent}); err != nil {
		return err
	}
	explain(featCgroup, "Make the container's cgroup, a leaf under box: its files are the controllers' knobs and counters.")
	dir, err := makeCgroupDir(filepath.Join(v2Parent, cg.name), controllers)
	if err != nil {
		return err
	}
	cg.dirs = []cgroupDir{dir}
	_, swapErr := os.Stat(filepath.Join(dir.path, "memory.swap.max"))
	return cg.writeLimits(cg.limits.v2Writes(swapErr == nil), swapErr == nil)
}

// delegateV2 makes the controllers reach the leaves under box: the root
// and box list them in cgroup.subtree_control. A cgroup that holds
// processes may not do that (the "no internal processes" rule), except
// the root of the whole tree. In a privileged docker container the root we
// see is the container's own cgroup (a cgroup namespace), holding its
// shell, so the write fails with EBUSY: move those processes into a leaf,
// init, and try again, as docker-in-docker does.
func delegateV2(controllers []string) error {
	err := enableControllers(cgroupRoot, controllers)
	if errors.Is(err, unix.EBUSY) {
		explain(featCgroup, "EBUSY: this cgroup holds processes, so it may not hand controllers down (no internal processes); move them into a leaf, init.")
		if err := moveProcesses(cgroupRoot, cgroupRoot+"/init"); err != nil {
			return err
		}
		err = enableControllers(cgroupRoot, controllers)
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(v2Parent); errors.Is(err, fs.ErrNotExist) {
		explain(featCgroup, "Make box, the cgroup our containers' cgroups go in.")
		if err := mkdirCgroup(v2Parent); err != nil {
			return err
		}
	}
	return enableControllers(v2Parent, controllers)
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
		if err := mkdirCgroup(to); err != nil {
			return err
		}
	}
	pids, err := cgroupProcs(from)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		err := writeCgroupFile(filepath.Join(to, "cgroup.procs"), strconv.Itoa(pid))
		if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: it exited meanwhile
			return err
		}
	}
	return nil
}

// v1Controllers are the v1 hierarchies a container gets a directory in:
// the three it has limits in, cpuacct for its CPU time and freezer for
// freezing. We set no cpuset, devices or blkio limits, so we leave those
// alone (a new cpuset group would start with no CPUs and no memory nodes:
// cpuset.cpus and cpuset.mems would have to be copied from its parent).
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "freezer"}

// v1Hierarchy is one mounted v1 hierarchy and where our cgroups go in it.
type v1Hierarchy struct {
	controllers []string // from v1Controllers: cpu, or cpu and cpuacct when mounted together
	parent      string   // the directory of our own cgroup in it
}

// createV1 makes box-<id> in each hierarchy, below our own cgroup there.
func (cg *cgroup) createV1() error {
	hierarchies, err := findV1Hierarchies()
	if err != nil {
		return err
	}
	var have, parents []string
	for _, h := range hierarchies {
		have = append(have, h.controllers...)
		parents = append(parents, h.parent)
	}
	if err := checkControllers(cg.limits, have, "/proc/self/mountinfo"); err != nil {
		return err
	}
	if cg.limits.freezeAfter > 0 && !slices.Contains(have, "freezer") {
		return errors.New("--freeze-after needs the freezer controller, which is not mounted here")
	}
	if _, err := removeLeftovers(parents); err != nil {
		return err
	}
	explain(featCgroup, "Make the container's cgroup in each v1 hierarchy, below our own cgroup there (/proc/self/cgroup).")
	for _, h := range hierarchies {
		dir, err := makeCgroupDir(filepath.Join(h.parent, cg.name), h.controllers)
		if err != nil {
			return err
		}
		cg.dirs = append(cg.dirs, dir)
	}
	swapPath := cg.file("memory", "memory.memsw.limit_in_bytes")
	_, swapErr := os.Stat(swapPath)
	swapFile := swapPath != "" && swapErr == nil
	return cg.writeLimits(cg.limits.v1Writes(swapFile), swapFile)
}

// checkControllers fails if a limit needs a controller we do not have.
func checkControllers(l cgroupLimits, have []string, where string) error {
	for _, c := range l.controllers() {
		if !slices.Contains(have, c) {
			return fmt.Errorf("the %s controller is not available here (see %s), so its limit cannot be set; leave that flag out", c, where)
		}
	}
	return nil
}

// findV1Hierarchies finds each v1 controller's mount, and our own cgroup
// in it from /proc/self/cgroup.
func findV1Hierarchies() ([]v1Hierarchy, error) {
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read our cgroups: %w", err)
	}
	return parseV1Hierarchies(string(mountinfo), string(own)), nil
}

// parseV1Hierarchies matches cgroup mounts ("... /root /mountpoint ... -
// cgroup cgroup rw,cpu,cpuacct") with our cgroups ("4:cpu,cpuacct:/path").
// The path in /proc/self/cgroup is from the top of the hierarchy, but a
// mount may show only a subtree, its root (inside a container, its own
// cgroup): our directory is the path relative to that root.
func parseV1Hierarchies(mountinfo, ownCgroups string) []v1Hierarchy {
	type mount struct{ root, point, options string }
	var mounts []mount
	for _, line := range strings.Split(mountinfo, "\n") {
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep < 5 || len(fields) < sep+4 || fields[sep+1] != "cgroup" {
			continue
		}
		mounts = append(mounts, mount{root: fields[3], point: fields[4], options: fields[sep+3]})
	}
	own := map[string]string{} // controller -> our path
	for _, line := range strings.Split(ownCgroups, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				own[c] = parts[2]
			}
		}
	}
	var hierarchies []v1Hierarchy
	byPoint := map[string]int{}
	for _, c := range v1Controllers {
		i := slices.IndexFunc(mounts, func(m mount) bool { return slices.Contains(strings.Split(m.options, ","), c) })
		path, ok := own[c]
		if i < 0 || !ok {
			continue
		}
		m := mounts[i]
		if j, seen := byPoint[m.point]; seen {
			hierarchies[j].controllers = append(hierarchies[j].controllers, c)
			continue
		}
		rel := "/"
		switch {
		case m.root == "/":
			rel = path
		case strings.HasPrefix(path, m.root+"/"):
			rel = strings.TrimPrefix(path, m.root)
		}
		byPoint[m.point] = len(hierarchies)
		hierarchies = append(hierarchies, v1Hierarchy{controllers: []string{c}, parent: filepath.Join(m.point, rel)})
	}
	return hierarchies
}

// makeCgroupDir creates the directory of one cgroup, opens and locks it.
func makeCgroupDir(path string, controllers []string) (cgroupDir, error) {
	if err := mkdirCgroup(path); err != nil {
		return cgroupDir{}, err
	}
	f, err := openDir(path)
	if err == nil {
		err = flock(f, unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		_ = rmdirCgroup(path)
		return cgroupDir{}, err
	}
	return cgroupDir{path: path, controllers: controllers, lock: f}, nil
}

// writeLimits writes the limits into the control files.
func (cg *cgroup) writeLimits(writes []cgroupWrite, swapFile bool) error {
	if cg.limits.memory > 0 && !swapFile {
		explain(featCgroup, "This kernel does not account swap (swapaccount=0, or no swap support): swap is not limited.")
	}
	for _, w := range writes {
		if w.why != "" {
			explain(featCgroup, "%s", w.why)
		}
		if err := writeCgroupFile(cg.file(w.controller, w.file), w.value); err != nil {
			return err
		}
	}
	return nil
}

// file is the path of a control file of controller: in v2 the one
// directory has them all; in v1 "" if no hierarchy has that controller.
func (cg *cgroup) file(controller, name string) string {
	for _, d := range cg.dirs {
		if cg.version == 2 || slices.Contains(d.controllers, controller) {
			return filepath.Join(d.path, name)
		}
	}
	return ""
}

// startsInCgroup tells whether the container process can be created in its
// cgroup: clone3(2) with CLONE_INTO_CGROUP, which needs v2 and Linux 5.7.
func (cg *cgroup) startsInCgroup() bool {
	return cg.version == 2 && kernelAtLeast(5, 7)
}

// start starts the container process in the cgroup. With CLONE_INTO_CGROUP
// the kernel creates it there, so not one instruction of it runs outside.
// Otherwise it starts where we are and must wait (the sync pipe) until
// place has moved it in.
func (cg *cgroup) start(child *exec.Cmd) error {
	if cg == nil {
		return startProcess(child)
	}
	if cg.startsInCgroup() {
		explain(featCgroup, "clone3 with CLONE_INTO_CGROUP creates it right in its cgroup, given the directory's fd.")
		return startProcessInCgroup(child, cg.dirs[0].lock)
	}
	if err := startProcess(child); err != nil {
		return err
	}
	if err := cg.place(child.Process.Pid); err != nil {
		_ = killProcess(child.Process.Pid, unix.SIGKILL)
		_ = child.Wait()
		return err
	}
	return nil
}

// place moves the process pid into the cgroup, in every hierarchy.
func (cg *cgroup) place(pid int) error {
	why := "v1"
	if cg.version == 2 {
		why = "this kernel has no CLONE_INTO_CGROUP (Linux 5.7)"
	}
	explain(featCgroup, "Move the container process into its cgroup (%s): write its pid into cgroup.procs, while it waits.", why)
	for _, d := range cg.dirs {
		if err := writeCgroupFile(filepath.Join(d.path, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// freezeLater freezes the container freezeAfter after it started, keeps
// it frozen for freezeFor and thaws it, showing on the way that a frozen
// group uses no CPU time. The returned stop cancels what has not happened
// yet, thaws if needed, and returns once nothing more will be narrated.
func (cg *cgroup) freezeLater() (stop func()) {
	if cg == nil || cg.limits.freezeAfter == 0 {
		return func() {}
	}
	cancel, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-time.After(cg.limits.freezeAfter):
		case <-cancel:
			return
		}
		err := cg.setFrozen(true)
		if err == nil {
			before := cg.cpuTime()
			select {
			case <-time.After(cg.limits.freezeFor):
			case <-cancel:
			}
			explain(featCgroup, "While frozen, its CPU time went from %v to %v: the kernel did not run it at all.", before, cg.cpuTime())
			err = cg.setFrozen(false)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
		}
	}()
	return func() {
		close(cancel)
		<-finished
	}
}

// setFrozen freezes or thaws the cgroup, and waits until the kernel says
// it is done: freezing stops each process at its next return to user
// space, which takes a moment. v2 has cgroup.freeze in every cgroup, with
// the state in cgroup.events; v1 has the freezer controller's freezer.state.
func (cg *cgroup) setFrozen(frozen bool) error {
	file, value, stateFile, state := "cgroup.freeze", "0", "cgroup.events", "frozen 0"
	if cg.version == 1 {
		file, value, stateFile, state = "freezer.state", "THAWED", "freezer.state", "THAWED"
	}
	if frozen {
		explain(featCgroup, "Freeze the container: its processes stop where they are, and stay stopped until thawed.")
		value, state = "1", "frozen 1"
		if cg.version == 1 {
			value, state = "FROZEN", "FROZEN"
		}
	} else {
		explain(featCgroup, "Thaw it: its processes go on from where they stopped.")
	}
	if err := writeCgroupFile(cg.file("freezer", file), value); err != nil {
		return err
	}
	stateFile = cg.file("freezer", stateFile)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(stateFile); err == nil && slices.Contains(strings.Fields(strings.ReplaceAll(string(b), " ", "_")), strings.ReplaceAll(state, " ", "_")) {
			break
		}
	}
	_, err := readCgroupFile(stateFile)
	return err
}

// cpuTime is the CPU time the cgroup has used so far, or -1 if unknown.
func (cg *cgroup) cpuTime() time.Duration {
	if cg.version == 2 {
		b, err := os.ReadFile(cg.file("cpu", "cpu.stat"))
		if n, ok := keyedValue(string(b), "usage_usec"); err == nil && ok {
			return time.Duration(n) * time.Microsecond
		}
		return -1
	}
	b, err := os.ReadFile(cg.file("cpuacct", "cpuacct.usage"))
	if n, ok := keyedValue(string(b), ""); err == nil && ok {
		return time.Duration(n)
	}
	return -1
}

// usage is what the kernel counted for the container; -1 where it does
// not count that.
type usage struct {
	peakMemory int64 // bytes
	cpuTime    time.Duration
	peakPids   int64
	oomKills   int64 // processes the OOM killer killed
	memoryMax  int64 // times the memory use hit the limit
	pidsMax    int64 // forks refused at pids.max
	throttled  int64 // periods in which the group used up its CPU quota
}

// counter says where the kernel keeps one count: a file holding a number,
// or a "key value" line in a file like cpu.stat.
type counter struct {
	controller, file, key string
	set                   func(u *usage, n int64)
}

// counters are where each version keeps the counts of usage.
var counters = map[cgroupVersion][]counter{
	1: {
		{"memory", "memory.max_usage_in_bytes", "", func(u *usage, n int64) { u.peakMemory = n }},
		{"memory", "memory.failcnt", "", func(u *usage, n int64) { u.memoryMax = n }},
		{"memory", "memory.oom_control", "oom_kill", func(u *usage, n int64) { u.oomKills = n }},
		{"cpuacct", "cpuacct.usage", "", func(u *usage, n int64) { u.cpuTime = time.Duration(n) }},
		{"cpu", "cpu.stat", "nr_throttled", func(u *usage, n int64) { u.throttled = n }},
		{"pids", "pids.peak", "", func(u *usage, n int64) { u.peakPids = n }},
		{"pids", "pids.events", "max", func(u *usage, n int64) { u.pidsMax = n }},
	},
	2: {
		{"memory", "memory.peak", "", func(u *usage, n int64) { u.peakMemory = n }},
		{"memory", "memory.events", "max", func(u *usage, n int64) { u.memoryMax = n }},
		{"memory", "memory.events", "oom_kill", func(u *usage, n int64) { u.oomKills = n }},
		{"cpu", "cpu.stat", "usage_usec", func(u *usage, n int64) { u.cpuTime = time.Duration(n) * time.Microsecond }},
		{"cpu", "cpu.stat", "nr_throttled", func(u *usage, n int64) { u.throttled = n }},
		{"pids", "pids.peak", "", func(u *usage, n int64) { u.peakPids = n }},
		{"pids", "pids.events", "max", func(u *usage, n int64) { u.pidsMax = n }},
	},
}

// usage reads the counters, showing each file as the kernel wrote it.
func (cg *cgroup) usage() usage {
	u := usage{-1, -1, -1, -1, -1, -1, -1}
	read := map[string]string{}
	for _, c := range counters[cg.version] {
		path := cg.file(c.controller, c.file)
		text, done := read[path]
		if !done {
			if _, err := os.Stat(path); path == "" || err != nil {
				continue // not counted by this kernel
			}
			text, _ = readCgroupFile(path)
			read[path] = text
		}
		if n, ok := keyedValue(text, c.key); ok {
			c.set(&u, n)
		}
	}
	return u
}

// keyedValue finds the number for key in "key value" lines, or the whole
// text's number for key "".
func keyedValue(text, key string) (int64, bool) {
	if key == "" {
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		return n, err == nil
	}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, err := strconv.ParseInt(f[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// String is the one line of accounting printed at exit.
func (u usage) String() string {
	var parts []string
	add := func(n int64, format string, args ...any) {
		if n >= 0 {
			parts = append(parts, fmt.Sprintf(format, args...))
		}
	}
	add(u.peakMemory, "peak memory %s (%d bytes)", formatSize(u.peakMemory), u.peakMemory)
	add(int64(u.cpuTime), "CPU time %v", u.cpuTime)
	add(u.peakPids, "peak processes %d", u.peakPids)
	add(u.oomKills, "OOM kills %d", u.oomKills)
	add(u.memoryMax, "memory limit reached %d times", u.memoryMax)
	add(u.pidsMax, "forks refused %d", u.pidsMax)
	add(u.throttled, "throttled periods %d", u.throttled)
	return strings.Join(parts, ", ")
}

// report prints what the kernel counted for the container, and one line
// when the OOM killer killed in it, which is why a container exits 137
// (128 + SIGKILL) without a word from the command.
func (cg *cgroup) report(status int) {
	if cg == nil {
		return
	}
	explain(featCgroup, "Read what the kernel counted for %s.", cg.name)
	u := cg.usage()
	explain(featCgroup, "Accounting: %s.", u)
	if u.oomKills <= 0 {
		return
	}
	limit := "the memory limit"
	if cg.limits.memory > 0 {
		limit = "its memory limit of " + formatSize(cg.limits.memory)
	}
	how := ""
	if status == 128+int(unix.SIGKILL) {
		how = ", so it exits 137 (128 + SIGKILL)"
	}
	fmt.Fprintf(os.Stderr, "%s: the container reached %s: the kernel's OOM killer killed %d process(es)%s\n",
		programName(), limit, u.oomKills, how)
}

// remove deletes the container's cgroup. A cgroup with processes cannot be
// removed (EBUSY), and when the container's first process has exited, the
// kernel is still killing the rest of its PID namespace: wait until the
// cgroup is empty, then rmdir. A failure is reported, not returned: the
// container's exit code stays the runtime's.
func (cg *cgroup) remove() {
	if cg == nil || len(cg.dirs) == 0 {
		return
	}
	explain(featCgroup, "Remove the container's cgroup, once its last process has left.")
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		d := cg.dirs[i]
		if err := removeCgroupDir(d.path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v; run: %s cleanup\n", programName(), err, programName())
		}
		d.lock.Close()
	}
	cg.dirs = nil
}

// removeCgroupDir waits for dir to be empty, kills what is left after a
// while, and removes it, retrying briefly while the kernel still says
// EBUSY.
func removeCgroupDir(dir string) error {
	if !waitEmpty(dir, 2*time.Second) {
		explain(featCgroup, "Processes are still in %s: kill them.", dir)
		if err := killCgroup(dir); err != nil {
			return err
		}
		waitEmpty(dir, 2*time.Second)
	}
	var err error
	for try := 0; try < 20; try++ {
		if err = rmdirCgroup(dir); !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// waitEmpty polls until dir's cgroup.procs is empty, for at most limit.
func waitEmpty(dir string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		pids, err := cgroupProcs(dir)
		if err != nil || len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// killCgroup kills every process in dir: v2 has cgroup.kill (Linux 5.14),
// otherwise we kill each pid of cgroup.procs. A v1 frozen cgroup is thawed
// first, or its processes could not die.
func killCgroup(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err == nil {
		return writeCgroupFile(filepath.Join(dir, "cgroup.kill"), "1")
	}
	if _, err := os.Stat(filepath.Join(dir, "freezer.state")); err == nil {
		_ = writeCgroupFile(filepath.Join(dir, "freezer.state"), "THAWED")
	}
	pids, err := cgroupProcs(dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := killProcess(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return nil
}

// cgroupProcs lists the processes in the cgroup dir.
func cgroupProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, "cgroup.procs"), err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// removeLeftovers removes the cgroups that killed runtimes left in
// parents: box-<id> directories with no processes that nobody holds a lock
// on. Those of running runtimes, locked, are passed over without a word:
// /proc/locks tells, without taking a lock. It returns the removed paths.
func removeLeftovers(parents []string) ([]string, error) {
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return nil, fmt.Errorf("read /proc/locks: %w", err)
	}
	var removed []string
	for _, parent := range parents {
		entries, err := os.ReadDir(parent)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("list %s: %w", parent, err)
		}
		for _, e := range entries {
			if !e.IsDir() || !leftoverName.MatchString(e.Name()) {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			if pids, err := cgroupProcs(dir); err != nil || len(pids) > 0 || isLocked(dir, string(locks)) {
				continue // a running container's, or gone meanwhile
			}
			ok, err := removeLeftover(dir)
			if err != nil {
				return removed, err
			}
			if ok {
				removed = append(removed, dir)
			}
		}
	}
	return removed, nil
}

// isLocked tells whether /proc/locks lists a flock on dir. Its lines are
// "1: FLOCK  ADVISORY  WRITE PID MAJOR:MINOR:INODE 0 EOF", with the
// device numbers in hex (fs/locks.c).
func isLocked(dir, locks string) bool {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return true // gone meanwhile: not ours to remove
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	for _, line := range strings.Split(locks, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == id {
			return true
		}
	}
	return false
}

// removeLeftover takes dir's lock and removes it. Another runtime may
// remove its own cgroup at any moment, as its container ends: a directory
// gone meanwhile (ENOENT) is no error.
func removeLeftover(dir string) (bool, error) {
	explain(featCgroup, "%s has no processes, and /proc/locks shows no runtime holding it: a killed runtime left it. Lock it and remove it.", dir)
	f, err := openDir(dir)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		explain(featCgroup, "A runtime locked it meanwhile: leave it.")
		return false, nil
	} else if err != nil {
		return false, err
	}
	err = rmdirCgroup(dir)
	if errors.Is(err, unix.ENOENT) {
		return false, nil // its runtime removed it between our open and flock
	}
	return err == nil, err
}

// cgroupParents are the directories our cgroups are made in.
func cgroupParents(version cgroupVersion) ([]string, error) {
	if version == 2 {
		return []string{v2Parent}, nil
	}
	hierarchies, err := findV1Hierarchies()
	var parents []string
	for _, h := range hierarchies {
		parents = append(parents, h.parent)
	}
	return parents, err
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
	parents, err := cgroupParents(version)
	if err != nil {
		return nil, err
	}
	return removeLeftovers(parents)
}

// kernelAtLeast tells whether the running kernel is major.minor or newer.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	ma, mi, ok := parseKernelRelease(unix.ByteSliceToString(u.Release[:]))
	return ok && (ma > major || ma == major && mi >= minor)
}

// parseKernelRelease reads the version from a release like 6.1.0-18-amd64.
func parseKernelRelease(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	digits := strings.IndexFunc(parts[1]+"x", func(r rune) bool { return r < '0' || r > '9' })
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1][:digits])
	return major, minor, err1 == nil && err2 == nil
}
