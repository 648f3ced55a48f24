package runinit

// init.go is the init in order: read the spec, wait for the host side,
// build the container, drop what the init must not keep, then start the
// command and serve as its PID 1.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"box/final/internal/initproc"
	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/pty"
	"box/final/internal/rootfs"
	"box/final/internal/security"
	"box/final/internal/sys"
	"box/final/internal/users"

	"golang.org/x/sys/unix"
)

// programName is what the init's error messages call the runtime.
const programName = "box"

// Main is the init, "box-init init": it never returns, and exits with the
// command's status, or with 125, 126 or 127 after saying why on
// FDNarration.
//
// Main must be called from an init function of package main. Its cgroup
// namespace belongs to the thread that unshares it, and the command and
// box exec's commands are forked from that thread, so Main must stay on
// one thread: the Go runtime runs init functions on the program's first
// thread, locked to it, and Main never returns to let it go.
// runtime.LockOSThread would do the same but start a thread of its own
// (the template thread locked threads need), one more for each of the
// ~30 rounds of the capability drop to stop and signal (internal/security).
func Main() {
	// The program's own descriptor served execve, and nothing else.
	_ = sys.Close(FDProgram)
	if unix.Gettid() != unix.Getpid() {
		fmt.Fprintf(os.NewFile(FDNarration, "narration"), "%s: the init runs on the program's first thread, from an init function of box-init's main package\n", programName)
		os.Exit(ExitSetupFailed)
	}
	// One processor is plenty for an init that waits, and each one costs
	// threads, which count against the container's pids.max and which
	// every capability drop must stop. The runtime gives GOMAXPROCS=1 in
	// our environment, so the Go runtime never makes a second; this is
	// for an init started without it.
	runtime.GOMAXPROCS(1)
	for _, fd := range []int{FDSpec, FDConsole, FDNarration, FDReady, FDExec, FDNarrateOn} {
		sys.CloseOnExec(fd) // none of them is the command's business
	}
	report := os.NewFile(FDNarration, "narration")
	ready := os.NewFile(FDReady, "ready")
	// The spec pipe is where the init waits for the runtime: in Go's
	// poller, not in read(2), which would make the Go runtime hand its
	// processor to a new thread. The pipe is ours alone (the runtime
	// closed its copy of this end), so its O_NONBLOCK concerns nobody else.
	// The runtime writes the spec once the host side (cgroup, network) is
	// done, and closes the pipe: reading to the end waits for both.
	specPipe := pollable(FDSpec, "spec")
	raw, err := io.ReadAll(specPipe)
	specPipe.Close()
	var spec Spec
	if err == nil {
		spec, err = DecodeSpec(raw)
	}
	if err != nil {
		fmt.Fprintf(report, "%s: read the container's spec: %v\n", programName, err)
		os.Exit(ExitSetupFailed)
	}
	narrate.Setup(spec.Explain, report, spec.Color)
	narrate.Explain(narrate.Process, "Name this process box-init, for ps and top: executed from descriptor %d, its name would be %q.", FDProgram, fmt.Sprint(FDProgram))
	sys.NameInitProgram()
	c, err := setupContainer(spec)
	if err != nil {
		fmt.Fprintf(report, "%s: %v\n", programName, err)
		os.Exit(exitStatusOf(err))
	}
	if spec.Config.NoInit {
		err = c.exec(ready)
	} else {
		var status int
		var execListener *os.File
		if spec.Config.IDMap != nil {
			execListener = os.NewFile(FDExec, "exec.sock")
		}
		// Detached with --explain, the monitor gave us explain.log: the
		// narration goes on there once the command runs.
		var narrateOn *os.File
		if spec.Explain && isOpen(FDNarrateOn) {
			narrateOn = os.NewFile(FDNarrateOn, "explain.log")
		}
		status, err = c.runAsInit(ready, report, execListener, narrateOn)
		if err == nil {
			os.Exit(status)
		}
	}
	fmt.Fprintf(report, "%s: %v\n", programName, err)
	os.Exit(exitStatusOf(err))
}

