package main

// cgroups.go plugs package cgroups into a container's life: run's resource
// flags, a cgroup made before the container's init exists and the init
// put in it before it runs anything, exec joining it, pause and unpause
// freezing it, and at the end the kernel's accounting kept with the
// container's state and the cgroup removed, on every way out.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"box/final/internal/cgroups"
	"box/final/internal/narrate"
	"box/final/internal/rootfs"
	"box/final/internal/state"

	"github.com/alecthomas/kong"
)

// resourceFlags are run's resource limits, named and read as docker's.
type resourceFlags struct {
	Memory     sizeFlag `short:"m" placeholder:"SIZE" help:"Memory limit, like 100m (units b, k, m, g; at least 6m). Past it the kernel's OOM killer kills, and the container exits 137."`
	MemorySwap sizeFlag `name:"memory-swap" placeholder:"SIZE" help:"Memory plus swap, like 200m, or --memory-swap -1 for unlimited swap (default: twice --memory, as docker)."`
	CPUs       string   `name:"cpus" placeholder:"N" help:"CPU time the container may use, in CPUs, like 0.5 (half of one CPU)."`
	CPUWeight  intFlag  `name:"cpu-weight" placeholder:"1-10000" help:"Share of CPU time when CPUs are contended, against the default 100."`
	PidsLimit  intFlag  `name:"pids-limit" placeholder:"N" help:"Most processes and threads the container may have at once (at least 16: the init's threads count too); --pids-limit=-1 for no limit."`
}

// apply checks the flags and records the limits in cfg, by cgroup file.
func (f resourceFlags) apply(cfg *state.Config) error {
	flags := cgroups.Flags{Memory: string(f.Memory), MemorySwap: string(f.MemorySwap), CPUs: f.CPUs,
		CPUWeight: f.CPUWeight.n, CPUWeightSet: f.CPUWeight.set, PidsLimit: f.PidsLimit.n, PidsLimitSet: f.PidsLimit.set}
	limits, err := flags.Parse(runtime.NumCPU())
	if err != nil {
		return err
	}
	cfg.Limits = limits.Files()
	return nil
}

// negativeNumber tells a flag value the flag parser would take for a short
// flag (-1), which a size flag takes as its value, so that box, not the
// parser, says what is wrong with it (or, for --memory-swap -1, accepts it).
func negativeNumber(s string) bool {
	return len(s) > 1 && s[0] == '-' && (s[1] >= '0' && s[1] <= '9' || s[1] == '.')
}

// sizeFlag is the value of -m and --memory-swap: a size, or -1.
type sizeFlag string

// Decode takes the next argument as the value, even one like -1.
func (v *sizeFlag) Decode(ctx *kong.DecodeContext) error {
	t := ctx.Scan.Peek()
	if s, ok := t.Value.(string); ok && t.Type == kong.UntypedToken && negativeNumber(s) {
		ctx.Scan.Pop()
		*v = sizeFlag(s)
		return nil
	}
	var s string
	if err := ctx.Scan.PopValueInto("size", &s); err != nil {
		return err
	}
	*v = sizeFlag(s)
	return nil
}

// intFlag is a number flag that knows whether it was given: 0 given is
// refused (no weight, no process), where 0 not given means no limit.
type intFlag struct {
	n   int64
	set bool
}

// Decode reads the number as the flag parser would, and marks it given.
func (v *intFlag) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("int", &s); err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	v.n, v.set = n, true
	return nil
}

func init() {
	plugins = append(plugins, &cgroupPlugin{made: map[string]*cgroups.Cgroup{}, born: map[string]bool{}})
	freezer = freezeContainer
}

// cgroupPlugin is the cgroup code's plugin (see hooks.go).
type cgroupPlugin struct {
	mu sync.Mutex
	// made are the cgroups this process made, by container ID, held open
	// and locked until Remove.
	made map[string]*cgroups.Cgroup
	// born are the containers whose init the kernel created in its cgroup
	// (CloneAttr, EnterThread): Started need not look where it is.
	born map[string]bool
}

