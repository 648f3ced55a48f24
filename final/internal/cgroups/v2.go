package cgroups

// v2.go is cgroup v2: one tree at /sys/fs/cgroup for every controller. A
// controller reaches a cgroup only if its parent lists it in
// cgroup.subtree_control, and so on up to the root; and a cgroup that hands
// controllers down may not hold processes itself ("no internal
// processes"), except the root. Containers' cgroups are leaves under
// /sys/fs/cgroup/box.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

type v2 struct{}

func (v2) number() int { return 2 }

// v2Parent is the cgroup containers' cgroups go in.
const v2Parent = Root + "/box"

// v2Controllers are the controllers a container's cgroup gets, if the
// root offers them: those its limits are in. Freezing is built into v2.
var v2Controllers = []string{"cpu", "memory", "pids"}

// parents hands the controllers the root offers down to box, and returns
// box. In a privileged docker container the root we see is the
// container's own cgroup (a cgroup namespace), holding its shell: handing
// controllers down then fails with EBUSY until those processes move into
// a leaf, init, as docker-in-docker does.
func (v2) parents() ([]Dir, error) {
	narrate.Explain(narrate.Cgroup, "cgroup v2: one tree for all controllers. Which may our cgroups have? Those in the root's cgroup.controllers.")
	text, err := sys.ReadCgroupFile(Root + "/cgroup.controllers")
	if err != nil {
		return nil, err
	}
	var controllers []string
	for _, c := range v2Controllers {
		if contains(strings.Fields(text), c) {
			controllers = append(controllers, c)
		}
	}
	err = enableControllers(Root, controllers)
	if errors.Is(err, unix.EBUSY) {
		narrate.Explain(narrate.Cgroup, "EBUSY: this cgroup holds processes, so it may not hand controllers down (no internal processes); move them into a leaf, init.")
		if err := moveProcesses(Root, Root+"/init"); err != nil {
			return nil, err
		}
		err = enableControllers(Root, controllers)
	}
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(v2Parent); errors.Is(err, fs.ErrNotExist) {
		narrate.Explain(narrate.Cgroup, "Make box, the cgroup our containers' cgroups go in.")
		if err := sys.Mkdir(v2Parent, 0o755); err != nil {
			return nil, err
		}
	}
	if err := enableControllers(v2Parent, controllers); err != nil {
		return nil, err
	}
	return []Dir{{Path: v2Parent, Controllers: controllers}}, nil
}

// enableControllers lists controllers in dir's cgroup.subtree_control,
// which lets dir's children have them, unless they are there already.
func enableControllers(dir string, controllers []string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	current, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	var add []string
	for _, c := range controllers {
		if !contains(strings.Fields(string(current)), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	narrate.Explain(narrate.Cgroup, "Let %s hand %s to its children: a controller reaches a cgroup only through its parent's cgroup.subtree_control.", dir, strings.Join(add, " "))
	return sys.WriteFile(file, strings.Join(add, " "))
}

// moveProcesses moves every process of cgroup from into the leaf to.
func moveProcesses(from, to string) error {
	if err := sys.Mkdir(to, 0o755); err != nil {
		return err
	}
	pids, err := procs(from)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		err := sys.WriteFile(filepath.Join(to, "cgroup.procs"), strconv.Itoa(pid))
		if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: it exited meanwhile
			return err
		}
	}
	return nil
}

// configure sets the limits. v2 has no devices files: its device
// allowlist is an eBPF program attached to the cgroup, which this runtime
// does not load; the container's /dev (a nodev tmpfs with the allowed
// devices bound in) is its allowlist.
func (v2) configure(cg *Cgroup, l Limits, devices []Device) error {
	dir := cg.Dirs[0].Path
	files := l.Files()
	if _, err := os.Stat(filepath.Join(dir, fileSwapMax)); err != nil && files != nil {
		if _, limited := files[fileSwapMax]; limited {
			narrate.Explain(narrate.Cgroup, "This kernel does not account swap (no memory.swap.max): swap is not limited.")
			delete(files, fileSwapMax)
		}
	}
	whys := map[string]string{
		fileMemoryMax: fmt.Sprintf("Limit memory to %s: past memory.max the kernel reclaims what it can, then its OOM killer kills.", FormatSize(l.Memory)),
		fileSwapMax:   "Limit swap (memory.swap.max is swap alone: docker's --memory-swap less --memory).",
		fileCPUMax:    fmt.Sprintf("Allow %d us of CPU time every %d us (cpu.max): past it the whole group waits, throttled.", l.CPUQuota, CPUPeriod),
		fileCPUWeight: "Weigh the group's share of busy CPUs against the default 100 (cpu.weight).",
		filePidsMax:   "Limit processes and threads (pids.max): past it fork and clone fail with EAGAIN.",
	}
	// Memory before swap: the order a reader expects.
	for _, file := range []string{fileMemoryMax, fileSwapMax, fileCPUMax, fileCPUWeight, filePidsMax} {
		value, ok := files[file]
		if !ok {
			continue
		}
		narrate.Explain(narrate.Cgroup, "%s", whys[file])
		if err := sys.WriteFile(filepath.Join(dir, file), value); err != nil {
			return err
		}
	}
	if len(devices) > 0 {
		return allowDevices(cg, devices)
	}
	return nil
}

