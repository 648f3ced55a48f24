package cgroups

// v1.go is cgroup v1: one hierarchy (one mount) per controller, or per
// few controllers mounted together (cpu,cpuacct). A container gets a
// directory in each, below the runtime's own cgroup there.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

type v1 struct{}

func (v1) number() int { return 1 }

// v1Controllers are the hierarchies a container gets a directory in: the
// three it has limits in, cpuacct for its CPU time, freezer for pause and
// devices for the device allowlist. Not cpuset: run sets no CPU or memory
// node limit, so the container stays in the runtime's own cpuset, and a
// new one costs more than every other directory here together: the
// kernel turns on its cpuset code (a static key, code patched on every
// CPU) when the first cpuset below the root is made, and off again when
// the last goes, about 2 ms each way on a 2-CPU machine. box-runc makes
// one only when config.json sets CPUs or memory nodes (ociV1Parents;
// copyCpuset fills it): it has no update command, so they are set at
// create or never. runc and crun make one for every container.
var v1Controllers = []string{"cpu", "cpuacct", "memory", "pids", "freezer", "devices"}

// parents finds each controller's mount and our own cgroup in it, which
// is where the container's cgroups go: like that, a runtime that runs in a
// cgroup with limits (a login session, a service, a container) puts its
// containers under those limits too.
func (v1) parents() ([]Dir, error) {
	mountinfo, err := readFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	own, err := readFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read our cgroups: %w", err)
	}
	return parseV1Parents(string(mountinfo), string(own)), nil
}

// parseV1Parents matches cgroup mounts ("... /root /mountpoint ... -
// cgroup cgroup rw,cpu,cpuacct") with our cgroups ("4:cpu,cpuacct:/path").
// A path in /proc/self/cgroup is from the top of the hierarchy, but a
// mount may show only a subtree (inside a container, its own cgroup): our
// directory is the path below the mount's root.
func parseV1Parents(mountinfo, ownCgroups string) []Dir {
	return parseV1ParentsOf(mountinfo, ownCgroups, v1Controllers)
}

// parseV1ParentsOf is parseV1Parents for the hierarchies of controllers:
// box-runc's containers may need more than box's (blkio, hugetlb, net_cls).
func parseV1ParentsOf(mountinfo, ownCgroups string, controllers []string) []Dir {
	type mount struct{ root, point string }
	mounts := map[string]mount{} // controller -> its hierarchy's mount
	for _, line := range strings.Split(mountinfo, "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 || fields[sep+1] != "cgroup" {
			continue
		}
		for _, option := range strings.Split(fields[sep+3], ",") {
			if _, seen := mounts[option]; !seen {
				mounts[option] = mount{root: fields[3], point: fields[4]}
			}
		}
	}
	own := map[string]string{} // controller -> our cgroup's path
	for _, line := range strings.Split(ownCgroups, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				own[c] = parts[2]
			}
		}
	}
	var parents []Dir
	byPoint := map[string]int{}
	for _, c := range controllers {
		m, mounted := mounts[c]
		path, ok := own[c]
		if !mounted || !ok {
			continue
		}
		if i, seen := byPoint[m.point]; seen {
			parents[i].Controllers = append(parents[i].Controllers, c)
			continue
		}
		rel := "/"
		switch {
		case m.root == "/":
			rel = path
		case path == m.root:
		case strings.HasPrefix(path, m.root+"/"):
			rel = strings.TrimPrefix(path, m.root)
		}
		byPoint[m.point] = len(parents)
		parents = append(parents, Dir{Path: filepath.Join(m.point, rel), Controllers: []string{c}})
	}
	return parents
}

// write is one value written into a control file.
type write struct {
	controller, file, value string
	why                     string // the sentence before it; "" goes on with the last
}

// configure fills a new cpuset (box-runc's), sets the limits and the
// device rules.
func (v v1) configure(cg *Cgroup, l Limits, devices []Device) error {
	if err := copyCpuset(cg); err != nil {
		return err
	}
	// Swap is limited with memory only: no limit, no need to look.
	swapFile := ""
	if l.Memory > 0 {
		swapFile = cg.file("memory", "memory.memsw.limit_in_bytes")
		if _, err := os.Stat(swapFile); swapFile != "" && err != nil {
			swapFile = ""
		}
	}
	if l.Memory > 0 && swapFile == "" {
		narrate.Explain(narrate.Cgroup, "This kernel does not account swap (no memory.memsw.limit_in_bytes): swap is not limited.")
	}
	writes := v1Writes(l, swapFile != "")
	if cg.file("devices", "devices.deny") != "" {
		writes = append(writes, v1DeviceWrites(devices)...)
	}
	for _, w := range writes {
		if w.why != "" {
			narrate.Explain(narrate.Cgroup, "%s", w.why)
		}
		if err := sys.WriteFile(cg.file(w.controller, w.file), w.value); err != nil {
			return err
		}
	}
	return nil
}

// copyCpuset gives a new cpuset cgroup its parent's CPUs and memory
// nodes: it starts with none, and the kernel refuses to put a process in
// a cpuset without them (ENOSPC).
func copyCpuset(cg *Cgroup) error {
	dir := filepath.Dir(cg.file("cpuset", "cpuset.cpus"))
	if dir == "." {
		return nil
	}
	narrate.Explain(narrate.Cgroup, "A new cpuset has no CPUs and no memory nodes: copy its parent's, or no process could join it.")
	for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := readFile(filepath.Join(filepath.Dir(dir), name))
		if err != nil {
			return fmt.Errorf("read the parent's %s: %w", name, err)
		}
		if err := sys.WriteFile(filepath.Join(dir, name), strings.TrimSpace(string(b))); err != nil {
			return err
		}
	}
	return nil
}

