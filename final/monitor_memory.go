package main

// monitor_memory.go keeps a detached container's monitor small. The
// monitor lives as long as its container, copying its output to the log,
// so what it holds is held for hours, per container; bench/README.md has
// the measurements (BenchmarkMonitorRSS in tests/).
//
// box is a big program: copying, it kept some 3 MB of its own file mapped
// and 2 MB of heap and runtime left from setting the container up. So the
// monitor lives as three programs, one process (one pid, the supervisor
// lock held throughout):
//
//	box monitor ID                    sets the container up, as run does
//	 └ execve box-monitor PID ...     copies the output to the log, waits
//	    └ execve box monitor ID resume  records the exit, cleans up
//
// box-monitor hands back to box early if the log's filesystem fills up
// (box counts what is dropped). A monitor with -t (the terminal's relay)
// or -p (the port proxies) stays box, shrunk by shrinkMonitor.

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"box/final/internal/initproc"
	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"
)

// monitorArgs recognizes the command lines startDetached gives the
// monitor, its global flags then "monitor ID", and box-monitor gives box
// to hand the container back, "monitor ID resume PID STATUS OUTPUT
// UNWRITTEN", so main can start the monitor without building the parser:
// kong's model of every command would stay reachable, in the heap, for
// the container's whole life.
func monitorArgs(args []string) (g *cli, m *monitorCmd, ok bool) {
	g = &cli{}
flags:
	for len(args) > 2 {
		switch args[0] {
		case "--state-dir":
			g.StateDir, args = args[1], args[2:]
		case "--store":
			g.Store, args = args[1], args[2:]
		case "--explain":
			g.Explain, args = true, args[1:]
		default:
			break flags
		}
	}
	if len(args) < 2 || args[0] != "monitor" || g.StateDir == "" || g.Store == "" {
		return nil, nil, false
	}
	m = &monitorCmd{ID: args[1]}
	switch rest := args[2:]; {
	case len(rest) == 0:
	case len(rest) == 5 && rest[0] == "resume":
		var n [4]int
		for i, s := range rest[1:] {
			v, err := strconv.Atoi(s)
			if err != nil {
				return nil, nil, false
			}
			n[i] = v
		}
		m.resume = &monitorResume{pid: n[0], status: n[1], output: n[2], unwritten: n[3]}
	default:
		return nil, nil, false
	}
	return g, m, true
}

// monitorResume is what box-monitor hands box back with: the container's
// init, which it may have waited for already, and its output, which it
// may have copied all of already.
type monitorResume struct {
	pid       int
	status    int // the raw wait status; -1: not waited for yet
	output    int // the descriptor to go on copying from; -1: all copied
	unwritten int // bytes read from the container that the log did not take
}

// becomeMonitorProgram execve()s box-monitor (final/cmd/box-monitor), a
// small program that copies the container's output to the log and waits
// for it, in place of this big one: copying, box keeps some 3 MB of its
// own file mapped, the kernel mapping it 64 KB at a time around each page
// the copy and the Go runtime touch (fault-around), where box-monitor's
// whole file is smaller. The execve is made from the thread that forked
// the init, whose Pdeathsig would fire if that thread ended. box-monitor
// execve()s box again when the container has exited (monitorResume).
func becomeMonitorProgram(g *cli, s *supervisor, program, output, explain *os.File) error {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("open this program, to be executed again at the container's exit: %w", err)
	}
	defer self.Close()
	narrate.Explain(narrate.Process, "The container runs: become %s, a small program that copies its output to the log and waits for it, in place of box, for the container's life; it executes box again when the container has exited.", sys.MonitorProgramName)
	explainFD := -1
	inherit := []*os.File{output, self}
	if explain != nil {
		explainFD = int(explain.Fd())
		inherit = append(inherit, explain)
	}
	for _, f := range inherit {
		if err := sys.InheritOnExec(int(f.Fd())); err != nil {
			return err
		}
	}
	var opts state.LogOptions
	if s.c.Config.Log != nil {
		opts = *s.c.Config.Log
	}
	itoa := strconv.Itoa
	argv := append([]string{sys.MonitorProgramName, itoa(s.pid), itoa(int(output.Fd())), itoa(int(self.Fd())), itoa(explainFD),
		s.c.LogPath(), strconv.FormatInt(opts.MaxSize, 10), itoa(opts.MaxFiles), os.Args[0]}, g.globalArgs()...)
	argv = append(argv, "monitor", s.c.ID)
	env := oneProcessor(os.Environ()) // as startDetached started us
	s.onForkThread(func() {
		err = sys.Execve("/proc/self/fd/"+itoa(int(program.Fd())), argv, env)
	})
	return err
}