// allowDevices loads the device allowlist as an eBPF program and attaches
// it to the cgroup. Where the kernel will not have it (a parent's program
// that allows no other, a kernel without BPF), the container's /dev, a
// tmpfs holding only the allowed nodes, remains the allowlist: the run goes
// on and the narration says so.
func allowDevices(cg *Cgroup, devices []Device) error {
	narrate.Explain(narrate.Security, "cgroup v2 has no devices.allow: load the device allowlist as an eBPF program, which the kernel runs at every open(2) and mknod(2) of a device node in this cgroup. It allows %d devices and refuses the rest (EPERM).", len(devices))
	prog, err := sys.LoadDeviceProgram(deviceProgram(devices), deviceLicense)
	if err != nil {
		narrate.Explain(narrate.Security, "The kernel refused the program (%v): the container's /dev is the only device allowlist.", err)
		return nil
	}
	defer sys.Close(prog) // attached, the program lives as long as the cgroup
	narrate.Explain(narrate.Security, "Attach it to the container's cgroup, alongside any program a parent cgroup has.")
	if err := sys.AttachDeviceProgram(cg.dirFD(0), prog); err != nil {
		narrate.Explain(narrate.Security, "The kernel refused to attach it (%v): the container's /dev is the only device allowlist.", err)
	}
	return nil
}

// setFrozen writes cgroup.freeze and waits until cgroup.events says
// "frozen 1" (or 0): freezing completes once every process has stopped.
func (v2) setFrozen(cg *Cgroup, frozen bool) error {
	dir := cg.Dirs[0].Path
	value := "0"
	if frozen {
		value = "1"
	}
	if err := sys.WriteFile(filepath.Join(dir, "cgroup.freeze"), value); err != nil {
		return err
	}
	events := filepath.Join(dir, "cgroup.events")
	if !waitFor(5*time.Second, func() bool {
		b, err := os.ReadFile(events)
		n, ok := keyedValue(string(b), "frozen")
		return err == nil && ok && strconv.FormatInt(n, 10) == value
	}) {
		return fmt.Errorf("%s did not say frozen %s", events, value)
	}
	return nil
}

// counters are where v2 keeps each count.
func (v2) counters() []counter {
	return []counter{
		{"memory", "memory.peak", "", 1, func(u *Usage) **int64 { return &u.MemoryPeak }},
		{"memory", "memory.events", "max", 1, func(u *Usage) **int64 { return &u.MemoryLimitHits }},
		{"memory", "memory.events", "oom_kill", 1, func(u *Usage) **int64 { return &u.OOMKills }},
		{"cpu", "cpu.stat", "usage_usec", 1, func(u *Usage) **int64 { return &u.CPUTime }},
		{"pids", "pids.peak", "", 1, func(u *Usage) **int64 { return &u.PidsPeak }},
		{"pids", "pids.events", "max", 1, func(u *Usage) **int64 { return &u.PidsLimitHits }},
		{"cpu", "cpu.stat", "nr_throttled", 1, func(u *Usage) **int64 { return &u.ThrottledPeriods }},
		{"cpu", "cpu.stat", "throttled_usec", 1, func(u *Usage) **int64 { return &u.ThrottledTime }},
	}
}

// gauges are where v2 keeps the current values stats shows.
func (v2) gauges() []counter {
	return []counter{
		{"memory", "memory.current", "", 1, func(u *Usage) **int64 { return &u.MemoryCurrent }},
		{"memory", "memory.max", "", 1, func(u *Usage) **int64 { return &u.MemoryLimit }},
		{"pids", "pids.current", "", 1, func(u *Usage) **int64 { return &u.PidsCurrent }},
		{"cpu", "cpu.stat", "usage_usec", 1, func(u *Usage) **int64 { return &u.CPUTime }},
	}
}

// kill kills every process of the cgroup with cgroup.kill (Linux 5.14),
// which also reaches processes forking meanwhile; without it, each gets
// SIGKILL after a thaw.
func (v2) kill(cg *Cgroup) error {
	dir := cg.Dirs[0].Path
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err == nil {
		return sys.WriteFile(filepath.Join(dir, "cgroup.kill"), "1")
	}
	if err := sys.WriteFile(filepath.Join(dir, "cgroup.freeze"), "0"); err != nil {
		return err
	}
	return killEach(dir)
}
