package sys

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetSeccompFilter installs prog as this thread's seccomp filter with
// seccomp(2). Threads and processes started from this thread afterwards
// inherit it; no_new_privs must be set first.
func SetSeccompFilter(prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	c := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, 0, {len=%d, filter=...})", len(prog))
	err := call(c, func() error {
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
		runtime.KeepAlive(prog)
		if errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", err)
	}
	return nil
}
