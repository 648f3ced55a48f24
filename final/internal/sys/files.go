package sys

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// CloseInheritedFiles marks every file descriptor above stderr
// close-on-exec, so that nothing this process was given open by whatever
// started it reaches a container. An inherited directory is a way out of
// the container's root with fchdir(2): runc's CVE-2024-21626.
func CloseInheritedFiles() error {
	narrate.Explain(narrate.Security, "Keep the files this program inherited out of the container: every descriptor above 2 closes on execve.")
	err := call("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)", func() error {
		return unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC): %w", err)
	}
	// Linux before 5.11 has no CLOSE_RANGE_CLOEXEC: one fcntl per open file.
	narrate.Explain(narrate.Security, "This kernel cannot do that in one call (before Linux 5.11): set the flag on each open descriptor instead.")
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open files: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		c := fmt.Sprintf("fcntl(%d, F_SETFD, FD_CLOEXEC)", fd)
		err = call(c, func() error {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
			return err
		})
		if err != nil && !errors.Is(err, unix.EBADF) { // EBADF: ReadDir's own, closed since
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}
