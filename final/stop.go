package main

// stop.go holds stop and kill: both signal a container's init, which
// passes the signal on to the command. stop then waits, and kills.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

type stopCmd struct {
	Time       int      `short:"t" default:"10" placeholder:"SECONDS" help:"Seconds to wait after SIGTERM before SIGKILL; 0 sends SIGKILL at once."`
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

type killCmd struct {
	Signal     string   `short:"s" default:"KILL" placeholder:"SIGNAL" help:"Signal to send: a name (TERM, SIGTERM) or a number."`
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

func (s *stopCmd) Run(g *cli) error {
	if s.Time < 0 {
		return fmt.Errorf("-t %d: the grace period cannot be negative; use 0 to kill at once", s.Time)
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	for _, ref := range s.Containers {
		c, err := store.Get(ref)
		if err != nil {
			return err
		}
		if err := stopContainer(store, c, s.Time); err != nil {
			return err
		}
		fmt.Println(c.Name)
	}
	return nil
}

// stopContainer sends SIGTERM, waits up to grace seconds for the container
// to exit, then sends SIGKILL (with grace 0, SIGKILL alone, as rm -f
// wants); it returns once the supervisor has recorded the exit. A
// container that is not running is left as it is.
func stopContainer(store *state.Store, c *state.Container, grace int) error {
	pidfd, err := openContainerProcess(c)
	if errors.Is(err, errNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	defer sys.Close(pidfd)
	if c.CurrentStatus() == state.Paused && freezer != nil {
		// A frozen process acts on no signal, and on cgroup v1 cannot even
		// die of SIGKILL until thawed.
		if err := freezer(c, false); err != nil {
			return fmt.Errorf("stop %s: %w", c.Name, err)
		}
	}
	exited := false
	if grace > 0 {
		narrate.Explain(narrate.Process, "Ask the container to stop: SIGTERM to its init, which passes it on; SIGKILL after %d s.", grace)
		if err := sys.PidfdSendSignal(pidfd, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("stop %s: %w", c.Name, err)
		}
		if exited, err = sys.WaitExit(pidfd, grace*1000); err != nil {
			return fmt.Errorf("stop %s: %w", c.Name, err)
		}
	}
	if !exited {
		// With no grace, no SIGTERM first: the init would pass it on and
		// be killed while doing so, and the command could not act on it.
		if grace > 0 {
			narrate.Explain(narrate.Process, "It did not exit in time: SIGKILL, which PID 1 cannot catch from the parent namespace.")
		} else {
			narrate.Explain(narrate.Process, "Kill the container at once (no grace period): SIGKILL to its init, which PID 1 cannot catch from the parent namespace; the kernel then kills every process in its PID namespace.")
		}
		if err := sys.PidfdSendSignal(pidfd, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill %s: %w", c.Name, err)
		}
		if _, err := sys.WaitExit(pidfd, -1); err != nil {
			return fmt.Errorf("stop %s: %w", c.Name, err)
		}
	}
	return store.WaitSupervisor(c)
}

// errNotRunning says a container has no process to signal.
var errNotRunning = errors.New("not running")

// openContainerProcess opens a pidfd for c's init and checks, after
// opening it, that the process is still the one we started: from then on,
// signals through the pidfd cannot reach a process that reused the pid.
func openContainerProcess(c *state.Container) (int, error) {
	if st := c.CurrentStatus(); !st.Live() {
		return -1, errNotRunning
	}
	pidfd, err := sys.PidfdOpen(c.Pid)
	if errors.Is(err, unix.ESRCH) {
		return -1, errNotRunning
	}
	if err != nil {
		return -1, err
	}
	if !c.Alive() {
		sys.Close(pidfd)
		return -1, errNotRunning
	}
	return pidfd, nil
}

func (k *killCmd) Run(g *cli) error {
	sig, err := parseSignal(k.Signal)
	if err != nil {
		return err
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	for _, ref := range k.Containers {
		c, err := store.Get(ref)
		if err != nil {
			return err
		}
		pidfd, err := openContainerProcess(c)
		if errors.Is(err, errNotRunning) {
			return fmt.Errorf("container %s is not running", c.Name)
		}
		if err != nil {
			return err
		}
		narrate.Explain(narrate.Process, "Send %s to the container's init through a pidfd.", unix.SignalName(sig))
		err = sys.PidfdSendSignal(pidfd, sig)
		sys.Close(pidfd)
		if err != nil {
			return fmt.Errorf("kill %s: %w", c.Name, err)
		}
		fmt.Println(c.Name)
	}
	return nil
}

// parseSignal reads a signal as kill(1) takes it: TERM, SIGTERM, 15.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range 1-64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q: give a name like TERM or KILL, or a number", s)
	}
	return sig, nil
}
