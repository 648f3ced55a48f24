package sys

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Threads says which threads a per-thread call changes. Capabilities,
// no_new_privs and the seccomp filter belong to a thread, not to a
// process, and a Go program has many threads it did not ask for: a call
// made on one leaves the others as they were.
type Threads bool

const (
	// ThisThread changes the calling thread only; processes started from
	// it inherit the change (box exec's joined thread, which then exits).
	ThisThread Threads = false
	// AllThreads changes every thread of the process, as a process that
	// stays in the container (its init) must: a thread left with its
	// powers is a way out for whoever can make it run their code.
	AllThreads Threads = true
)

// comment is what the narration adds after a call made on every thread.
func (t Threads) comment() string {
	if t == AllThreads {
		return " /* on every thread of the process */"
	}
	return ""
}

// errCgoThreads explains why a build with cgo cannot restrict every thread.
var errCgoThreads = errors.New("this box was built with cgo, and Go cannot then make a call on every thread; build it with CGO_ENABLED=0 (make build does)")

// rawSyscall makes a system call on the calling thread or, for AllThreads,
// on each thread of the process in turn: Go stops the world and runs it
// on every thread (syscall.AllThreadsSyscall), failing if any refuses.
func rawSyscall(t Threads, trap, a1, a2, a3 uintptr) error {
	var errno syscall.Errno
	if t == AllThreads {
		_, _, errno = syscall.AllThreadsSyscall(trap, a1, a2, a3)
		if errno == syscall.ENOTSUP {
			return errCgoThreads
		}
	} else {
		_, _, errno = unix.RawSyscall(trap, a1, a2, a3)
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// SetNotDumpable clears the process's dumpable flag (prctl(2)
// PR_SET_DUMPABLE). Then only a process with CAP_SYS_PTRACE in the user
// namespace this one started in may ptrace it or open its /proc/PID/mem,
// /proc/PID/exe, /proc/PID/fd and /proc/PID/environ: the container's own
// processes, which lack that capability, cannot reach into the runtime
// that stays as their init. The flag is the process's (its memory's), so
// one call covers every thread.
func SetNotDumpable() error {
	c := "prctl(PR_SET_DUMPABLE, SUID_DUMP_DISABLE, 0, 0, 0)"
	err := call(c, func() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) })
	if err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE: %w", err)
	}
	return nil
}
