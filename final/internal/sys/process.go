package sys

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// StartProcess starts cmd. Go does that with clone(2), with our namespace
// flags and CLONE_PIDFD, which we ask for so that the flags are the same
// whichever Go built us (os/exec asks for one itself from Go 1.23); Go adds
// CLONE_VM|CLONE_VFORK to fork fast, except with CLONE_NEWUSER, where the
// child must wait for its id maps. The clone is printed whole once it
// returned, then what happened before the child's execve, in order: the id
// maps Go wrote from here, and the calls the child made for
// SysProcAttr (syscall/exec_linux.go). Each of those succeeded, or Start
// would have failed. inChild is no longer printed: the calls come from
// cmd itself.
func StartProcess(cmd *exec.Cmd, inChild string) (int, error) {
	return startNarrated(cmd, startWithPidfd)
}

// StartChild starts cmd as StartProcess does (the same clone, the same
// narration), for a caller that reaps its children itself with wait4 and
// never calls cmd.Wait: the container's init, box's supervisor of a
// container (WaitPid), and box-runc create (whose process the engine
// reaps). It forks with
// syscall.StartProcess, not os/exec, whose first start in a process forks
// a throwaway child first to see whether CLONE_PIDFD works (os.checkPidfd:
// pidfd_open, waitid, pidfd_send_signal and a vfork, once per process);
// the init would pay for that between its seccomp filter and the
// command's execve. cmd.Stdin, Stdout and Stderr must be *os.File or
// nil (/dev/null, as os/exec gives), as must cmd.ExtraFiles (nil: that
// descriptor is closed); cmd.Process stays nil.
func StartChild(cmd *exec.Cmd) (int, error) {
	return startNarrated(cmd, forkExec)
}

// startNarrated starts cmd with start and narrates it: see StartProcess.
func startNarrated(cmd *exec.Cmd, start func(*exec.Cmd) (int, error)) (int, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	a := cmd.SysProcAttr
	flags := uintptr(unix.SIGCHLD|unix.CLONE_PIDFD) | a.Cloneflags
	note := " /* Go adds CLONE_VM|CLONE_VFORK */"
	if flags&unix.CLONE_NEWUSER != 0 {
		note = ""
	}
	c := fmt.Sprintf("clone(flags=%s%s)", CloneFlagString(flags), note)
	if a.UseCgroupFD {
		c = fmt.Sprintf("clone3({flags=%s|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, cgroup=%d}%s, 88)", CloneFlagString(flags&^0xff), a.CgroupFD, note)
	}
	var pid int
	var err error
	if r := recorder(); r != nil {
		pid, err = r.Record(c)
	} else {
		pid, err = start(cmd)
	}
	narrate.Line(c + " " + Result(pid, err))
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	narrateChildSetup(cmd, pid)
	return pid, nil
}

