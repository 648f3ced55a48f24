package main

// exec.go is the exec command: run another command in a running container,
// in every namespace it has, with the same restrictions as its first.

import (
	"box/final/internal/users"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"box/final/internal/initproc"
	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/pty"
	"box/final/internal/security"
	"box/final/internal/state"
	"box/final/internal/sys"
)

type execCmd struct {
	Interactive bool     `short:"i" help:"Keep stdin open, so the command reads your input."`
	TTY         bool     `short:"t" help:"Give the command a pseudo-terminal from the container's devpts."`
	Env         []string `short:"e" name:"env" sep:"none" placeholder:"K=V" help:"Set an environment variable; K alone takes its value from here."`
	Workdir     string   `short:"w" placeholder:"DIR" help:"Working directory in the container (default: the container's)."`
	User        string   `short:"u" placeholder:"USER[:GROUP]" help:"Run as this user and group (default: the container's)."`
	Container   string   `arg:"" name:"container" help:"Name or ID of a running container."`
	Command     []string `arg:"" passthrough:"partial" name:"cmd" help:"The command and its arguments."`
}

func (e *execCmd) Run(g *cli) error {
	if err := needRoot("exec"); err != nil {
		return err
	}
	command := e.Command
	if len(command) > 0 && command[0] == "--" {
		command = command[1:]
	}
	if len(command) == 0 || command[0] == "" {
		return errors.New("no command given: exec NAME CMD [ARG...]")
	}
	if e.Workdir != "" && !filepath.IsAbs(e.Workdir) {
		return fmt.Errorf("working directory %q must be absolute, like -w /srv", e.Workdir)
	}
	if e.TTY && e.Interactive && !sys.IsTerminal(int(os.Stdin.Fd())) {
		return errors.New("-it needs a terminal on stdin, and this is not one; drop -t, or run from a terminal")
	}
	if err := sys.CloseInheritedFiles(); err != nil {
		return err
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	c, err := store.Get(e.Container)
	if err != nil {
		return err
	}
	switch st := c.CurrentStatus(); st {
	case state.Running:
	case state.Paused:
		return fmt.Errorf("container %s is paused; unpause it first", c.Name)
	default:
		return fmt.Errorf("container %s is not running (%s); start a new one with run", c.Name, st)
	}
	env, err := mergeEnv(c.Config.Env, e.Env)
	if err != nil {
		return err
	}
	dir := c.Config.Workdir
	if e.Workdir != "" {
		dir = e.Workdir
	}
	// Look the command up through the init's root, as the container sees it.
	root := "/proc/" + strconv.Itoa(c.Pid) + "/root"
	path, err := findCommand(root, command[0], envValue(env, "PATH"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return exitCode(exitNotFound)
	}
	if info, err := os.Stat(filepath.Join(root, dir)); err != nil || !info.IsDir() {
		return fmt.Errorf("working directory %s does not exist in container %s; create it, or choose another with -w", dir, c.Name)
	}
	var user *users.Cred
	if spec := firstNonEmpty(e.User, c.Config.User); spec != "" {
		cred, err := users.Resolve(root, spec)
		if err != nil {
			return err
		}
		user = &cred
	}
	kinds, err := namespaces.Own(c.Pid)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	var status int
	if hasUserNamespace(kinds) {
		status, err = e.runViaInit(c, path, command, env, dir, user)
	} else {
		status, err = e.runInside(c, kinds, path, command, env, dir, user)
	}
	if err != nil {
		return stoppedMeanwhile(c, err)
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}

// runInside joins the container from this goroutine's thread, restricts
// the thread as the container's init restricted itself, and starts the
// command from it: a process inherits the namespaces, capabilities and
// no_new_privs of the thread that forks it. Go's exec.Cmd forks from the
// calling goroutine's thread, which JoinThread locks.
func (e *execCmd) runInside(c *state.Container, kinds []namespaces.Kind, path string, argv, env []string, dir string, user *users.Cred) (int, error) {
	if err := namespaces.JoinThread(c.Pid, kinds); err != nil {
		return 0, err
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Dir: dir, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	// No Pdeathsig: Go's child checks getppid() after setting it, and in
	// the container's PID namespace its parent (us, outside) shows as 0, so
	// the child would kill itself. The command lives on if we die, as with
	// docker exec, and dies with the container.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	inChild := "setsid(); "
	if user != nil {
		cmd.SysProcAttr.Credential = user.Credential()
		inChild += user.Calls() + "; "
	}
	if !e.Interactive {
		devNull, err := sys.DevNull(os.O_RDONLY)
		if err != nil {
			return 0, err
		}
		defer devNull.Close()
		cmd.Stdin = devNull
	}
	var relay *pty.Relay
	var slave *os.File
	if e.TTY {
		// After setns into the mount namespace, /dev/ptmx is the container's:
		// the terminal comes from its devpts, as run's does.
		master, pts, err := pty.Open("/dev/ptmx", "/dev/pts")
		if err != nil {
			return 0, err
		}
		slave = pts
		defer master.Close()
		if size, err := sys.GetWinsize(int(os.Stdin.Fd())); err == nil {
			_ = sys.SetWinsize(int(master.Fd()), size)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		var in *os.File
		if e.Interactive {
			in = os.Stdin
		}
		defer func() {
			if relay != nil {
				relay.Close()
			}
		}()
		relay, err = pty.StartRelay(master, in, os.Stdout)
		if err != nil {
			return 0, err
		}
	}
	// This process joins the container's cgroup before it forks, so the
	// command is in it from its first instruction.
	for _, p := range plugins {
		if err := p.Exec(c, os.Getpid()); err != nil {
			return 0, err
		}
	}
	if err := security.DropPrivileges(); err != nil {
		return 0, err
	}
	if !c.Config.Unconfined {
		if err := security.InstallSyscallFilter(); err != nil {
			return 0, err
		}
	}
	narrate.Explain(narrate.Process, "Start the command from this thread: it is created inside every namespace the thread joined.")
	_, err := sys.StartProcess(cmd, inChild+"chdir("+sys.C(dir)+"); execve("+sys.C(path)+", ...)")
	if err != nil {
		return 0, err
	}
	if slave != nil {
		slave.Close() // only the command keeps the terminal open
	}
	stop := forwardSignals(cmd.Process)
	err = cmd.Wait()
	stop()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 0, fmt.Errorf("wait for %s: %w", path, err)
	}
	if relay != nil {
		relay.Wait()
	}
	return exitStatus(cmd.ProcessState), nil
}

// hasUserNamespace tells whether kinds holds the user namespace.
func hasUserNamespace(kinds []namespaces.Kind) bool {
	for _, k := range kinds {
		if k.Name == "user" {
			return true
		}
	}
	return false
}

// runViaInit asks the container's init to start the command, as this
// process cannot join the container's user namespace (see
// initproc/exec.go): it sends the command with our stdin, stdout and
// stderr, passes on the signals we get, and returns the exit status the
// init reports.
func (e *execCmd) runViaInit(c *state.Container, path string, argv, env []string, dir string, user *users.Cred) (int, error) {
	if c.Config.NoInit {
		return 0, fmt.Errorf("container %s has a user namespace, which this process cannot join (setns fails with EINVAL in a multithreaded program), and it runs without an init (--no-init) to start the command for us; not run, rather than run outside its user namespace", c.Name)
	}
	narrate.Explain(narrate.User, "The container has a user namespace, which a multithreaded Go program cannot join: ask its init to start the command instead; it narrates what it does for us here.")
	conn, err := sys.DialUnix(filepath.Join(c.Dir(), execSocket))
	if err != nil {
		return 0, initGone{err}
	}
	defer conn.Close()
	req := initproc.ExecRequest{Path: path, Argv: argv, Env: env, Dir: dir, TTY: e.TTY, Size: sys.Winsize{Rows: 24, Cols: 80}, User: user,
		Explain: narrate.Enabled(), Color: narrate.Colored()}
	var fds []int
	if e.TTY {
		if size, err := sys.GetWinsize(int(os.Stdin.Fd())); err == nil {
			req.Size = size
		}
		if req.Explain {
			// The init narrates what it does for us there.
			fds = []int{int(os.Stderr.Fd())}
		}
	} else {
		stdin := os.Stdin
		if !e.Interactive {
			devNull, err := sys.DevNull(os.O_RDONLY)
			if err != nil {
				return 0, err
			}
			defer devNull.Close()
			stdin = devNull
		}
		fds = []int{int(stdin.Fd()), int(os.Stdout.Fd()), int(os.Stderr.Fd())}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	if err := sys.SendFds(conn, string(b), fds...); err != nil {
		return 0, initGone{err}
	}
	var relay *pty.Relay
	defer func() {
		if relay != nil {
			relay.Close()
		}
	}()
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		ev, files, err := initproc.ReadEvent(conn)
		if err != nil {
			return 0, initGone{fmt.Errorf("exec in %s: %w", c.Name, err)}
		}
		switch {
		case len(files) == 1: // the terminal's master side
			var in *os.File
			if e.Interactive {
				in = os.Stdin
			}
			if relay, err = pty.StartRelay(files[0], in, os.Stdout); err != nil {
				return 0, err
			}
		case ev.Error != "":
			return 0, fmt.Errorf("exec in %s: %s", c.Name, ev.Error)
		case ev.Started != 0:
			stop = forwardSignalsTo(func(sig os.Signal) {
				_ = initproc.SendEvent(conn, initproc.ExecEvent{Signal: int(sig.(syscall.Signal))})
			})
		case ev.Exit != nil:
			if relay != nil {
				relay.Wait()
				relay = nil
			}
			return *ev.Exit, nil
		}
	}
}

// stoppedMeanwhile says that the container stopped, instead of err, when
// its init is gone, or goes within a second (it closes exec.sock as it
// exits): exec raced stop, and "broken pipe" would not tell you that.
func stoppedMeanwhile(c *state.Container, err error) error {
	wait := 0 // ms
	var gone initGone
	if errors.As(err, &gone) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
		wait = 1000 // the signs of an init on its way out
	}
	if pidfd, openErr := sys.PidfdOpen(c.Pid); openErr == nil {
		exited, _ := sys.WaitExit(pidfd, wait)
		sys.Close(pidfd)
		if !exited {
			return err
		}
	}
	return fmt.Errorf("container %s stopped (its init exited) while exec was starting or running the command", c.Name)
}

// initGone is a failure to talk to the container's init over exec.sock,
// which its exit causes; it reads as the error it wraps.
type initGone struct{ err error }

func (e initGone) Error() string { return e.err.Error() }
func (e initGone) Unwrap() error { return e.err }

// firstNonEmpty is the first of ss that is not empty.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