// cgroupRecord is what the runtime keeps of a container's cgroup, in
// cgroup.json in its state directory: where it is, for exec, pause and
// cleanup, and once the container has exited, what the kernel counted.
type cgroupRecord struct {
	Cgroup *cgroups.Cgroup `json:"cgroup"`
	Usage  *cgroups.Usage  `json:"usage,omitempty"`
}

// cgroupRecordFile is the record's file in the container's state directory.
const cgroupRecordFile = "cgroup.json"

// Create makes the container's cgroup and sets its limits and devices.
func (p *cgroupPlugin) Create(c *state.Container) error {
	limits, err := cgroups.LimitsFromFiles(c.Config.Limits)
	if err != nil {
		return err
	}
	devices, err := containerDevices()
	if err != nil {
		return err
	}
	cg, err := cgroups.Create(c.ID, limits, devices)
	if errors.Is(err, syscall.EROFS) {
		return withoutCgroup(c, limits, err)
	}
	if err != nil {
		return err
	}
	if err := saveCgroupRecord(c, cgroupRecord{Cgroup: cg}); err != nil {
		_, _ = cg.Remove()
		return err
	}
	c.Cgroup = cg.Path()
	p.mu.Lock()
	p.made[c.ID] = cg
	p.mu.Unlock()
	return nil
}

// withoutCgroup handles cgroups mounted read-only (EROFS), as docker mounts
// them in a container started without --privileged: a container that asked
// for no limit runs without a cgroup of its own, and we say so in one
// line; one that asked for limits is refused, in one line that says how
// to start the enclosing container instead.
func withoutCgroup(c *state.Container, limits cgroups.Limits, err error) error {
	if limits.Any() {
		return fmt.Errorf("cgroup limits cannot be set: %s is mounted read-only (%v), as in a container started without --privileged; start that container with docker run --privileged ..., or leave out -m, --cpus, --cpu-weight and --pids-limit", cgroups.Root, err)
	}
	narrate.Explain(narrate.Cgroup, "%s is mounted read-only: no limit was asked for, so the container runs without a cgroup of its own.", cgroups.Root)
	fmt.Fprintf(os.Stderr, "%s: notice: %s is mounted read-only, as in a container started without --privileged: %s runs without a cgroup of its own (no limits, accounting, pause or device allowlist of its own); docker run --privileged ... gives it one\n",
		programName, cgroups.Root, c.Name)
	return nil
}

// CloneAttr asks clone3(2) to create the container's init right in its
// cgroup (CLONE_INTO_CGROUP, Linux 5.7, v2 only), so that not one of its
// instructions runs outside: Go does it with SysProcAttr.UseCgroupFD.
// In v1, EnterThread does it another way; where neither can, Started
// moves the init instead.
func (p *cgroupPlugin) CloneAttr(c *state.Container, attr *syscall.SysProcAttr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cg := p.made[c.ID]
	if cg == nil {
		return nil
	}
	fd, ok := cg.CloneFD()
	if !ok {
		return nil
	}
	narrate.Explain(narrate.Cgroup, "Have the kernel create the init right in its cgroup: clone3 with CLONE_INTO_CGROUP and the cgroup directory's descriptor, %d.", fd)
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	p.born[c.ID] = true // the clone fails if the kernel cannot
	return nil
}

// EnterThread moves the thread about to fork the init into the cgroup, in
// v1, which has no CLONE_INTO_CGROUP: a child starts in its parent
// thread's cgroups, so the init is in its cgroup from its first
// instruction. leave moves the thread back out once the init exists.
func (p *cgroupPlugin) EnterThread(c *state.Container) (leave func() error, err error) {
	p.mu.Lock()
	cg := p.made[c.ID]
	p.mu.Unlock()
	if cg == nil || cg.Version != 1 {
		return func() error { return nil }, nil
	}
	narrate.Explain(narrate.Cgroup, "Have the init start in its cgroup: the thread that forks it first moves itself there, writing 0 into each tasks file (a thread moving itself skips the RCU grace period that a move through cgroup.procs waits for), and back out after.")
	if err := cg.EnterThread(); err != nil {
		_ = cg.LeaveThread()
		return nil, err
	}
	p.mu.Lock()
	p.born[c.ID] = true // in every hierarchy: each write succeeded
	p.mu.Unlock()
	return cg.LeaveThread, nil
}