// startWithPidfd starts cmd asking for a pidfd, and closes it: os/exec
// keeps its own.
func startWithPidfd(cmd *exec.Cmd) (int, error) {
	pidfd := -1
	cmd.SysProcAttr.PidFD = &pidfd
	err := cmd.Start()
	cmd.SysProcAttr.PidFD = nil
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	if err != nil {
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// forkExec starts cmd with syscall.StartProcess, asking for a pidfd as
// startWithPidfd does (so the clone's flags are the same), and closes it.
func forkExec(cmd *exec.Cmd) (int, error) {
	var files [3]uintptr
	for i, s := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		f, _ := s.(*os.File)
		if f == nil {
			if s != nil {
				return 0, fmt.Errorf("stdio %d of %s is not a file", i, cmd.Path)
			}
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return 0, err
			}
			defer null.Close()
			f = null
		}
		files[i] = f.Fd()
	}
	fds := files[:]
	for _, f := range cmd.ExtraFiles { // descriptors 3 on; a nil one is closed
		fd := ^uintptr(0)
		if f != nil {
			fd = f.Fd()
		}
		fds = append(fds, fd)
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	pidfd := -1
	cmd.SysProcAttr.PidFD = &pidfd
	pid, _, err := syscall.StartProcess(cmd.Path, cmd.Args, &syscall.ProcAttr{
		Dir: cmd.Dir, Env: dedupEnv(env), Files: fds, Sys: cmd.SysProcAttr})
	cmd.SysProcAttr.PidFD = nil
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	return pid, err
}

// dedupEnv keeps the last of each KEY=..., in order, as os/exec passes an
// environment on: the command sees what it would have through os/exec.
func dedupEnv(env []string) []string {
	seen := make(map[string]bool, len(env))
	out := make([]string, len(env))
	n := len(env)
	for i := len(env) - 1; i >= 0; i-- {
		key, _, ok := strings.Cut(env[i], "=")
		if ok && seen[key] {
			continue
		}
		seen[key] = ok
		n--
		out[n] = env[i]
	}
	return out[n:]
}

// narrateChildSetup prints what happened between the clone that started
// cmd as pid and the child's execve, in the order it happened.
func narrateChildSetup(cmd *exec.Cmd, pid int) {
	a := cmd.SysProcAttr
	if len(a.UidMappings) > 0 {
		narrate.Explain(narrate.User, "Between clone and the child's execve, Go's fork and exec (syscall.StartProcess) wrote its id maps from here: root inside is host uid %d, and ids outside the map show as nobody (65534).", a.UidMappings[0].HostID)
		setgroups := "deny"
		if a.GidMappingsEnableSetgroups {
			setgroups = "allow"
		}
		narrate.Line(fmt.Sprintf("write /proc/%d/uid_map <- %s = 0", pid, C(idMapText(a.UidMappings))))
		narrate.Line(fmt.Sprintf("write /proc/%d/setgroups <- %s = 0", pid, C(setgroups)))
		narrate.Line(fmt.Sprintf("write /proc/%d/gid_map <- %s = 0", pid, C(idMapText(a.GidMappings))))
	}
	child := func(format string, args ...any) { narrate.Line("/* child */ " + fmt.Sprintf(format, args...)) }
	if a.Setsid {
		child("setsid() = %d", pid)
	}
	if cr := a.Credential; cr != nil {
		if !cr.NoSetGroups && !(a.GidMappings != nil && !a.GidMappingsEnableSetgroups && len(cr.Groups) == 0) {
			groups := "NULL"
			if len(cr.Groups) > 0 {
				names := make([]string, len(cr.Groups))
				for i, g := range cr.Groups {
					names[i] = strconv.Itoa(int(g))
				}
				groups = "[" + strings.Join(names, ", ") + "]"
			}
			child("setgroups(%d, %s) = 0", len(cr.Groups), groups)
		}
		child("setgid(%d) = 0", cr.Gid)
		child("setuid(%d) = 0", cr.Uid)
	}
	if cmd.Dir != "" {
		child("chdir(%s) = 0", C(cmd.Dir))
	}
	if a.Pdeathsig != 0 {
		sig := unix.SignalName(a.Pdeathsig)
		child("prctl(PR_SET_PDEATHSIG, %s) = 0", sig)
		if a.Cloneflags&unix.CLONE_NEWPID != 0 {
			// Go then signals itself if getppid() changed, taking the parent
			// for dead; across a PID namespace getppid() is 0.
			child("kill(1, %s) = 0 /* getppid() is 0 across a PID namespace: Go takes the parent for dead; PID 1 ignores it */", sig)
		}
	}
	if a.Setctty {
		child("ioctl(%d, TIOCSCTTY, 1) = 0", a.Ctty)
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	child("execve(%s, %s, environ /* %d vars */) = 0", C(cmd.Path), cArgv(cmd.Args), len(env))
}

// idMapText is a map as Go's fork and exec writes it: "inside outside count" lines.
func idMapText(maps []syscall.SysProcIDMap) string {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}

// Execve replaces this process with path. On success it never returns, so
// the call is printed before it is made.
func Execve(path string, argv, env []string) error {
	c := fmt.Sprintf("execve(%s, %s, %s)", C(path), cArgv(argv), cArgv(env))
	narrate.Line(c)
	var err error
	if r := recorder(); r != nil {
		_, err = r.Record(c)
	} else {
		err = unix.Exec(path, argv, env)
	}
	narrate.Line(Result(-1, err))
	return fmt.Errorf("execve %s: %w", path, err)
}

// Kill sends sig to pid.
func Kill(pid int, sig unix.Signal) error {
	err := call(fmt.Sprintf("kill(%d, %s)", pid, unix.SignalName(sig)), func() error { return unix.Kill(pid, sig) })
	if err != nil {
		return fmt.Errorf("kill %d with %s: %w", pid, unix.SignalName(sig), err)
	}
	return nil
}

// PidfdOpen returns a file descriptor that refers to process pid itself,
// not to its number: signals sent through it can never reach a process
// that reused the number, and it becomes readable when the process exits.
func PidfdOpen(pid int) (int, error) {
	fd, err := callValue(fmt.Sprintf("pidfd_open(%d, 0)", pid), func() (int, error) { return unix.PidfdOpen(pid, 0) })
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return fd, nil
}

// PidfdSendSignal sends sig to the process pidfd refers to.
func PidfdSendSignal(pidfd int, sig unix.Signal) error {
	c := fmt.Sprintf("pidfd_send_signal(%d, %s, NULL, 0)", pidfd, unix.SignalName(sig))
	err := call(c, func() error { return unix.PidfdSendSignal(pidfd, sig, nil, 0) })
	if err != nil {
		return fmt.Errorf("send %s: %w", unix.SignalName(sig), err)
	}
	return nil
}

// WaitExit waits until the process behind pidfd has exited, or timeoutMs
// passes (-1: no limit); exited is false on timeout. A pidfd polls
// readable when its process exits (pidfd_open(2)).
func WaitExit(pidfd int, timeoutMs int) (exited bool, err error) {
	c := fmt.Sprintf("poll([{fd=%d, events=POLLIN}], 1, %d)", pidfd, timeoutMs)
	n, err := callValue(c, func() (int, error) {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, timeoutMs)
			if err != unix.EINTR {
				return n, err
			}
		}
	})
	if err != nil {
		return false, fmt.Errorf("wait for exit: %w", err)
	}
	return n > 0, nil
}

