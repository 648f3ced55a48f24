package main

// supervise.go starts a container's init process and waits for it. The
// foreground run and the monitor of run -d both supervise this way.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"box/final/internal/initproc"
	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/pty"
	"box/final/internal/rootfs"
	"box/final/internal/runinit"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// execSocket is the name of the socket box exec asks the init through.
const execSocket = "exec.sock"

// supervisor runs one container.
type supervisor struct {
	store *state.Store
	c     *state.Container
	// stdin, stdout and stderr are the init's, and the command's without -t.
	stdin, stdout, stderr *os.File
	// narration is where the init narrates and reports setup errors.
	narration *os.File
	// narrateOn, if set, is where the init narrates once the command runs
	// (a detached container's explain.log): what it does for box stop and
	// box kill. nil: it falls silent then.
	narrateOn *os.File
	// With -t: where keys come from (nil: nowhere) and output goes.
	terminalIn  *os.File
	terminalOut io.Writer

	// pid is the init's; it is ours to reap (reap), and until then no
	// other process can have its number.
	pid int
	// exit guards waitStatus and exited: signals are sent to pid only
	// until it is reaped.
	exit       sync.Mutex
	exited     bool
	waitStatus syscall.WaitStatus
	relay      *pty.Relay
	// reaped, closed by reap, lets the thread that forked the init end.
	reaped chan struct{}
	// onThread runs functions on that thread (see onForkThread).
	onThread chan func()
	// drain, if set, waits until the container's last output is copied
	// (the monitor relays it to the log), before the exit is recorded.
	drain func()
}

// start starts the container and returns once its command runs. If setup
// fails, it waits for the init, removes everything, and returns the init's
// status as an exitCode (125, or 126/127 for a command that cannot run).
func (s *supervisor) start() error {
	c := s.c
	if err := createPlugins(c); err != nil {
		s.discard()
		return err
	}
	status, err := s.startInit()
	if err != nil {
		removePlugins(c, plugins)
		s.discard()
		if status != 0 {
			return exitCode(status)
		}
		return err
	}
	return nil
}

