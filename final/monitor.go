package main

// monitor.go supervises a detached container (run -d). run starts the
// monitor in a session of its own and returns; the monitor starts the
// container with its output going to a log file, waits for it, records its
// exit status and cleans up, as a foreground run would. Once the container
// runs, the monitor becomes box-monitor (final/cmd/box-monitor), a small
// program that copies and waits, which becomes box again at the exit
// (monitor_memory.go); with -t or -p it stays box.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"
)

type monitorCmd struct {
	ID string `arg:"" help:"The container to supervise."`
	// resume, from box-monitor's command line only (monitorArgs).
	resume *monitorResume
}

// fdSupervisorLock is where run hands the monitor the supervisor lock it
// took, so that no moment passes without one.
const fdSupervisorLock = 3

// drainLimit bounds the wait for a container's last output once its init
// has exited.
const drainLimit = 5 * time.Second

// startDetached starts a monitor for c and waits only until the container
// runs: meanwhile the monitor's stderr (with the init's narration and
// errors) is relayed to ours. Then it prints the ID, as docker run -d does.
func startDetached(g *cli, store *state.Store, c *state.Container) error {
	lock, err := store.HoldSupervisor(c)
	if err != nil {
		_ = store.Remove(c)
		return err
	}
	defer lock.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		_ = store.Remove(c)
		return fmt.Errorf("pipe: %w", err)
	}
	devNull, err := sys.DevNull(os.O_RDWR)
	if err != nil {
		_ = store.Remove(c)
		return err
	}
	defer devNull.Close()
	args := append(g.globalArgs(), "monitor", c.ID)
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = os.Args[0]
	// One P from the start: setting up needs no parallelism, and each P
	// keeps caches of its own (a smaller peak, bench/README.md).
	cmd.Env = oneProcessor(os.Environ())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, devNull, reportW
	cmd.ExtraFiles = []*os.File{lock}
	// A session of its own: no terminal, and no ^C or hangup from ours.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	narrate.Explain(narrate.Process, "Start a monitor in a new session: it supervises the container after we return.")
	_, err = sys.StartProcess(cmd, "setsid()")
	reportW.Close()
	if err != nil {
		reportR.Close()
		_ = store.Remove(c)
		return err
	}
	// The monitor and the init close their ends once the command runs, or
	// exit on failure: either way the copy ends.
	_, _ = io.Copy(os.Stderr, reportR)
	reportR.Close()
	c, err = store.Get(c.ID)
	if err != nil || c.Status == state.Created {
		// The monitor reported why on its stderr, which we just relayed.
		_ = cmd.Wait()
		if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() > 0 {
			return exitCode(cmd.ProcessState.ExitCode())
		}
		return exitCode(exitSetupFailed)
	}
	// The monitor goes on alone; whoever inherits it reaps it.
	_ = cmd.Process.Release()
	fmt.Println(c.ID)
	return nil
}