// Started moves the init into the cgroup while it waits for us, before it
// runs anything of the container, unless it started there (clone3 or
// EnterThread).
func (p *cgroupPlugin) Started(c *state.Container, pid int) error {
	p.mu.Lock()
	cg, born := p.made[c.ID], p.born[c.ID]
	p.mu.Unlock()
	if cg == nil || born || cg.Contains(pid) {
		return nil
	}
	why := "v1 has no CLONE_INTO_CGROUP"
	if cg.Version == 2 {
		why = "this kernel has no CLONE_INTO_CGROUP (Linux 5.7)"
	}
	narrate.Explain(narrate.Cgroup, "Move the container's init into its cgroup (%s): write its pid into cgroup.procs, while it waits for us.", why)
	return cg.Place(pid)
}

// Exec moves box exec's own process into the container's cgroup, so the
// command it forks next starts there. It runs on a thread that already
// entered the container's mount namespace, where /sys/fs/cgroup and our
// state directory are not ours: the work is done on another goroutine,
// which Go never runs on that locked thread, and so in our namespace.
func (p *cgroupPlugin) Exec(c *state.Container, pid int) error {
	done := make(chan error, 1)
	go func() {
		rec, err := loadCgroupRecord(c)
		if err != nil || rec.Cgroup == nil || !rec.Cgroup.Exists() {
			done <- err
			return
		}
		narrate.Explain(narrate.Cgroup, "Join the container's cgroup: write our pid into cgroup.procs; the command we start inherits it, and its limits.")
		done <- rec.Cgroup.Place(pid)
	}()
	return <-done
}

// Remove removes the cgroup once the container has exited, and keeps what
// the kernel counted. When the OOM killer killed in it, it says so: that
// is why a container exits 137 (128 + SIGKILL) without a word from the
// command.
//
// The supervisor of a run --rm container (the process that made the
// cgroup) deletes the state dir right after: it keeps no record, and
// without --explain reads only the count of OOM kills.
func (p *cgroupPlugin) Remove(c *state.Container) error {
	p.mu.Lock()
	cg := p.made[c.ID]
	delete(p.made, c.ID)
	delete(p.born, c.ID)
	p.mu.Unlock()
	var rec cgroupRecord
	autoRemove := cg != nil && c.Config.AutoRemove
	if !autoRemove {
		var err error
		if rec, err = loadCgroupRecord(c); err != nil {
			return err
		}
	}
	if cg == nil {
		cg = rec.Cgroup
	}
	if cg == nil {
		return nil
	}
	var usage *cgroups.Usage
	var err error
	if autoRemove && !narrate.Enabled() {
		usage, err = cg.RemoveCountingOOM()
	} else {
		usage, err = cg.Remove()
	}
	if usage == nil {
		return err
	}
	narrate.Explain(narrate.Cgroup, "The kernel counted: %s.", usage)
	if !autoRemove {
		rec.Cgroup, rec.Usage = cg, usage
		if saveErr := saveCgroupRecord(c, rec); err == nil {
			err = saveErr
		}
	}
	if usage.OOMKills != nil && *usage.OOMKills > 0 {
		fmt.Fprintf(os.Stderr, "%s: memory limit reached: the kernel's OOM killer killed %d process(es) of container %s%s\n",
			programName, *usage.OOMKills, c.Name, memoryLimitOf(c))
	}
	return err
}

