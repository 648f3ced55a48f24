package main

// cleanup.go is the cleanup command: find and remove what a runtime that
// was killed (kill -9, a crash, a power cut of its terminal) left behind.
// A live container always has a supervisor holding its lock; a container
// without one, that never recorded an exit, was abandoned. A container
// whose state is gone (a cleared /run, a reboot) is found by what it left
// in the image store and the mount table: its root, and the overlay on it.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"box/final/internal/cgroups"
	"box/final/internal/image"
	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

type cleanupCmd struct{}

func (cl *cleanupCmd) Run(g *cli) error {
	if err := needRoot("cleanup"); err != nil {
		return err
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	dirs, err := store.Dirs()
	if err != nil {
		return err
	}
	removed := 0
	// Roots first: killing an orphan's processes lets its cgroup go.
	roots, err := sweepOrphanRoots(g, store)
	for _, what := range roots {
		fmt.Println(what)
		removed++
	}
	if err != nil {
		return err
	}
	for _, p := range plugins {
		if sw, ok := p.(sweeper); ok {
			found, err := sw.Sweep()
			for _, what := range found {
				fmt.Printf("removed %s: its runtime was killed\n", what)
				removed++
			}
			if err != nil {
				return err
			}
		}
	}
	for _, dir := range dirs {
		if state.Supervised(dir) {
			continue
		}
		c, err := store.LoadDir(dir)
		if err == nil && c.Status == state.Exited {
			// A normal stopped container: keep it for ps -a and rm, but
			// finish what its supervisor may not have.
			if err := removePlugins(c, plugins); err != nil {
				return err
			}
			continue
		}
		name := filepath.Base(dir)
		if err == nil {
			name = c.Name
			if err := killAbandoned(c); err != nil {
				return err
			}
			if err := removePlugins(c, plugins); err != nil {
				return err
			}
		}
		if err := unmountBelow(dir); err != nil {
			return err
		}
		if err := state.RemoveDir(dir); err != nil {
			return err
		}
		fmt.Printf("removed %s: its runtime was killed\n", name)
		removed++
	}
	if removed == 0 {
		fmt.Println("nothing to clean up")
	}
	return nil
}

// sweepOrphanRoots removes the container roots of the image store whose
// container's state is gone: it kills what still runs in them, unmounts
// and deletes them, and says so, one line each; then the image store's
// short links whose layer is gone (image.Store.RemoveStaleLinks).
func sweepOrphanRoots(g *cli, store *state.Store) ([]string, error) {
	s, err := image.Open(g.Store)
	if err != nil {
		return nil, err
	}
	all, err := store.List()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, c := range all {
		known[c.Config.Rootfs] = true
	}
	orphans, err := s.Orphans(func(rootfs string) bool { return known[rootfs] })
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, r := range orphans {
		why := "its container's state is gone"
		if owner := r.Owner(); owner != "" {
			why = fmt.Sprintf("its container's state %s is gone", owner)
		}
		mounted, err := r.Mounted()
		if err != nil {
			return lines, err
		}
		if mounted && r.Owner() == "" {
			// Made by a runtime older than owner files: it may be the live
			// container of another state dir, so it is not ours to kill.
			narrate.Explain(narrate.Layers, "Leave %s: it is mounted and names no state dir, so it may be another state dir's container.", r.Dir())
			continue
		}
		killed, err := killStandingOn(r)
		if err != nil {
			return lines, err
		}
		if killed > 0 {
			why += fmt.Sprintf("; killed the %s still running in it", plural(killed, "process"))
		}
		if err := r.Remove(); err != nil {
			return lines, err
		}
		what := "removed container root " + r.Dir()
		if mounted {
			what = "unmounted and " + what
		}
		lines = append(lines, what+": "+why)
	}
	stale, err := s.RemoveStaleLinks()
	for _, p := range stale {
		lines = append(lines, "removed short link "+p+": the layer it named is gone")
	}
	return lines, err
}

// plural is "1 process", "2 processes".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "s") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// killWait bounds the wait for a killed process to go, in milliseconds.
const killWait = 10000

// killStandingOn kills the processes that stand on the container root r
// (a container's, after its pivot_root, and exec's after its setns; see
// image.Root.IsRootOf), and the
// supervisor (run, or the monitor of run -d) of the container's PID 1, and
// waits until they are gone, so what they hold (a cgroup, the overlay) is
// free. It returns how many processes of the container it killed.
func killStandingOn(r *image.Root) (int, error) {
	rootfs := r.Rootfs()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	var pidfds, pids []int
	defer func() {
		for _, fd := range pidfds {
			sys.Close(fd)
		}
	}()
	supervisor := -1
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if !r.IsRootOf(pid) {
			continue
		}
		pidfd, err := sys.PidfdOpen(pid)
		if err != nil {
			continue // gone meanwhile
		}
		// Check again through the pidfd's process: the pid may have been
		// reused between the look and the open.
		if !r.IsRootOf(pid) {
			sys.Close(pidfd)
			continue
		}
		if ppid, ok := initParent(pid); ok && !r.IsRootOf(ppid) {
			supervisor = ppid
		}
		pidfds = append(pidfds, pidfd)
		pids = append(pids, pid)
	}
	if len(pidfds) == 0 {
		return 0, nil
	}
	// The supervisor first: with its state gone it can record nothing,
	// and the kernel kills the init with it (Pdeathsig).
	if supervisor > 0 {
		if fd, err := sys.PidfdOpen(supervisor); err == nil {
			narrate.Explain(narrate.Process, "Kill %d, which supervised the container in %s: its state is gone.", supervisor, rootfs)
			if err := sys.PidfdSendSignal(fd, unix.SIGKILL); err == nil {
				_, _ = sys.WaitExit(fd, -1)
			}
			sys.Close(fd)
		}
	}
	// A paused container's processes cannot die (v1) until thawed.
	if err := cgroups.ThawProcess(pids[0]); err != nil {
		narrate.Explain(narrate.Cgroup, "Could not thaw the container's cgroup: %v.", err)
	}
	narrate.Explain(narrate.Process, "Kill the %s whose root is %s: the container's state is gone, so nobody could stop them.", plural(len(pidfds), "process"), rootfs)
	for _, fd := range pidfds {
		if err := sys.PidfdSendSignal(fd, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return 0, err
		}
	}
	for i, fd := range pidfds {
		exited, err := sys.WaitExit(fd, killWait)
		if err != nil {
			return 0, err
		}
		if !exited {
			return 0, fmt.Errorf("process %d of the container in %s did not die of SIGKILL within %d s; see its state in /proc/%d/status", pids[i], rootfs, killWait/1000, pids[i])
		}
	}
	return len(pidfds), nil
}

