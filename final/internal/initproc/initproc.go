// Package initproc is the container's PID 1 after setup, as docker run
// --init (tini) provides: it starts the command as its child, then reaps
// every zombie and forwards signals until the command exits.
//
// PID 1 has two duties in a PID namespace (pid_namespaces(7)). Orphans are
// reparented to it, and stay zombies until it waits for them: a shell
// script or a server that forks leaks process table entries otherwise. And
// the kernel delivers to it only the signals it has a handler for: a
// command that never installed one (sleep, most programs) would ignore
// docker stop's SIGTERM as PID 1. The init handles both and passes each
// signal to the command, which is not PID 1 and so gets default actions.
package initproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Forwarded are the signals the init passes on to the command.
var Forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
}

// Run starts cmd, then serves as init until cmd exits, and returns its
// status as a shell reports it: the exit code, or 128+N after signal N.
// Other children that exit meanwhile are reaped and forgotten. The
// narration prints the child's calls before execve from cmd itself;
// started runs once the command exists, after the last narrated line.
// With execListener (else nil), the init also starts what box exec asks
// for through that socket (see exec.go). With narrateOn (else nil: silent)
// the narration goes on there once the command runs: a detached
// container's explain.log hears of each signal passed on.
//
// The caller's goroutine must be locked to the thread that dropped the
// container's privileges: every process is forked from it.
//
// Run is the init's last act: its caller exits with the status at once.
// So the signals it catches stay caught: signal.Stop would cost a round
// trip to the Go runtime's signal thread for each signal, between the
// command's exit and the init's, which is when box run is waited for.
func Run(cmd *exec.Cmd, started func(), execListener, narrateOn *os.File) (int, error) {
	// Catch signals before the command exists, so none is lost between;
	// SIGCHLD says a child exited.
	signals, children := catchSignals()

	prewarmThreads(spareThreads)
	narrate.Explain(narrate.Process, "Start the command as a child; this process stays as the container's init (PID 1).")
	pid, err := sys.StartChild(cmd)
	if err != nil {
		return 0, err
	}
	narrate.Explain(narrate.Process, "From now on: on each SIGCHLD, wait4(-1, WNOHANG) reaps every zombie, and each signal received is passed on with kill(%d, SIG).", pid)
	// The narration on run's stderr ends here: what follows runs for the
	// container's life. Only narrateOn, if given, hears of it, and a box
	// exec --explain of what the init does for that box exec.
	narrate.Off()
	started()
	if narrateOn != nil {
		narrate.Setup(true, narrateOn, false)
	}
	// Nothing below blocks a thread in a system call: waiting for children
	// is SIGCHLD, and the exec socket is Go's poller's. A thread blocked in
	// the kernel makes the Go runtime start another to run the rest, and
	// under the container's pids.max, which the init's threads count
	// against, a thread it cannot start is a crash. Everything is done
	// from this loop, one thing at a time, so what the init narrates for a
	// box exec is all it does meanwhile.
	requests := make(chan *pendingExec)
	execSignals := make(chan execSignal)
	if execListener != nil {
		go serveExec(execListener, requests, execSignals)
	}
	execs := map[int]*net.UnixConn{} // exec'd pid -> its box exec connection
	for {
		select {
		case s := <-signals:
			sig := s.(syscall.Signal)
			narrate.Explain(narrate.Process, "This init (PID 1) got %s: pass it on to the command.", unix.SignalName(sig))
			_ = sys.Kill(pid, sig)
		case s := <-execSignals:
			_, running := execs[s.pid]
			signalExec(s, running)
		case <-children:
			for {
				r, status, err := sys.ReapExited()
				if err != nil {
					return 0, fmt.Errorf("wait4: %w", err) // ECHILD: the command is gone unseen
				}
				if r == 0 {
					break
				}
				if r == pid {
					code := ExitStatus(status)
					narrate.Explain(narrate.Process, "The command exited (status %d): this init exits with it, and as PID 1 leaves, the kernel kills what is left in the container.", code)
					return code, nil
				}
				if conn, ok := execs[r]; ok {
					code := ExitStatus(status)
					sendEvent(conn, ExecEvent{Exit: &code}) // box exec then hangs up
					delete(execs, r)
				}
			}
		case p := <-requests:
			// Started here, on the restricted thread; registered before
			// the next SIGCHLD is read, so its exit cannot be missed.
			execPid := startExec(p)
			if execPid != 0 {
				execs[execPid] = p.conn
			}
			p.reply <- execPid
		}
	}
}

// catchSignals has the forwarded signals and SIGCHLD delivered to the
// channels it returns. signal.Notify has the Go runtime's signal thread
// unblock each signal, a round trip to that thread per signal. From the
// caller's goroutine, locked to its thread, each round trip would also go
// through a third thread on its way there and back: a goroutine of its
// own asks instead, and the caller waits for it.
func catchSignals() (signals, children chan os.Signal) {
	signals = make(chan os.Signal, 16)
	children = make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		signal.Notify(signals, Forwarded...)
		signal.Notify(children, unix.SIGCHLD)
		close(done)
	}()
	<-done
	return signals, children
}

// spareThreads is how many idle OS threads the init keeps for later.
const spareThreads = 2

// prewarmThreads makes the Go runtime start n more OS threads now, before
// the command exists. pids.max counts threads: an init that needs a new one
// after the command forked up to the limit cannot get it, and Go dies when
// clone fails. Threads a goroutine locked and then unlocked stay idle in the
// runtime, to be reused instead of created.
func prewarmThreads(n int) {
	var locked sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		locked.Add(1)
		go func() {
			runtime.LockOSThread()
			locked.Done()
			<-release // holding this thread makes the others take new ones
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
}

// ExitStatus is the status a shell would report for ws.
func ExitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