// startInit starts the init in its new namespaces and waits until it is
// ready; on failure status is the init's exit status, if it got that far.
func (s *supervisor) startInit() (status int, err error) {
	c := s.c
	flags, err := namespaces.CloneFlags(c.Config.Namespaces)
	if err != nil {
		return 0, err
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer specW.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		specR.Close()
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer readyR.Close()
	var consoleOurs, consoleTheirs *os.File
	if c.Config.TTY {
		if consoleOurs, consoleTheirs, err = sys.Socketpair(); err != nil {
			specR.Close()
			readyW.Close()
			return 0, err
		}
		defer consoleOurs.Close()
	}

	// Go cannot unshare a PID or user namespace in place: its runtime is
	// already multithreaded, and unshare(2) refuses (or affects only new
	// children). So we start a program with clone(2) flags that put it in
	// new namespaces, and that program, box-init (internal/runinit), sets
	// up the container and starts the command. It is small and of its own,
	// not a copy of box, so each container's init starts faster and
	// lighter; it is executed through a descriptor (runinit.FDProgram).
	program, err := sys.OpenInitProgram()
	if err != nil {
		specR.Close()
		readyW.Close()
		return 0, err
	}
	defer program.Close()
	cmd := exec.Command("/proc/self/fd/"+strconv.Itoa(runinit.FDProgram), "init")
	cmd.Args[0] = sys.InitProgramName
	// One processor from the start: the Go runtime then makes no thread
	// for a second one, and each thread is one more for pids.max and for
	// every capability drop to stop. The command gets the spec's
	// environment, not this one, and the init's /proc/1/environ is
	// closed to it (the init is not dumpable).
	cmd.Env = []string{"GOMAXPROCS=1"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdin, s.stdout, s.stderr
	var execListener *os.File
	if c.Config.IDMap != nil && !c.Config.NoInit {
		if execListener, err = sys.ListenUnix(filepath.Join(c.Dir(), execSocket)); err != nil {
			specR.Close()
			readyW.Close()
			return 0, err
		}
		defer execListener.Close() // the init has its own copy
	}
	cmd.ExtraFiles = []*os.File{specR, consoleTheirs, s.narration, readyW, execListener, s.narrateOn, program}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: flags,
		// If we die, the kernel kills the container's init, and with it the
		// whole PID namespace: nothing outlives the runtime.
		Pdeathsig: syscall.SIGKILL,
		// A session of its own: ^C on your terminal reaches only us, and
		// we pass it on once (see forwardSignals); and with --no-init the
		// command may take the container's terminal as its controlling one.
		Setsid: true,
	}
	if m := c.Config.IDMap; m != nil {
		// The kernel makes the user namespace first, and it owns the
		// others: root in it may mount, set the hostname and configure
		// the network, but only in the namespaces it owns. Then the child
		// becomes uid and gid 0 of the namespace, so it execs as root there.
		cmd.SysProcAttr.UidMappings = namespaces.SysProcIDMap(*m)
		cmd.SysProcAttr.GidMappings = namespaces.SysProcIDMap(*m)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		// Root in the user namespace may not write to a rootfs owned by
		// host ids it does not map: make what must exist from out here.
		if err := rootfs.MakeMountPoints(c.Config.Rootfs, c.Config.Volumes, c.Config.Workdir); err != nil {
			specR.Close()
			readyW.Close()
			return 0, err
		}
	}
	for _, p := range plugins {
		if h, ok := p.(cloneHook); ok {
			if err := h.CloneAttr(c, cmd.SysProcAttr); err != nil {
				specR.Close()
				readyW.Close()
				return 0, err
			}
		}
	}
	pid, err := s.startProcess(cmd)
	specR.Close()
	readyW.Close()
	if consoleTheirs != nil {
		consoleTheirs.Close()
	}
	if err != nil {
		return 0, err
	}
	s.pid = pid
	fail := func(err error) (int, error) {
		s.signal(unix.SIGKILL)
		_ = s.reap()
		return 0, err
	}
	for _, p := range plugins {
		if err := p.Started(c, pid); err != nil {
			return fail(err)
		}
	}
	spec := runinit.Spec{ID: c.ID, Name: c.Name, Config: c.Config, Explain: narrate.Enabled(), Color: narrate.Colored(),
		Winsize: sys.Winsize{Rows: 24, Cols: 80}}
	if s.terminalIn != nil {
		if size, err := sys.GetWinsize(int(s.terminalIn.Fd())); err == nil {
			spec.Winsize = size
		}
	}
	b, err := runinit.EncodeSpec(spec)
	if err == nil {
		_, err = specW.Write(b)
	}
	if err != nil {
		return fail(fmt.Errorf("send the container's spec: %w", err))
	}
	specW.Close() // the init reads to the end: the host side is ready

	if c.Config.TTY {
		master, err := pty.ReceiveMaster(consoleOurs)
		if err == nil {
			s.relay, err = pty.StartRelay(master, s.terminalIn, s.terminalOut)
		}
		if err != nil {
			return s.failedSetup(err)
		}
	}
	ready, _ := io.ReadAll(readyR)
	if string(ready) != "ready" {
		return s.failedSetup(nil)
	}
	start, _ := state.ProcessStart(pid)
	cgroup := c.Cgroup // recorded by the cgroup plugin's Create
	err = s.store.Update(c, func(c *state.Container) error {
		c.Status, c.Pid, c.PidStart, c.Started, c.Supervisor = state.Running, pid, start, time.Now().UTC(), os.Getpid()
		c.Cgroup = cgroup
		return nil
	})
	if err != nil {
		return fail(err)
	}
	for _, p := range plugins {
		if h, ok := p.(runningHook); ok {
			h.Running(c)
		}
	}
	return 0, nil
}

// startProcess starts the init from a goroutine locked to a thread of its
// own, which the plugins may move first (see threadHook). That thread
// then waits until reap: the kernel sends the init its Pdeathsig when the
// thread that forked it ends, not its process (prctl(2),
// PR_SET_PDEATHSIG), and Go ends a locked thread whose goroutine returns.
func (s *supervisor) startProcess(cmd *exec.Cmd) (int, error) {
	type started struct {
		pid int
		err error
	}
	result := make(chan started)
	reaped := make(chan struct{})
	onThread := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with us
		pid, err := forkHere(s.c, cmd)
		result <- started{pid, err}
		for err == nil {
			select {
			case <-reaped:
				return
			case f := <-onThread:
				f()
			}
		}
	}()
	r := <-result
	if r.err == nil {
		s.reaped, s.onThread = reaped, onThread
	}
	return r.pid, r.err
}

// onForkThread runs f on the thread that forked the init and returns when
// f does: a monitor that execve()s another program must do it from there,
// or the init's Pdeathsig would fire as execve ends that thread.
func (s *supervisor) onForkThread(f func()) {
	done := make(chan struct{})
	s.onThread <- func() {
		f()
		close(done)
	}
	<-done
}