// oneProcessor is env with GOMAXPROCS=1, for a monitor: the Go runtime then
// runs one P, and makes no thread for a second.
func oneProcessor(env []string) []string {
	one := []string{"GOMAXPROCS=1"}
	for _, e := range env {
		if !strings.HasPrefix(e, "GOMAXPROCS=") {
			one = append(one, e)
		}
	}
	return one
}

// run supervises the container on from where box-monitor handed it back:
// it goes on copying its output, if need be, waits for its exit, if need
// be, then records it and cleans up, as the monitor's wait does.
func (r *monitorResume) run(store *state.Store, c *state.Container) error {
	explain, err := openExplainLog(c)
	if err != nil {
		return err
	}
	if explain != nil {
		defer explain.Close()
		narrate.Setup(true, explain, false)
	}
	s := &supervisor{store: store, c: c, narration: os.Stderr}
	var copying *logCopy
	if r.output >= 0 {
		output := os.NewFile(uintptr(r.output), "output")
		sys.CloseOnExec(r.output)
		if copying, err = startCopy(c, output); err != nil {
			// The container must not block on a full pipe, nor die
			// with us: its output is dropped, and counted.
			fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
			copying = discardCopy(c, output, r.unwritten)
		} else if r.unwritten > 0 {
			copying.log.mu.Lock()
			copying.log.drop(make([]byte, r.unwritten))
			copying.log.mu.Unlock()
		}
	}
	status := r.status
	if status < 0 {
		shrinkMonitor() // the copy and the wait, for the container's life
		for {
			pid, ws, err := sys.Reap()
			if err != nil {
				status = exitSetupFailed << 8 // as exit(125)
				break
			}
			if pid == r.pid {
				status = int(ws)
				break
			}
		}
	}
	if copying != nil {
		copying.drain()
	}
	s.finish(initproc.ExitStatus(syscall.WaitStatus(status)))
	return nil
}

// monitorHeadroom is how much the monitor's Go memory may grow past what
// it holds once the container runs before a collection: its copy loop
// allocates nothing, per write or per rotation.
const monitorHeadroom = 1 << 20

// shrinkMonitor gives back, once the container runs, what setting it up
// took, and keeps the monitor from taking it again, in a monitor that stays
// box (-t, -p, or a log whose filesystem filled up):
//   - one P (GOMAXPROCS 1): the copy and the wait need no parallelism,
//     and each P keeps caches of its own;
//   - a collection now, returning the free heap to the kernel;
//   - no collection by heap growth (GOGC off), which would run every two
//     minutes at least and fault in the collector's code and tables, but
//     one at a memory limit of what the monitor holds now plus
//     monitorHeadroom, so that garbage stays bounded;
//   - the program's pages unmapped (sys.DropProgramPages): the copy loop
//     faults back in the few it runs. What runs once more after that (the
//     first rotation, a collection at the limit) faults in its own, so
//     they are dropped again a second later and after each collection.
func shrinkMonitor() {
	runtime.GOMAXPROCS(1)
	debug.FreeOSMemory()
	// runtime.ReadMemStats, not runtime/metrics: that package builds its
	// table of every metric at init, in every box process (0.5 ms of each
	// start, GODEBUG=inittrace=1), for this one read. Sys is
	// /memory/classes/total:bytes, HeapReleased its released heap.
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	debug.SetMemoryLimit(int64(m.Sys-m.HeapReleased) + monitorHeadroom)
	debug.SetGCPercent(-1)
	narrate.Explain(narrate.Process, "The container runs: give back the pages of this program that set it up; the monitor only copies its output and waits from now on.")
	_ = sys.DropProgramPages()
	time.AfterFunc(time.Second, func() { _ = sys.DropProgramPages() })
	dropAfterCollection()
}

// collectionMark is garbage whose finalizer tells that a collection ran;
// not smaller than 16 bytes, which the allocator would pack with others.
type collectionMark struct{ _ [32]byte }

// dropAfterCollection drops the program's pages after the next
// collection, and again after each one after it.
func dropAfterCollection() {
	runtime.SetFinalizer(new(collectionMark), func(*collectionMark) {
		_ = sys.DropProgramPages()
		dropAfterCollection()
	})
}
