package sys

import (
	"fmt"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReapExited collects one exited child with wait4(-1, WNOHANG), without
// waiting: pid is 0 when no child has exited yet, and err is ECHILD when
// there is no child left. Not narrated: it runs in the container's init,
// after narration ends.
func ReapExited() (pid int, status syscall.WaitStatus, err error) {
	for {
		var ws unix.WaitStatus
		pid, err = unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		return pid, syscall.WaitStatus(ws), err
	}
}

// WaitPid waits for child pid to exit and reaps it, for a caller that
// started it with StartChild: wait4(2), not narrated (the wait lasts the
// container's life).
func WaitPid(pid int) (syscall.WaitStatus, error) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait4 %d: %w", pid, err)
		}
		return syscall.WaitStatus(ws), nil
	}
}

// WaitStatusString says how a process ended, as os.ProcessState does:
// "exit status 1", "signal: killed".
func WaitStatusString(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}
