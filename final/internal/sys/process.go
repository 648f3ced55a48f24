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

// StartProcess starts cmd. Go does that with clone(2), adding
// CLONE_VM|CLONE_VFORK to fork fast, and with our namespace flags; then,
// in the child, what SysProcAttr asks (setsid, TIOCSCTTY, chdir) and
// execve(2). inChild says that part in words for the narration.
func StartProcess(cmd *exec.Cmd, inChild string) (int, error) {
	flags := uintptr(unix.SIGCHLD)
	if cmd.SysProcAttr != nil {
		flags |= cmd.SysProcAttr.Cloneflags
	}
	c := fmt.Sprintf("clone(flags=%s /* Go adds CLONE_VM|CLONE_VFORK */)", CloneFlagString(flags))
	if a := cmd.SysProcAttr; a != nil && a.UseCgroupFD {
		c = fmt.Sprintf("clone3({flags=%s|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, cgroup=%d} /* Go adds CLONE_VM|CLONE_VFORK */)", CloneFlagString(flags&^0xff), a.CgroupFD)
	}
	if inChild != "" {
		c += " /* child: " + inChild + " */"
	}
	pid, err := callValue(c, func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return pid, nil
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

// Dup2 makes newfd a copy of oldfd, as the shell's "n>&m" does.
func Dup2(oldfd, newfd int) error {
	if oldfd == newfd {
		return nil
	}
	err := call(fmt.Sprintf("dup2(%d, %d)", oldfd, newfd), func() error { return unix.Dup3(oldfd, newfd, 0) })
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
	c := fmt.Sprintf("setgroups(%d, [%s])", len(gs), strings.Join(names, ", "))
	if err := call(c, func() error { return unix.Setgroups(gs) }); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	c = fmt.Sprintf("setresgid(%d, %d, %d)", gid, gid, gid)
	if err := call(c, func() error { return unix.Setresgid(int(gid), int(gid), int(gid)) }); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	c = fmt.Sprintf("setresuid(%d, %d, %d)", uid, uid, uid)
	if err := call(c, func() error { return unix.Setresuid(int(uid), int(uid), int(uid)) }); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}