func (m *monitorCmd) Run(g *cli) error {
	lock := os.NewFile(fdSupervisorLock, "supervisor.lock")
	defer lock.Close()
	store, err := g.openStore()
	if err != nil {
		return err
	}
	c, err := store.Get(m.ID)
	if err != nil {
		return err
	}
	if m.resume != nil {
		return m.resume.run(store, c)
	}
	// Once the container runs, the monitor becomes box-monitor, unless it
	// keeps something box runs for the container's life: the terminal's
	// relay (-t) or the port proxies (-p).
	var program *os.File
	if !c.Config.TTY && len(c.Config.Ports) == 0 {
		if program, err = sys.OpenMonitorProgram(); err != nil {
			_ = store.Remove(c)
			return err
		}
		defer program.Close()
	}
	devNull, err := sys.DevNull(os.O_RDONLY)
	if err != nil {
		_ = store.Remove(c)
		return err
	}
	defer devNull.Close()
	// The output goes through us to the log, not straight to the file: a
	// write the full disk refuses then is counted and marked (logs.go),
	// where the container would have lost it without a word.
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = store.Remove(c)
		return fmt.Errorf("pipe: %w", err)
	}
	defer outR.Close()
	s := &supervisor{store: store, c: c, stdin: devNull, stdout: outW, stderr: outW, narration: os.Stderr}
	if program == nil {
		// We copy from the start; box-monitor from when it runs (the
		// pipe holds 64 KB meanwhile).
		copyDone, err := startCopy(c, outR)
		if err != nil {
			_ = store.Remove(c)
			return err
		}
		if c.Config.TTY {
			s.terminalOut = copyDone.log
		}
		s.drain = copyDone.drain
	}
	// The init gets explain.log too: what it does once the command runs
	// (pass on box stop's and box kill's signals) is narrated there.
	explain, err := openExplainLog(c)
	if err != nil {
		_ = store.Remove(c)
		return err
	}
	if explain != nil {
		defer explain.Close()
	}
	s.narrateOn = explain
	err = s.start()
	outW.Close()
	if err != nil {
		return err
	}
	narrateOnInFile(explain)
	// Let go of run's stderr: run returns when the last holder does.
	if err := sys.Dup2(int(devNull.Fd()), 2); err != nil {
		return err
	}
	if program != nil {
		// Returns only if the execve failed (narrated): then we copy
		// and wait ourselves, rather than leave the container.
		_ = becomeMonitorProgram(g, s, program, outR, explain)
		copying, err := startCopy(c, outR)
		if err != nil {
			copying = discardCopy(c, outR, 0)
		}
		s.drain = copying.drain
	}
	shrinkMonitor() // the copy and the wait, for the container's life
	s.wait()
	return nil
}

// logCopy copies a detached container's output to its log, in a goroutine.
type logCopy struct {
	log    *logWriter
	output *os.File
	done   chan struct{}
}

// startCopy starts copying output to c's log.
func startCopy(c *state.Container, output *os.File) (*logCopy, error) {
	logFile, err := openLog(c) // capped and rotated (logs.go)
	if err != nil {
		return nil, err
	}
	l := &logCopy{log: &logWriter{c: c, f: logFile}, output: output, done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(l.log, output)
		close(l.done)
	}()
	return l, nil
}

// discardCopy reads output to its end for a log that cannot be opened,
// and counts it, with unwritten more bytes, as dropped.
func discardCopy(c *state.Container, output *os.File, unwritten int) *logCopy {
	l := &logCopy{output: output, done: make(chan struct{})}
	go func() {
		n, _ := io.Copy(io.Discard, output)
		_ = c.AddDroppedOutput(n + int64(unwritten))
		close(l.done)
	}()
	return l
}

// drain waits until the output is all copied, once the container's init
// has exited.
func (l *logCopy) drain() {
	// Every process of the container has exited with its init, so the
	// copy ends at once; unless one lives on outside its PID namespace
	// with the pipe, which must not keep us.
	_ = l.output.SetReadDeadline(time.Now().Add(drainLimit))
	<-l.done
	if l.log != nil {
		l.log.f.Close()
	}
}

// explainLog is the file in a detached container's state directory where
// its monitor narrates once run has returned.
const explainLog = "explain.log"

// openExplainLog opens c's explain.log, if --explain turned narration on,
// for the monitor and the container's init to narrate into once run has
// returned; else it returns nil.
func openExplainLog(c *state.Container) (*os.File, error) {
	if !narrate.Enabled() {
		return nil, nil
	}
	path := filepath.Join(c.Dir(), explainLog)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}

// narrateOnInFile moves the narration from run's stderr, which run stops
// reading once the container runs, to explain, the container's
// explain.log: what the monitor does when the container exits (record the
// exit, remove its cgroups and network) is narrated there, after what the
// init narrates there meanwhile. It says so first, on run's stderr. With
// explain nil (no --explain) it does nothing.
func narrateOnInFile(explain *os.File) {
	if explain == nil {
		return
	}
	narrate.Explain(narrate.State, "run returns now, and this monitor supervises the container alone: it and the container's init narrate on in %s (box rm removes that with the container).", explain.Name())
	narrate.Setup(true, explain, false)
}