// pollable is descriptor fd as a file whose reads and writes wait in Go's
// poller: os.NewFile registers a descriptor with it when the descriptor
// is non-blocking. If it cannot be made so, reads block as before.
func pollable(fd int, name string) *os.File {
	_ = unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), name)
}

// exitStatusOf is the status to exit with after err: 126/127 for a command
// that cannot run or does not exist, 125 for anything else.
func exitStatusOf(err error) int {
	var se statusError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, unix.ENOENT):
		return ExitNotFound
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC):
		return ExitCannotRun
	}
	return ExitSetupFailed
}

// statusError is an error that asks for a given exit status.
type statusError struct {
	status int
	err    error
}

func (e statusError) Error() string { return e.err.Error() }

// container is the command to start, once the container is set up.
type container struct {
	path  string   // the command, found in the container's PATH
	argv  []string // its arguments, argv[0] included
	env   []string
	dir   string
	slave *os.File    // with -t: the terminal, to be the command's stdio
	user  *users.Cred // with --user or the image's USER: who the command runs as
}

// setupContainer builds the container, in the order each step needs: the
// hostname (UTS namespace), the mounts while the host's paths are still
// reachable, pivot_root, then what must be done from inside (mask kernel
// files, open the terminal), and last, dropping privileges, since every
// step before needs them.
func setupContainer(spec Spec) (*container, error) {
	cfg := spec.Config
	if hasNamespace(cfg.Namespaces, "cgroup") {
		// Now, not at clone: a cgroup namespace is rooted at the cgroup its
		// maker is in, and the runtime has only just put us in ours.
		if err := namespaces.UnshareCgroup(); err != nil {
			return nil, err
		}
	}
	if err := namespaces.SetHostname(cfg.Hostname); err != nil {
		return nil, err
	}
	if hasNamespace(cfg.Namespaces, "net") {
		if err := namespaces.LoopbackUp(); err != nil {
			return nil, err
		}
		// The network code configures the container's other interfaces here.
	}
	fs := rootfs.Spec{Rootfs: cfg.Rootfs, Volumes: cfg.Volumes, ReadOnly: cfg.ReadOnly}
	if err := rootfs.Prepare(fs); err != nil {
		return nil, err
	}
	if err := rootfs.Enter(fs); err != nil {
		return nil, err
	}
	if err := security.ProtectKernelFiles(); err != nil {
		return nil, err
	}
	c := &container{argv: cfg.Command, env: cfg.Env, dir: cfg.Workdir}
	if cfg.User != "" {
		cred, err := users.Resolve("/", cfg.User)
		if err != nil {
			return nil, err
		}
		c.user = &cred
		c.env = userHome(c.env, cred)
	}
	if cfg.TTY {
		master, slave, err := pty.Open("/dev/ptmx", "/dev/pts")
		if err != nil {
			return nil, err
		}
		if err := sys.SetWinsize(int(master.Fd()), spec.Winsize); err != nil {
			return nil, err
		}
		console := os.NewFile(FDConsole, "console")
		err = pty.SendMaster(console, master)
		master.Close()
		console.Close()
		if err != nil {
			return nil, err
		}
		c.slave = slave
	}
	if err := rootfs.MakeWorkdir(cfg.Workdir); err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		if err := rootfs.MakeReadOnly(); err != nil {
			return nil, err
		}
	}
	if err := dropPrivileges(cfg.NoInit, cfg.Unconfined); err != nil {
		return nil, err
	}
	path, err := FindCommand("/", cfg.Command[0], EnvValue(cfg.Env, "PATH"))
	if err != nil {
		return nil, statusError{ExitNotFound, err}
	}
	c.path = path
	return c, nil
}

