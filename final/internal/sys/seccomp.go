package sys

import (
	"golang.org/x/sys/unix"
)

// SetSeccompFilter installs prog as the seccomp filter of this thread,
// or with SECCOMP_FILTER_FLAG_TSYNC of every thread of the process (the
// kernel then also sets no_new_privs on each). Threads and processes
// started afterwards inherit it; no_new_privs must be set first.
func SetSeccompFilter(prog []unix.SockFilter, t Threads) error {
	if t == AllThreads {
		return SetSeccompFilterFlags(prog, unix.SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC")
	}
	return SetSeccompFilterFlags(prog, 0, "0")
}
