// Package cgroups puts a container in a control group of its own
// (cgroups(7)). The kernel then limits what the group may use (memory, CPU
// time, processes, devices), counts what it used, and can freeze it. A
// cgroup is a directory in a special filesystem, and its limits and
// counters are the files in it.
//
// There are two versions of that interface, side by side here behind one
// Go interface, version: cgroup v1 (v1.go) mounts one tree per controller
// (/sys/fs/cgroup/memory, /sys/fs/cgroup/pids, ...), so a container gets a
// directory in each; cgroup v2 (v2.go) has one tree, /sys/fs/cgroup, so a
// container gets one directory where every controller shows its files.
// This file is what both share: making the directories, putting processes
// in them, and removing them.
package cgroups

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

// Root is where the cgroup filesystems are mounted, in v1 and v2.
const Root = "/sys/fs/cgroup"

// namePrefix starts the name of every container's cgroup, box-<id>.
const namePrefix = "box-"

// leftoverName tells the names of our cgroups, box- and a full 64-digit
// container ID, so that a cleanup never takes another runtime's cgroup
// with a similar name (the cgroups step's are box- and 6 digits) for one
// of ours. Both lock their cgroups while they use them, the same way.
// (Checked by hand: a regexp's {64} compiled at every process start.)
func leftoverName(name string) bool {
	id, ok := strings.CutPrefix(name, namePrefix)
	if !ok || len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Cgroup is a container's control group: one directory in v2, one per
// hierarchy in v1. Its exported fields are what the runtime keeps with the
// container's state, so that exec, pause and cleanup, which run in other
// processes, find it again.
type Cgroup struct {
	Version int   `json:"version"`
	Dirs    []Dir `json:"dirs"`
	// locks hold each directory open and locked with flock(2) while the
	// runtime that made it looks after the container: the kernel drops a
	// dead process's locks, so a cgroup nobody holds was left by a runtime
	// that was killed.
	locks []*os.File
}

// dirFD is the descriptor of the i-th directory, open while the runtime
// holds its lock, or -1 when it is not open (a cgroup read from state).
func (cg *Cgroup) dirFD(i int) int {
	if i >= len(cg.locks) || cg.locks[i] == nil {
		return -1
	}
	return int(cg.locks[i].Fd())
}

// Dir is one directory of a container's cgroup.
type Dir struct {
	Path        string   `json:"path"`
	Controllers []string `json:"controllers"` // v1: its hierarchy's; v2: those handed down to it
}

// version is what differs between cgroup v1 (v1.go) and v2 (v2.go).
type version interface {
	// number is 1 or 2.
	number() int
	// gauges are the current values stats reads (see Cgroup.Now).
	gauges() []counter
	// parents finds the directories containers' cgroups go in, with the
	// controllers each offers; in v2 it first hands the controllers down.
	parents() ([]Dir, error)
	// configure writes the limits and the device rules into a new cgroup.
	configure(cg *Cgroup, l Limits, devices []Device) error
	// setFrozen freezes or thaws the cgroup; it returns once the kernel
	// says it is done.
	setFrozen(cg *Cgroup, frozen bool) error
	// counters are where the version keeps each count of Usage.
	counters() []counter
	// kill kills every process in the cgroup.
	kill(cg *Cgroup) error
}

// versionOf is the code of cgroup version n.
func versionOf(n int) (version, error) {
	switch n {
	case 1:
		return v1{}, nil
	case 2:
		return v2{}, nil
	}
	return nil, fmt.Errorf("cgroup version %d: want 1 or 2", n)
}

// Detect tells v1 from v2 as runc and systemd do, by the filesystem at
// /sys/fs/cgroup: cgroup2 is v2, a tmpfs holding a mount per controller
// is v1. A hybrid host also mounts cgroup2 at /sys/fs/cgroup/unified, but
// with its controllers bound to v1 hierarchies: it counts as v1.
func Detect() (int, error) {
	narrate.Explain(narrate.Cgroup, "Which cgroup interface does the host have? cgroup2 on %s is v2; a tmpfs of v1 hierarchies is v1 (or hybrid, used as v1).", Root)
	magic, err := sys.Statfs(Root)
	if err != nil {
		return 0, err
	}
	switch magic {
	case sys.Cgroup2Magic:
		return 2, nil
	case sys.TmpfsMagic:
		return 1, nil
	}
	return 0, fmt.Errorf("%s is neither cgroup2 nor a tmpfs of v1 hierarchies (f_type %s); mount cgroups there first", Root, sys.MagicName(magic))
}

// Create makes the cgroup of container id, box-<id>, sets its limits and
// device rules, and locks it. First it removes the leftovers of killed
// runtimes; a lock on /sys/fs/cgroup, which every runtime takes for this,
// keeps two runtimes from taking each other's new, still empty cgroup for
// a leftover.
func Create(id string, l Limits, devices []Device) (cg *Cgroup, err error) {
	n, err := Detect()
	if err != nil {
		return nil, err
	}
	v, _ := versionOf(n)
	unlock, err := lockTree()
	if err != nil {
		return nil, err
	}
	defer unlock()
	parents, err := v.parents()
	if err != nil {
		return nil, err
	}
	if err := checkControllers(l, parents, n); err != nil {
		return nil, err
	}
	if _, err := removeLeftovers(parents); err != nil {
		return nil, err
	}
	cg = &Cgroup{Version: n}
	defer func() {
		if err != nil {
			_, _ = cg.Remove()
			cg = nil
		}
	}()
	if n == 1 {
		narrate.Explain(narrate.Cgroup, "Make the container's cgroup in each v1 hierarchy, below our own cgroup there (/proc/self/cgroup).")
	} else {
		narrate.Explain(narrate.Cgroup, "Make the container's cgroup, a leaf under %s: its files are the controllers' knobs and counters.", parents[0].Path)
	}
	for _, p := range parents {
		path := filepath.Join(p.Path, namePrefix+id)
		if err := sys.Mkdir(path, 0o755); err != nil {
			return cg, err
		}
		lock, err := lockDir(path)
		if err != nil {
			_ = sys.Rmdir(path)
			return cg, err
		}
		cg.Dirs = append(cg.Dirs, Dir{Path: path, Controllers: p.Controllers})
		cg.locks = append(cg.locks, lock)
	}
	return cg, v.configure(cg, l, devices)
}

// checkControllers fails if a limit needs a controller no parent offers.
func checkControllers(l Limits, parents []Dir, n int) error {
	have := map[string]bool{}
	for _, p := range parents {
		for _, c := range p.Controllers {
			have[c] = true
		}
	}
	where := "/proc/self/mountinfo"
	if n == 2 {
		where = Root + "/cgroup.controllers"
	}
	for _, c := range l.controllers() {
		if !have[c] {
			return fmt.Errorf("the %s controller is not available here (see %s), so its limit cannot be set; leave that flag out", c, where)
		}
	}
	return nil
}

// lockTree takes the lock that serializes making cgroups and removing
// leftovers, and returns how to release it.
func lockTree() (unlock func(), err error) {
	narrate.Explain(narrate.Cgroup, "Lock %s while we look for leftovers and make our cgroup, so no other runtime takes ours for a leftover.", Root)
	f, err := sys.OpenDirectory(Root)
	if err != nil {
		return nil, err
	}
	if err := sys.Lock(f, true, false); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// lockDir opens and locks a cgroup directory we just made.
func lockDir(path string) (*os.File, error) {
	f, err := sys.OpenDirectory(path)
	if err != nil {
		return nil, err
	}
	if err := sys.Lock(f, true, true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Path is the directory to show for the cgroup: v2's one, or in v1 the
// memory hierarchy's (the others are alike, below other mounts).
func (cg *Cgroup) Path() string {
	for _, d := range cg.Dirs {
		if cg.Version == 2 || contains(d.Controllers, "memory") {
			return d.Path
		}
	}
	if len(cg.Dirs) > 0 {
		return cg.Dirs[0].Path
	}
	return ""
}

// file is the path of a control file of controller: in v2 the one
// directory has them all; in v1 "" if no hierarchy has that controller.
func (cg *Cgroup) file(controller, name string) string {
	for _, d := range cg.Dirs {
		if cg.Version == 2 || contains(d.Controllers, controller) {
			return filepath.Join(d.Path, name)
		}
	}
	return ""
}

// CloneFD is the descriptor of the cgroup's directory for clone3(2)'s
// CLONE_INTO_CGROUP (Go: SysProcAttr.UseCgroupFD), which creates a
// process right in the cgroup; ok is false where the kernel cannot: v1,
// or a kernel older than 5.7.
func (cg *Cgroup) CloneFD() (fd int, ok bool) {
	if cg.Version != 2 || len(cg.locks) != 1 {
		return -1, false
	}
	major, minor, err := sys.KernelRelease()
	if err != nil || major < 5 || major == 5 && minor < 7 {
		return -1, false
	}
	return int(cg.locks[0].Fd()), true
}

// Place moves process pid (and all its threads) into the cgroup, in every
// hierarchy, by writing its pid into cgroup.procs.
func (cg *Cgroup) Place(pid int) error {
	for _, d := range cg.Dirs {
		if err := sys.WriteFile(filepath.Join(d.Path, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// EnterThread moves the calling thread alone into the cgroup, in every v1
// hierarchy, by writing 0 (the writer itself) into its tasks file. For a
// thread that moves itself the kernel skips the threadgroup lock
// (cgroup_threadgroup_rwsem, kernel/cgroup/cgroup.c) that moving a whole
// process through cgroup.procs takes, and taking it waits for an RCU
// grace period, some 10 ms. The caller must be locked to its thread
// (runtime.LockOSThread), or Go may run anything on it next.
func (cg *Cgroup) EnterThread() error {
	return cg.moveThread(false)
}

// LeaveThread moves the calling thread back out, into the parents: our
// own cgroups, where it was before EnterThread.
func (cg *Cgroup) LeaveThread() error {
	return cg.moveThread(true)
}

// moveThread writes 0 into each hierarchy's tasks file, of the cgroup or
// with out of its parent.
func (cg *Cgroup) moveThread(out bool) error {
	if cg.Version != 1 {
		return fmt.Errorf("move a thread: cgroup v%d has no tasks file", cg.Version)
	}
	for _, d := range cg.Dirs {
		dir := d.Path
		if out {
			dir = filepath.Dir(dir)
		}
		if err := sys.WriteFile(filepath.Join(dir, "tasks"), "0"); err != nil {
			return err
		}
	}
	return nil
}

// Contains tells whether process pid is in the cgroup, from the kernel's
// /proc/PID/cgroup. It only reads.
func (cg *Cgroup) Contains(pid int) bool {
	b, err := readFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil || len(cg.Dirs) == 0 {
		return false
	}
	name := filepath.Base(cg.Dirs[0].Path)
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && filepath.Base(parts[2]) == name {
			return true
		}
	}
	return false
}

// SetFrozen freezes the cgroup's processes where they are, or thaws them.
func (cg *Cgroup) SetFrozen(frozen bool) error {
	v, err := versionOf(cg.Version)
	if err != nil {
		return err
	}
	if frozen {
		narrate.Explain(narrate.Cgroup, "Freeze the container: the kernel stops each of its processes at its next return to user space, and keeps it stopped until thawed.")
	} else {
		narrate.Explain(narrate.Cgroup, "Thaw the container: its processes go on from where they stopped.")
	}
	return v.setFrozen(cg, frozen)
}

// waitFor polls until done says yes, for at most limit, and tells whether
// it did. Polling is how the freezer's and cgroup.procs' state is read.
func waitFor(limit time.Duration, done func() bool) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(5 * time.Millisecond) {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Exists tells whether any of the cgroup's directories is still there.
func (cg *Cgroup) Exists() bool {
	for _, d := range cg.Dirs {
		if _, err := os.Stat(d.Path); err == nil {
			return true
		}
	}
	return false
}

// Remove deletes the cgroup and returns what the kernel counted in it, or
// nil if it was gone already. A cgroup with processes cannot be removed
// (EBUSY). Most often it is empty by the time the container's init has
// been waited for: the init was PID 1 of the container's PID namespace,
// and the kernel killed the rest of the namespace, and waited until they
// were gone, before its exit could be waited for. So Remove reads the
// counters and removes the directories at once, and only if the kernel
// says EBUSY (processes outside that PID namespace: --pid host, an exec
// that did not join it) it waits until the cgroup is empty, kills what is
// left after a while, counts again and removes.
func (cg *Cgroup) Remove() (*Usage, error) {
	return cg.remove(cg.usage)
}

// RemoveCountingOOM is Remove for a caller that keeps nothing of the
// count but the OOM kills, which say why a container exited 137: run --rm
// without --explain, whose record of the rest is deleted a moment later.
// It reads one counter file instead of all of them.
func (cg *Cgroup) RemoveCountingOOM() (*Usage, error) {
	return cg.remove(func(v version) Usage { return cg.read(oomCounters(v)) })
}

// remove removes the cgroup as Remove says, and returns what count read
// from it just before (nil count: nothing is read, and the Usage is nil).
func (cg *Cgroup) remove(count func(v version) Usage) (*Usage, error) {
	// Directories we hold locked are there: only a leftover, which no
	// runtime holds, is removed by another.
	held := len(cg.locks) == len(cg.Dirs) && len(cg.locks) > 0
	defer cg.release()
	if !held && !cg.Exists() {
		return nil, nil
	}
	v, err := versionOf(cg.Version)
	if err != nil {
		return nil, err
	}
	var u *Usage
	counted := func() {
		if count != nil {
			c := count(v)
			u = &c
		}
	}
	counted()
	narrate.Explain(narrate.Cgroup, "Remove the container's cgroup, now that its last process has left.")
	err = cg.removeDirs(sys.Rmdir)
	if !errors.Is(err, unix.EBUSY) {
		return u, err
	}
	narrate.Explain(narrate.Cgroup, "EBUSY: processes are still in the container's cgroup. Wait for them to leave, and kill them if they do not.")
	if !cg.waitEmpty(2 * time.Second) {
		if err := v.kill(cg); err != nil {
			return nil, err
		}
		cg.waitEmpty(2 * time.Second)
	}
	counted()
	return u, cg.removeDirs(removeDir)
}

// removeDirs removes the cgroup's directories with rm, last first, and
// returns the first error after trying them all; one gone already
// (ENOENT) is fine.
func (cg *Cgroup) removeDirs(rm func(dir string) error) error {
	var first error
	for i := len(cg.Dirs) - 1; i >= 0; i-- {
		if err := rm(cg.Dirs[i].Path); err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
			first = err
		}
	}
	return first
}

// release closes the directories' locks.
func (cg *Cgroup) release() {
	for _, f := range cg.locks {
		f.Close()
	}
	cg.locks = nil
}

// removeDir removes one cgroup directory, retrying briefly while the
// kernel still says EBUSY; one already gone (ENOENT) is fine.
func removeDir(dir string) error {
	var err error
	for try := 0; try < 20; try++ {
		if err = sys.Rmdir(dir); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// waitEmpty polls until every directory's cgroup.procs is empty (or
// gone), for at most limit.
func (cg *Cgroup) waitEmpty(limit time.Duration) bool {
	return waitFor(limit, func() bool {
		for _, d := range cg.Dirs {
			if pids, err := procs(d.Path); err == nil && len(pids) > 0 {
				return false
			}
		}
		return true
	})
}

// procs lists the processes in the cgroup dir.
func procs(dir string) ([]int, error) {
	b, err := readFile(filepath.Join(dir, "cgroup.procs"))
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

// killEach sends SIGKILL to each process of dir.
func killEach(dir string) error {
	pids, err := procs(dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := sys.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return nil
}

// RemoveLeftovers removes the cgroups that killed runtimes left behind
// (box-* directories with no processes that nobody holds a lock on) and
// returns their paths. Create does the same before each container.
func RemoveLeftovers() ([]string, error) {
	n, err := Detect()
	if err != nil {
		return nil, err
	}
	v, _ := versionOf(n)
	unlock, err := lockTree()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var parents []Dir
	if n == 1 {
		parents, err = v.parents()
	} else {
		// Only look: handing controllers down is for a runtime that
		// makes a cgroup.
		parents = []Dir{{Path: v2Parent}}
	}
	if err != nil {
		return nil, err
	}
	return removeLeftovers(parents)
}

// removeLeftovers removes the leftovers in parents.
func removeLeftovers(parents []Dir) ([]string, error) {
	var removed []string
	for _, parent := range parents {
		entries, err := readDir(parent.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("list %s: %w", parent.Path, err)
		}
		for _, e := range entries {
			if !e.IsDir() || !leftoverName(e.Name()) {
				continue
			}
			dir := filepath.Join(parent.Path, e.Name())
			if pids, err := procs(dir); err != nil || len(pids) > 0 {
				continue // a running container's
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

// removeLeftover removes dir if no runtime holds its lock. A runtime may
// remove its own cgroup at any moment, as its container ends: a directory
// gone meanwhile is no error.
func removeLeftover(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := sys.Lock(f, true, true); errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil // a runtime holds it: its container is starting or ending
	} else if err != nil {
		return false, err
	}
	narrate.Explain(narrate.Cgroup, "%s has no processes and no runtime holds its lock: a killed runtime left it behind.", dir)
	err = sys.Rmdir(dir)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// contains tells whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