// dropPrivileges leaves the init no more power than the command. An init
// that stays as PID 1 keeps the threads the Go runtime made on its own:
// every one of them is restricted, and the process made unreachable. With
// --no-init the command replaces this process, and execve(2) ends every
// thread but the one that calls it: that thread alone needs restricting,
// with plain calls, not the ~30 stop-the-world rounds that reach each
// thread (syscall.AllThreadsSyscall).
func dropPrivileges(noInit, unconfined bool) error {
	if noInit {
		narrate.Explain(narrate.Security, "This process becomes the command (--no-init), and execve keeps only the thread that calls it: restrict this thread, which will.")
		if err := security.DropPrivileges(); err != nil {
			return err
		}
		if unconfined {
			return nil
		}
		return security.InstallSyscallFilter()
	}
	narrate.Explain(narrate.Security, "This process stays as PID 1: make it non-dumpable, so no container process may ptrace it or open its /proc/1/mem, /proc/1/exe or /proc/1/fd.")
	if err := sys.SetNotDumpable(); err != nil {
		return err
	}
	if err := security.DropPrivilegesOnAllThreads(); err != nil {
		return err
	}
	if unconfined {
		return nil
	}
	return security.InstallSyscallFilterOnAllThreads()
}

// runAsInit starts the command as a child in a session of its own (with
// -t, the terminal is its controlling terminal, so the shell has job
// control) and serves as init until it exits.
func (c *container) runAsInit(ready, report, execListener, narrateOn *os.File) (int, error) {
	cmd := &exec.Cmd{Path: c.path, Args: c.argv, Env: c.env, Dir: c.dir,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if c.slave != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = c.slave, c.slave, c.slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	}
	if c.user != nil {
		cmd.SysProcAttr.Credential = c.user.Credential()
	}
	return initproc.Run(cmd, func() {
		_, _ = ready.WriteString("ready")
		ready.Close()
		if c.slave != nil {
			c.slave.Close()
		}
		report.Close()
	}, execListener, narrateOn)
}

// exec replaces the init with the command (--no-init): the command is PID
// 1 itself, as with docker run without --init.
func (c *container) exec(ready *os.File) error {
	narrate.Explain(narrate.Process, "Become the command (--no-init): it is PID 1 now, and must reap and handle signals itself.")
	// The runtime started us in a session of our own (setsid), so we may
	// take a controlling terminal.
	if c.slave != nil {
		narrate.Explain(narrate.Terminal, "Make the terminal our controlling terminal and stdin, stdout, stderr.")
		fd := int(c.slave.Fd())
		if err := sys.Setctty(fd); err != nil {
			return err
		}
		for _, std := range []int{0, 1, 2} {
			if err := sys.Dup2(fd, std); err != nil {
				return err
			}
		}
		c.slave.Close()
	}
	if c.user != nil {
		narrate.Explain(narrate.Security, "Become uid %d, gid %d: leaving uid 0 clears the capabilities this process still has.", c.user.UID, c.user.GID)
		if err := sys.SetCredentials(c.user.UID, c.user.GID, c.user.Groups); err != nil {
			return err
		}
	}
	if err := sys.Chdir(c.dir); err != nil {
		return err
	}
	_, _ = ready.WriteString("ready")
	ready.Close()
	return sys.Execve(c.path, c.argv, c.env)
}

// userHome sets HOME to the user's home directory from /etc/passwd when
// HOME is root's default, as docker does for --user.
func userHome(env []string, cred users.Cred) []string {
	if cred.Home == "" || EnvValue(env, "HOME") != "/root" {
		return env
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+cred.Home)
}

// isOpen tells whether fd is an open descriptor: FDNarrateOn is only
// given to a detached container's init.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// hasNamespace tells whether kinds holds name.
func hasNamespace(kinds []string, name string) bool {
	for _, k := range kinds {
		if k == name {
			return true
		}
	}
	return false
}
