package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Start lets a created container's process execute the user's program,
// and returns once it has: the process holds the exec fifo open,
// close-on-exec, so reading it to the end waits for the execve.
func (r *Runtime) Start(id string) error {
	c, err := r.Load(id)
	if err != nil {
		return err
	}
	switch st := c.Status(); st {
	case "created":
	case "stopped":
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already %s container", st)
	}
	if c.NoProcess {
		// The spec: start MUST fail if process was not set. The container
		// cannot run anything, so it stops here; delete removes it.
		if err := c.kill(); err != nil {
			return err
		}
		return fmt.Errorf("container %s has no process in %s: nothing to start; delete it, add \"process\" to config.json and create it again", c.ID, filepath.Join(c.Bundle, oci.ConfigName))
	}
	path := filepath.Join(c.dir, fifoFile)
	narrate.Explain(narrate.Process, "Open the exec fifo for reading: the container's process, blocked opening the other end, goes on.")
	fifo, err := c.openFifo(path)
	if err != nil {
		return err
	}
	defer fifo.Close()
	b, _ := io.ReadAll(fifo)
	if len(b) == 0 {
		return errors.New("the container's process exited before it started its program")
	}
	_ = os.Remove(path)
	if h := c.Hooks; h != nil {
		// A failing poststart hook is only reported: the program runs.
		runHooksWarning("poststart", h.Poststart, c.State())
	}
	return nil
}

// result is an opened file or why not.
type result struct {
	f   *os.File
	err error
}

// openFifo opens the exec fifo at path for reading. The open blocks until
// the container's process opens the other end, which it never does if it
// exits first: so the open runs on a goroutine, and this one waits in
// poll(2) for the first of the goroutine's word on a pipe and the
// process's exit on its pidfd. No Go timer: the first timer of a process
// built for Go 1.22's timer semantics registers a runtime metric, 43 %
// of start's own work in a CPU profile. Watching the process
// changes nothing, so the pidfd and the pipe are not narrated, as the
// state's reads are not. Without pidfds (Linux before 5.3) it checks the
// process every 100 ms instead.
func (c *Container) openFifo(path string) (*os.File, error) {
	opened := make(chan result, 1)
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(wake[0])
	go func() {
		f, err := sys.OpenFile(path, unix.O_RDONLY, "O_RDONLY|O_CLOEXEC")
		opened <- result{f, err}
		_, _ = unix.Write(wake[1], []byte{1})
		unix.Close(wake[1])
	}()
	pidfd, err := unix.PidfdOpen(c.Pid, 0)
	if err == unix.ESRCH {
		return c.openedAfterExit(path, opened)
	}
	if err != nil {
		for {
			select {
			case r := <-opened:
				return r.f, r.err
			case <-time.After(100 * time.Millisecond):
				if !c.alive() {
					return c.openedAfterExit(path, opened)
				}
			}
		}
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(wake[0]), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("poll: %w", err)
		}
		select {
		case r := <-opened:
			return r.f, r.err
		default:
		}
		if fds[1].Revents != 0 {
			return c.openedAfterExit(path, opened)
		}
	}
}

// openedAfterExit is openFifo's end once the container's process has
// exited. It may have opened the fifo, written its byte and executed the
// program (which may be gone already too) before our goroutine, whose
// open returned, ran again; or it died before. Opening the fifo's other
// end ourselves makes our open return either way, and the read after
// tells the two apart: the byte, or nothing.
func (c *Container) openedAfterExit(path string, opened chan result) (*os.File, error) {
	select {
	case r := <-opened:
		return r.f, r.err
	default:
	}
	narrate.Explain(narrate.Process, "The container's process has exited: open the fifo's other end too, so our open returns, and what we read says whether it started its program.")
	w, err := sys.OpenFile(path, unix.O_WRONLY|unix.O_NONBLOCK, "O_WRONLY|O_NONBLOCK|O_CLOEXEC")
	if err != nil {
		return nil, errExited
	}
	w.Close()
	r := <-opened
	return r.f, r.err
}

// errExited is start's error for a container whose process has gone.
var errExited = errors.New("cannot start a container whose process has exited; delete it and create it again")

// ParseSignal reads a signal as runc does: a name with or without SIG
// (TERM, SIGTERM) or a number (15).
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range 1 to 64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q, like TERM, SIGKILL or 9", s)
}

