package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedFiles marks every file descriptor above stderr
// close-on-exec. Whatever started this program (a shell redirection, a job
// runner, a test harness) may have left files open without that flag, and
// execve passes such files on: the container's command would get them. An
// inherited directory is a way out of any root, chroot or pivot_root, with
// fchdir(2); runc's CVE-2024-21626 was one such leaked descriptor.
func closeInheritedFiles() error {
	explain(featProcess, "Keep the files this program inherited out of the container: every descriptor above 2 closes on execve, so the command starts with stdin, stdout and stderr only.")
	err := narrate("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)", func() error {
		return unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	})
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// Linux before 5.11 has no CLOSE_RANGE_CLOEXEC: one fcntl per open file.
	explain(featProcess, "This kernel cannot do that in one call (before Linux 5.11): set the flag on each open descriptor instead.")
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open files: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		err = narrate(fmt.Sprintf("fcntl(%d, F_SETFD, FD_CLOEXEC)", fd), func() error {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
			return err
		})
		if err != nil && !errors.Is(err, unix.EBADF) { // EBADF: ReadDir's own, closed since
			return fmt.Errorf("fcntl(%d, F_SETFD, FD_CLOEXEC): %w", fd, err)
		}
	}
	return nil
}