// v1Writes are the writes that set l in v1 hierarchies; swapFile tells
// whether memory.memsw.limit_in_bytes exists.
func v1Writes(l Limits, swapFile bool) []write {
	var w []write
	if l.Memory > 0 {
		w = append(w, write{"memory", "memory.limit_in_bytes", strconv.FormatInt(l.Memory, 10),
			fmt.Sprintf("Limit memory to %s: past memory.limit_in_bytes the kernel reclaims what it can, then its OOM killer kills.", FormatSize(l.Memory))})
		if swapFile {
			// The kernel refuses memsw below the memory limit, so it comes second.
			w = append(w, write{"memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(l.MemorySwap, 10),
				"Limit memory plus swap (memory.memsw.limit_in_bytes, never below the memory limit; -1 is no limit)."})
		}
	}
	if l.CPUQuota > 0 {
		w = append(w,
			write{"cpu", "cpu.cfs_period_us", strconv.Itoa(CPUPeriod),
				fmt.Sprintf("Allow %d us of CPU time every %d us (CFS bandwidth control): past it the whole group waits, throttled.", l.CPUQuota, CPUPeriod)},
			write{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota, 10), ""})
	}
	if l.CPUWeight > 0 {
		w = append(w, write{"cpu", "cpu.shares", strconv.FormatInt(cpuShares(l.CPUWeight), 10),
			fmt.Sprintf("Weigh the group's share of busy CPUs: cpu.weight %d is cpu.shares %d in v1 (default 1024).", l.CPUWeight, cpuShares(l.CPUWeight))})
	}
	switch {
	case l.Pids > 0:
		w = append(w, write{"pids", "pids.max", strconv.FormatInt(l.Pids, 10),
			"Limit processes and threads (pids.max): past it fork and clone fail with EAGAIN."})
	case l.Pids < 0:
		w = append(w, write{"pids", "pids.max", unlimitedValue, "No limit on processes (pids.max)."})
	}
	return w
}

// v1DeviceWrites deny every device, then allow the few the container's
// /dev holds: even a process that could make a device node (mknod) or
// reach one could not open it.
func v1DeviceWrites(devices []Device) []write {
	w := []write{{"devices", "devices.deny", "a",
		"Deny every device (devices.deny \"a\"), then allow only those the container's /dev holds: a device allowlist the kernel enforces at open(2)."}}
	for _, d := range devices {
		w = append(w, write{"devices", "devices.allow", d.Rule(), ""})
	}
	return w
}

// setFrozen writes the freezer's state and waits until the kernel reports
// it: FREEZING turns FROZEN once every process has stopped.
func (v1) setFrozen(cg *Cgroup, frozen bool) error {
	file := cg.file("freezer", "freezer.state")
	if file == "" {
		return errors.New("the freezer controller is not mounted here: pause needs it")
	}
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	if err := sys.WriteFile(file, want); err != nil {
		return err
	}
	if !waitFor(5*time.Second, func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.TrimSpace(string(b)) == want
	}) {
		return fmt.Errorf("%s did not become %s", file, want)
	}
	return nil
}

// counters are where v1 keeps each count.
func (v1) counters() []counter {
	return []counter{
		{"memory", "memory.max_usage_in_bytes", "", 1, func(u *Usage) **int64 { return &u.MemoryPeak }},
		{"memory", "memory.failcnt", "", 1, func(u *Usage) **int64 { return &u.MemoryLimitHits }},
		{"memory", "memory.oom_control", "oom_kill", 1, func(u *Usage) **int64 { return &u.OOMKills }},
		{"cpuacct", "cpuacct.usage", "", 1000, func(u *Usage) **int64 { return &u.CPUTime }},
		{"pids", "pids.peak", "", 1, func(u *Usage) **int64 { return &u.PidsPeak }},
		{"pids", "pids.events", "max", 1, func(u *Usage) **int64 { return &u.PidsLimitHits }},
		{"cpu", "cpu.stat", "nr_throttled", 1, func(u *Usage) **int64 { return &u.ThrottledPeriods }},
		{"cpu", "cpu.stat", "throttled_time", 1000, func(u *Usage) **int64 { return &u.ThrottledTime }},
	}
}

// gauges are where v1 keeps the current values stats shows.
func (v1) gauges() []counter {
	return []counter{
		{"memory", "memory.usage_in_bytes", "", 1, func(u *Usage) **int64 { return &u.MemoryCurrent }},
		{"memory", "memory.limit_in_bytes", "", 1, func(u *Usage) **int64 { return &u.MemoryLimit }},
		{"pids", "pids.current", "", 1, func(u *Usage) **int64 { return &u.PidsCurrent }},
		{"cpuacct", "cpuacct.usage", "", 1000, func(u *Usage) **int64 { return &u.CPUTime }},
	}
}

// kill kills every process of the cgroup. v1 has no cgroup.kill, so each
// gets SIGKILL; a frozen process cannot die, so the freezer thaws first.
func (v1) kill(cg *Cgroup) error {
	if file := cg.file("freezer", "freezer.state"); file != "" {
		if err := sys.WriteFile(file, "THAWED"); err != nil {
			return err
		}
	}
	for _, d := range cg.Dirs {
		if err := killEach(d.Path); err != nil {
			return err
		}
	}
	return nil
}