// forkHere starts the init from the calling thread, moved by the plugins'
// thread hooks for the clone(2) and back after it.
func forkHere(c *state.Container, cmd *exec.Cmd) (int, error) {
	var leaves []func() error
	leave := func() error {
		var first error
		for i := len(leaves) - 1; i >= 0; i-- {
			if err := leaves[i](); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	for _, p := range plugins {
		if h, ok := p.(threadHook); ok {
			l, err := h.EnterThread(c)
			if err != nil {
				_ = leave()
				return 0, err
			}
			leaves = append(leaves, l)
		}
	}
	narrate.Explain(narrate.Process, "Start the container's init, box-init (box's small container-side program, run from the descriptor it is open at), in new %s namespaces.", strings.Join(c.Config.Namespaces, ", "))
	// StartChild, not os/exec: we reap the init ourselves (reap), and
	// os/exec's first start in a process forks a throwaway child first,
	// to see whether CLONE_PIDFD works.
	pid, err := sys.StartChild(cmd)
	if err := leave(); err != nil && pid != 0 {
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = sys.WaitPid(pid)
		return 0, err
	}
	return pid, err
}

// reap waits for the init and lets the thread that forked it end; once
// reaped, it returns at once.
func (s *supervisor) reap() error {
	s.exit.Lock()
	done := s.exited
	s.exit.Unlock()
	if done {
		return nil
	}
	ws, err := sys.WaitPid(s.pid)
	s.exit.Lock()
	s.exited, s.waitStatus = true, ws
	s.exit.Unlock()
	if s.reaped != nil {
		close(s.reaped)
		s.reaped = nil
	}
	return err
}

// signal sends sig to the init, unless it has been reaped: its number
// may be another process's by then.
func (s *supervisor) signal(sig syscall.Signal) {
	s.exit.Lock()
	defer s.exit.Unlock()
	if !s.exited {
		_ = unix.Kill(s.pid, sig)
	}
}

// initStatus is the reaped init's status as a shell would report it.
func (s *supervisor) initStatus() int {
	s.exit.Lock()
	defer s.exit.Unlock()
	return initproc.ExitStatus(s.waitStatus)
}

// failedSetup waits for an init that stopped before its command ran and
// returns its status; the init has said why on the narration descriptor.
func (s *supervisor) failedSetup(err error) (int, error) {
	if err != nil {
		s.signal(unix.SIGKILL)
	}
	_ = s.reap()
	if s.relay != nil {
		s.relay.Close()
	}
	status := s.initStatus()
	if err != nil {
		return 0, err
	}
	if status == 0 || status >= 128 {
		return 0, fmt.Errorf("the container's init stopped before its command ran (%s)", sys.WaitStatusString(s.waitStatus))
	}
	return status, errors.New("setup failed")
}

// discard removes the state of a container that never ran.
func (s *supervisor) discard() {
	_ = s.store.Remove(s.c)
}

// wait waits for the container to exit, records its status, undoes what
// the plugins made, and removes the container with --rm.
func (s *supervisor) wait() int {
	status := exitSetupFailed
	if err := s.reap(); err == nil {
		status = s.initStatus()
	}
	if s.relay != nil {
		s.relay.Wait()
	}
	if s.drain != nil {
		s.drain()
	}
	return s.finish(status)
}

// finish records the exit status of a container that has exited, undoes
// what the plugins made, and removes the container with --rm.
func (s *supervisor) finish(status int) int {
	c := s.c
	if c.Config.AutoRemove {
		// The state dir goes in a moment: the exit goes only to the
		// exit record, in place, which ps -a and inspect read meanwhile.
		_ = c.RecordExit(status, time.Now().UTC())
	} else {
		_ = s.store.Update(c, func(c *state.Container) error {
			c.Status, c.ExitCode, c.Finished = state.Exited, &status, time.Now().UTC()
			return nil
		})
	}
	if err := removePlugins(c, plugins); err != nil {
		fmt.Fprintf(s.narration, "%s: %v\n", programName, err)
	}
	if c.Config.AutoRemove {
		_ = s.store.Remove(c)
	}
	return status
}

// exitStatus is the status a shell would report: the exit code, or 128+N
// for a process killed by signal N.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		return initproc.ExitStatus(ws)
	}
	return ps.ExitCode()
}

// forwardedSignals are the signals a user sends the runtime and means for
// the container.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}

// catchSignals starts catching forwardedSignals, so that none kills the
// runtime while it sets the container up; they queue until forwarded.
func catchSignals() chan os.Signal {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, forwardedSignals...)
	return signals
}

// forwardSignals passes the signals a user sends the runtime on to the
// container's init, which passes them to the command, until stop is called.
func forwardSignals(p *os.Process) (stop func()) {
	return forwardCaught(catchSignals(), func(s os.Signal) { _ = p.Signal(s) })
}

// forwardSignalsTo calls send with each signal the runtime gets that a
// user would mean for the container, until stop is called.
func forwardSignalsTo(send func(os.Signal)) (stop func()) {
	return forwardCaught(catchSignals(), send)
}

// forwardCaught calls send with each signal caught on signals (those
// queued already first), until stop is called.
func forwardCaught(signals chan os.Signal, send func(os.Signal)) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-signals:
				send(s)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(signals)
		close(done)
	}
}