// Sweep removes the cgroups of containers whose runtime was killed before
// it could, even those whose state is gone, and names each once.
func (p *cgroupPlugin) Sweep() ([]string, error) {
	dirs, err := cgroups.RemoveLeftovers()
	var names []string
	seen := map[string]bool{}
	for _, dir := range dirs {
		if name := filepath.Base(dir); !seen[name] {
			seen[name] = true
			names = append(names, name+" (cgroup)")
		}
	}
	return names, err
}

// memoryLimitOf names c's memory limit for a message, or "".
func memoryLimitOf(c *state.Container) string {
	limits, err := cgroups.LimitsFromFiles(c.Config.Limits)
	if err != nil || limits.Memory == 0 {
		return ""
	}
	return " (-m " + cgroups.FormatSize(limits.Memory) + ")"
}

// freezeContainer is pause's and unpause's freezer (see hooks.go).
func freezeContainer(c *state.Container, freeze bool) error {
	rec, err := loadCgroupRecord(c)
	if err != nil {
		return err
	}
	if rec.Cgroup == nil || !rec.Cgroup.Exists() {
		return fmt.Errorf("container %s has no cgroup to freeze", c.Name)
	}
	if err := rec.Cgroup.SetFrozen(freeze); err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, err)
	}
	return nil
}

// cgroupUsage is what inspect shows of the kernel's accounting: what was
// kept at exit, or for a live container, the counters now.
func cgroupUsage(c *state.Container) *cgroups.Usage {
	rec, err := loadCgroupRecord(c)
	if err != nil || rec.Cgroup == nil {
		return nil
	}
	if rec.Usage != nil {
		return rec.Usage
	}
	if !rec.Cgroup.Exists() {
		return nil
	}
	u, err := rec.Cgroup.Usage()
	if err != nil {
		return nil
	}
	return &u
}

// containerDevices is the device allowlist for the devices controller:
// the host devices the container's /dev binds in (rootfs.Devices), its
// pseudo-terminal multiplexer (/dev/pts/ptmx, 5:2) and its terminals
// (major 136).
func containerDevices() ([]cgroups.Device, error) {
	var devices []cgroups.Device
	for _, name := range rootfs.Devices {
		d, err := cgroups.DeviceOf("/dev/" + name)
		if err != nil {
			return nil, err
		}
		devices = append(devices, d)
	}
	return append(devices, cgroups.Device{Type: 'c', Major: 5, Minor: 2}, cgroups.Device{Type: 'c', Major: 136, Minor: -1}), nil
}

// loadCgroupRecord reads c's cgroup record; a container without one (it
// never got a cgroup) has an empty record.
func loadCgroupRecord(c *state.Container) (cgroupRecord, error) {
	var rec cgroupRecord
	b, err := os.ReadFile(filepath.Join(c.Dir(), cgroupRecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read the cgroup of %s: %w", c.Name, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("read the cgroup of %s: %w", c.Name, err)
	}
	return rec, nil
}

// saveCgroupRecord writes c's cgroup record: a new file, renamed over the
// old one, so a reader never sees half of it.
func saveCgroupRecord(c *state.Container, rec cgroupRecord) error {
	b, err := encodeCgroupRecord(rec)
	if err != nil {
		return fmt.Errorf("save the cgroup of %s: %w", c.Name, err)
	}
	if err := state.WriteFileAtomic(filepath.Join(c.Dir(), cgroupRecordFile), append(b, '\n')); err != nil {
		return fmt.Errorf("save the cgroup of %s: %w", c.Name, err)
	}
	return nil
}

// encodeCgroupRecord is json.MarshalIndent(rec, "", "  "): by hand for
// the record box run writes at every start (a cgroup, no usage yet), then
// indented by json.Indent, which reflects on nothing.
func encodeCgroupRecord(rec cgroupRecord) ([]byte, error) {
	if rec.Usage != nil || rec.Cgroup == nil || !rec.Cgroup.PlainStrings() {
		return json.MarshalIndent(rec, "", "  ")
	}
	var out bytes.Buffer
	err := json.Indent(&out, append(rec.Cgroup.AppendJSON([]byte(`{"cgroup":`)), '}'), "", "  ")
	return out.Bytes(), err
}
