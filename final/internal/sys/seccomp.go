package sys

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetSeccompFilter installs prog as the seccomp filter of this thread,
// or with SECCOMP_FILTER_FLAG_TSYNC of every thread of the process (the
// kernel then also sets no_new_privs on each). Threads and processes
// started afterwards inherit it; no_new_privs must be set first.
func SetSeccompFilter(prog []unix.SockFilter, t Threads) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	flags, flagName := uintptr(0), "0"
	if t == AllThreads {
		flags, flagName = unix.SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"
	}
	c := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %s, {len=%d, filter=...})", flagName, len(prog))
	err := call(c, func() error {
		r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
		runtime.KeepAlive(prog)
		if errno != 0 {
			return errno
		}
		if r != 0 { // TSYNC: the id of a thread that could not take the filter
			return fmt.Errorf("thread %d cannot take the filter", r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", err)
	}
	return nil
}