// initParent returns the parent of pid if pid is PID 1 of a PID namespace
// of its own (the last NSpid in /proc/PID/status is 1).
func initParent(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	ppid, isInit := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		key, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		switch {
		case key == "PPid" && len(fields) == 1:
			ppid, _ = strconv.Atoi(fields[0])
		case key == "NSpid" && len(fields) > 1:
			isInit = fields[len(fields)-1] == "1"
		}
	}
	return ppid, isInit && ppid > 0
}

// killAbandoned kills the init of a container nobody supervises, if it
// somehow outlived its runtime; nobody could stop it otherwise.
func killAbandoned(c *state.Container) error {
	pidfd, err := openContainerProcess(c)
	if errors.Is(err, errNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	defer sys.Close(pidfd)
	narrate.Explain(narrate.Process, "Kill %s's init: no runtime supervises it any more.", c.Name)
	if err := sys.PidfdSendSignal(pidfd, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	_, err = sys.WaitExit(pidfd, -1)
	return err
}

// unmountBelow detaches every mount at or below dir in our mount table,
// deepest first, as a killed runtime may have left them (an overlay, a
// tmpfs for its upper dir).
func unmountBelow(dir string) error {
	points, err := mountPoints()
	if err != nil {
		return err
	}
	var below []string
	for _, p := range points {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			below = append(below, p)
		}
	}
	sort.Slice(below, func(i, j int) bool { return len(below[i]) > len(below[j]) })
	for _, p := range below {
		narrate.Explain(narrate.Mount, "Detach %s, left mounted by a killed runtime.", p)
		if err := sys.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return nil
}

// mountPoints lists the mount points of our mount namespace, from field 5
// of /proc/self/mountinfo (proc(5)), where a space is written \040.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		points = append(points, unescapeMountPath(fields[4]))
	}
	return points, sc.Err()
}

// unescapeMountPath decodes the octal escapes (\040, \011, \012, \134) the
// kernel writes in mountinfo paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