// Close closes a file descriptor the runtime got from a wrapper here.
func Close(fd int) error {
	if r := recorder(); r != nil {
		return nil
	}
	return unix.Close(fd)
}

// Dup2 makes newfd a copy of oldfd, as the shell's "n>&m" does, with
// dup3(2) (arm64 has no dup2).
func Dup2(oldfd, newfd int) error {
	if oldfd == newfd {
		return nil
	}
	// dup3 returns newfd.
	_, err := callValue(fmt.Sprintf("dup3(%d, %d, 0)", oldfd, newfd), func() (int, error) { return newfd, unix.Dup3(oldfd, newfd, 0) })
	if err != nil {
		return fmt.Errorf("dup2 %d to %d: %w", oldfd, newfd, err)
	}
	return nil
}

// Reap waits for any child to exit, as PID 1 must: an orphan in a PID
// namespace is reparented to its init, and stays a zombie until reaped.
// It is not narrated: it runs for the container's whole life.
func Reap() (pid int, status syscall.WaitStatus, err error) {
	for {
		var ws unix.WaitStatus
		pid, err = unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		return pid, syscall.WaitStatus(ws), err
	}
}

// DevNull opens /dev/null for a child's stdin or output.
func DevNull(flag int) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	return f, nil
}

// CloseOnExec marks fd close-on-exec, so a descriptor inherited for setup
// does not leak into the command. Not narrated: bookkeeping.
func CloseOnExec(fd int) {
	unix.CloseOnExec(fd)
}

// CredentialsAre reports whether the calling thread's real, effective and
// saved ids are already uid and gid and its supplementary groups exactly
// groups, so a caller can skip SetCredentials, which makes each of its
// three calls on every thread of the process. Go keeps the credentials of
// all threads equal. Not narrated: getresuid(2), getresgid(2) and
// getgroups(2) change nothing.
func CredentialsAre(uid, gid uint32, groups []uint32) bool {
	r, e, s := unix.Getresuid()
	if r != int(uid) || e != int(uid) || s != int(uid) {
		return false
	}
	r, e, s = unix.Getresgid()
	if r != int(gid) || e != int(gid) || s != int(gid) {
		return false
	}
	have, err := unix.Getgroups()
	if err != nil || len(have) != len(groups) {
		return false
	}
	for i, g := range groups {
		if have[i] != int(g) {
			return false
		}
	}
	return true
}

// SetCredentials makes this process uid and gid, with groups as its
// supplementary groups: setgroups(2), then setresgid(2), then setresuid(2)
// (the uid last, since it takes the right to change the others). Go makes
// each on every thread of the process. Leaving uid 0 clears the effective
// and permitted capabilities.
func SetCredentials(uid, gid uint32, groups []uint32) error {
	gs := make([]int, len(groups))
	names := make([]string, len(groups))
	for i, g := range groups {
		gs[i], names[i] = int(g), strconv.Itoa(int(g))
	}
	list := "[" + strings.Join(names, ", ") + "]"
	if len(gs) == 0 {
		list = "NULL" // Go passes no array for no groups
	}
	every := AllThreads.comment()
	c := fmt.Sprintf("setgroups(%d, %s)", len(gs), list)
	if err := call(c+every, func() error { return unix.Setgroups(gs) }); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	c = fmt.Sprintf("setresgid(%d, %d, %d)", gid, gid, gid)
	if err := call(c+every, func() error { return unix.Setresgid(int(gid), int(gid), int(gid)) }); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	c = fmt.Sprintf("setresuid(%d, %d, %d)", uid, uid, uid)
	if err := call(c+every, func() error { return unix.Setresuid(int(uid), int(uid), int(uid)) }); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}