// Kill sends sig to the container's process, or with all to every process
// in its cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	c, err := r.Load(id)
	if err != nil {
		return err
	}
	if c.Status() == "stopped" && !all {
		return errors.New("container not running")
	}
	if all {
		return c.killAll(sig)
	}
	narrate.Explain(narrate.Process, "Send %s to the container's process.", unix.SignalName(sig))
	return sys.Kill(c.Pid, sig)
}

// killAll signals every process in the container's cgroup.
func (c *Container) killAll(sig unix.Signal) error {
	pids := c.pids()
	if c.alive() {
		pids = append(pids, c.Pid)
	}
	seen := map[int]bool{}
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if err := sys.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return nil
}

// pids lists the processes in the container's cgroup.
func (c *Container) pids() []int {
	if c.Cgroup == nil {
		return nil
	}
	var pids []int
	seen := map[int]bool{}
	for _, d := range c.Cgroup.Dirs {
		b, err := sys.ReadFileRaw(filepath.Join(d.Path, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Pids lists the processes of a container.
func (r *Runtime) Pids(id string) ([]int, error) {
	c, err := r.Load(id)
	if err != nil {
		return nil, err
	}
	return c.pids(), nil
}

// Delete removes a stopped (or just created) container: its cgroup, its
// state; then the poststop hooks run. force kills a running one first.
func (r *Runtime) Delete(id string, force bool) error {
	c, err := r.Load(id)
	if err != nil {
		return err
	}
	switch st := c.Status(); st {
	case "stopped":
	case "created":
		if err := c.kill(); err != nil {
			return err
		}
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st)
		}
		if st == "paused" && c.Cgroup != nil {
			_ = c.Cgroup.SetFrozen(false)
		}
		if err := c.kill(); err != nil {
			return err
		}
	}
	var first error
	if c.Cgroup != nil {
		// Nothing of what the cgroup counted is read: an engine reads a
		// container's usage while it runs, and delete reports none.
		if err := c.Cgroup.RemoveUncounted(); err != nil {
			first = err
		}
	}
	c.unmountShared()
	narrate.Explain(narrate.State, "Remove the container's state directory.")
	r.loaded = nil
	if err := c.removeDir(); err != nil && first == nil {
		first = fmt.Errorf("remove %s: %w", c.dir, err)
	}
	if h := c.Hooks; h != nil {
		st := c.State()
		st.Status = "stopped"
		runHooksWarning("poststop", h.Poststop, st)
	}
	return first
}

// removeDir removes the container's state directory: the files create
// makes there, then the directory, or if it holds more, all of it.
func (c *Container) removeDir() error {
	for _, name := range []string{stateFile, configFile, fifoFile} {
		_ = unix.Unlink(filepath.Join(c.dir, name))
	}
	if err := unix.Rmdir(c.dir); err == nil || err == unix.ENOENT {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// kill kills the container's processes and waits until its own is gone
// (a zombie counts: its engine reaps it).
func (c *Container) kill() error {
	narrate.Explain(narrate.Process, "Kill the container's processes (SIGKILL) and wait for its process to exit.")
	pidfd, err := sys.PidfdOpen(c.Pid)
	if err != nil {
		pidfd = -1
	}
	if err := c.killAll(unix.SIGKILL); err != nil {
		return err
	}
	if pidfd >= 0 {
		defer sys.Close(pidfd)
		if _, err := sys.WaitExit(pidfd, 10000); err != nil {
			return err
		}
	}
	return nil
}

// SetPaused freezes or thaws the container's cgroup.
func (r *Runtime) SetPaused(id string, paused bool) error {
	c, err := r.Load(id)
	if err != nil {
		return err
	}
	st := c.Status()
	if paused && st != "running" {
		return fmt.Errorf("container not running")
	}
	if !paused && st != "paused" {
		return fmt.Errorf("container not paused")
	}
	if c.Cgroup == nil {
		return errors.New("the container has no cgroup to freeze")
	}
	return c.Cgroup.SetFrozen(paused)
}

// unmountShared detaches the root a container without a mount namespace
// of its own mounted in the caller's, with everything below it.
func (c *Container) unmountShared() {
	if !c.sharesMounts() || c.Rootfs == "" {
		return
	}
	narrate.Explain(narrate.Mount, "The container shared our mount namespace: detach its root and every mount below it.")
	_ = sys.Unmount(c.Rootfs, unix.MNT_DETACH)
}
