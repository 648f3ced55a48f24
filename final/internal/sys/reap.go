package sys

import (
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
