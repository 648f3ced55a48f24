package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/pty"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// ExecOptions are exec's flags: the process as JSON (--process), or the
// container's own process with Args, Env, Cwd, User and TTY changed.
type ExecOptions struct {
	ID            string
	ProcessJSON   []byte
	ProcessPath   string
	Args          []string
	Env           []string
	Cwd           string
	UID, GID      *uint32
	TTY           bool
	PidFile       string
	ConsoleSocket string
	Detach        bool
	PreserveFDs   int
	// Narration is where a forked copy narrates (--explain); nil: stderr.
	Narration *os.File
}

// execProcess is the process exec runs.
func (c *Container) execProcess(o ExecOptions) (*oci.Process, error) {
	if o.ProcessJSON != nil {
		return oci.ParseProcess(o.ProcessPath, o.ProcessJSON)
	}
	if len(o.Args) == 0 {
		return nil, errors.New("exec needs a command: give it after the id, or --process FILE")
	}
	p := oci.Process{Cwd: "/", Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	if c.Spec.Process != nil {
		p = *c.Spec.Process
	}
	p.Args = o.Args
	p.Env = append(append([]string(nil), p.Env...), o.Env...)
	p.Terminal = o.TTY
	p.ConsoleSize = nil
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	if o.UID != nil {
		p.User = oci.User{UID: *o.UID}
		if o.GID != nil {
			p.User.GID = *o.GID
		}
	}
	return &p, nil
}

// Exec runs a process in every namespace and the cgroup of a running
// container and returns its exit status, or with Detach 0 once it runs
// (its pid in PidFile; the engine reaps it).
func (r *Runtime) Exec(o ExecOptions) (int, error) {
	c, err := r.Load(o.ID)
	if err != nil {
		return 0, err
	}
	if _, err := c.spec(); err != nil {
		return 0, err
	}
	switch st := c.Status(); st {
	case "running":
	case "created":
		// Its process is still box, with the runtime's powers on its
		// other threads: nothing may join it before start.
		return 0, errors.New("cannot exec in a created container: start it first")
	case "paused":
		return 0, errors.New("cannot exec in a paused container: resume it first")
	default:
		return 0, errors.New("cannot exec in a stopped container")
	}
	p, err := c.execProcess(o)
	if err != nil {
		return 0, err
	}
	caps, err := capSets(p.Capabilities)
	if err != nil {
		return 0, err
	}
	var kinds []namespaces.Kind
	userNS := false
	for _, k := range namespaces.Kinds {
		if containsString(c.Namespaces, k.Name) {
			userNS = userNS || k.Name == "user"
			kinds = append(kinds, k)
		}
	}
	var console *os.File
	if p.Terminal {
		if o.ConsoleSocket == "" {
			return 0, errors.New("process.terminal is true but no --console-socket was given to send the terminal to")
		}
		if console, err = sys.DialConsole(o.ConsoleSocket); err != nil {
			return 0, fmt.Errorf("console socket %s: %w", o.ConsoleSocket, err)
		}
		defer console.Close()
	}
	// What the engine left open without close-on-exec is not the
	// process's: only stdio and --preserve-fds pass.
	if err := closeInherited(3 + o.PreserveFDs); err != nil {
		return 0, err
	}
	// Per process, inherited by the child: set before joining, while our
	// /proc/self is still ours.
	if err := setProcessLimits(p, nil); err != nil {
		return 0, err
	}
	if err := setMemoryLimits(p); err != nil {
		return 0, err
	}
	var proc *os.Process
	if userNS {
		// The user namespace first, which only a process of one thread
		// may join: a forked copy of box joins, then becomes p.
		pid, err := c.execJoined(p, kinds, console, o.PreserveFDs, o.Narration)
		if err != nil {
			return 0, err
		}
		if proc, err = os.FindProcess(pid); err != nil {
			return 0, err
		}
	} else {
		type started struct {
			cmd *exec.Cmd
			err error
		}
		done := make(chan started)
		go func() {
			cmd, err := c.startExec(p, caps, kinds, console, o.PreserveFDs)
			done <- started{cmd, err}
			// Returning while locked ends this thread: it has the container's
			// namespaces and fewer powers, and nothing else may run on it.
		}()
		s := <-done
		if s.err != nil {
			return 0, s.err
		}
		proc = s.cmd.Process
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.Pid); err != nil {
			_ = proc.Kill()
			return 0, err
		}
	}
	if o.Detach {
		_ = proc.Release()
		return 0, nil
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals)
	go func() {
		for sig := range signals {
			if sig != unix.SIGCHLD && sig != unix.SIGURG {
				_ = proc.Signal(sig)
			}
		}
	}()
	state, err := proc.Wait()
	signal.Stop(signals)
	if err != nil {
		return 0, err
	}
	ws := state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// startExec joins the container from a locked thread and starts p there:
// the cgroup first (its files are the host's), then the namespaces, then
// the filter and capabilities on the thread, which the child inherits.
func (c *Container) startExec(p *oci.Process, caps sys.CapSets, kinds []namespaces.Kind, console *os.File, preserve int) (*exec.Cmd, error) {
	runtime.LockOSThread()
	attr := &syscall.SysProcAttr{Setsid: true}
	if cg := c.Cgroup; cg != nil {
		if cg.Version == 1 {
			narrate.Explain(narrate.Cgroup, "Move this thread into the container's cgroups; the process forked from it starts there.")
			if err := cg.EnterThread(); err != nil {
				return nil, err
			}
		} else if len(cg.Dirs) > 0 {
			dir, err := sys.OpenDirectory(cg.Dirs[0].Path)
			if err != nil {
				return nil, err
			}
			defer dir.Close()
			attr.UseCgroupFD, attr.CgroupFD = true, int(dir.Fd())
		}
	}
	if err := namespaces.JoinThread(c.Pid, kinds); err != nil {
		return nil, err
	}
	if !hasNamespace(c.Spec, "mount") {
		// The container shares our mount namespace: its root is a chroot.
		// JoinThread gave this thread its own root to change.
		if err := sys.Chroot(c.Rootfs); err != nil {
			return nil, err
		}
		if err := sys.Chdir("/"); err != nil {
			return nil, err
		}
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: p.Args, Env: p.Env, Dir: p.Cwd,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, SysProcAttr: attr}
	for i := 0; i < preserve; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	if p.Terminal {
		master, slave, err := pty.Open("/dev/ptmx", "/dev/pts")
		if err != nil {
			return nil, err
		}
		defer slave.Close()
		if p.ConsoleSize != nil {
			_ = sys.SetWinsize(int(master.Fd()), sys.Winsize{Rows: uint16(p.ConsoleSize.Height), Cols: uint16(p.ConsoleSize.Width)})
		}
		err = sys.SendFds(console, "/dev/ptmx", int(master.Fd()))
		master.Close()
		if err != nil {
			return nil, err
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		attr.Setctty, attr.Ctty = true, 0
	}
	if u := p.User; u.UID != 0 || u.GID != 0 || len(u.AdditionalGids) > 0 {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.AdditionalGids}
		for cap := 0; cap < 64; cap++ {
			if caps.Ambient&(1<<uint(cap)) != 0 {
				attr.AmbientCaps = append(attr.AmbientCaps, uintptr(cap))
			}
		}
		// The child changes its ids after the fork: it needs these two.
		caps.Effective |= 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID
		caps.Permitted |= 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID
	}
	caps.Ambient = 0 // raised by the child after it changes its ids
	if !p.NoNewPrivileges {
		if err := installSeccomp(c.Spec.Linux.Seccomp); err != nil {
			return nil, err
		}
	}
	last, err := sys.LastCap()
	if err != nil {
		return nil, err
	}
	narrate.Explain(narrate.Security, "Limit this thread to the process's capabilities; the child inherits them.")
	if err := sys.DropBounding(caps.Bounding, last); err != nil {
		return nil, err
	}
	if err := sys.SetCapSets(caps); err != nil {
		return nil, err
	}
	if p.NoNewPrivileges {
		if err := sys.SetNoNewPrivsHere(); err != nil {
			return nil, err
		}
		if err := installSeccomp(c.Spec.Linux.Seccomp); err != nil {
			return nil, err
		}
	}
	if _, err := sys.StartProcess(cmd, ""); err != nil {
		return nil, err
	}
	return cmd, nil
}
