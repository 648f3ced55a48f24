package security

import (
	"fmt"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// The syscall filter: a classic BPF program that the kernel runs at every
// system call of the container's processes (seccomp(2), with
// SECCOMP_SET_MODE_FILTER), as docker's default profile does. Capabilities
// already refuse most of what touches the kernel; the filter refuses the
// calls that need no capability yet reach parts of the kernel no container
// needs: the keyring (not namespaced), new user namespaces and the other
// namespaces (unshare, setns, clone with CLONE_NEW* flags), userfaultfd,
// perf_event_open, bpf, io_uring. A refused call fails with EPERM, as if the
// process lacked a capability; clone3 fails with ENOSYS, because its flags
// are in memory a filter cannot read, and C libraries fall back to clone on
// ENOSYS.

// seccompData offsets: struct seccomp_data { int nr; __u32 arch;
// __u64 instruction_pointer; __u64 args[6]; }.
const (
	seccompNr    = 0
	seccompArch  = 4
	seccompArg0  = 16 // the low 32 bits of args[0] on a little-endian machine
	maxJumpShort = 255
)

// namespaceCloneFlags are the flags of clone(2) that make new namespaces.
const namespaceCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// seccompFilter writes the filter for arch (an AUDIT_ARCH_ value), refusing
// refused with EPERM and clone3 with ENOSYS, and refusing clone with
// namespace flags. A call from another architecture's table (a 32-bit
// program on a 64-bit kernel), whose numbers mean other calls, gets ENOSYS.
func seccompFilter(arch uint32, refused []uint32, clone, clone3 uint32, x32 bool) []unix.SockFilter {
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	// Each refused call jumps to a shared RET EPERM at the end; the
	// program is laid out so that every jump fits in 8 bits.
	var prog []unix.SockFilter
	load := func(off uint32) { prog = append(prog, bpfStmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off)) }
	ret := func(v uint32) { prog = append(prog, bpfStmt(unix.BPF_RET|unix.BPF_K, v)) }

	load(seccompArch)
	prog = append(prog, bpfJump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, arch, 1, 0))
	ret(enosys)
	load(seccompNr)
	if x32 {
		// x32 programs use the x86_64 table with bit 30 set.
		prog = append(prog, bpfJump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, 0x40000000, 0, 1))
		ret(enosys)
	}
	// The refused calls, then clone3, then clone; the returns follow:
	//   ALLOW, EPERM, ENOSYS, and clone's flag test.
	n := len(refused)
	for i, nr := range refused {
		// From the jump after i: n-1-i more refusals, clone3, clone, ALLOW.
		toEPERM := uint8(n - 1 - i + 3)
		prog = append(prog, bpfJump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, nr, toEPERM, 0))
	}
	prog = append(prog,
		bpfJump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, clone3, 3, 0), // to ENOSYS
		bpfJump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, clone, 3, 0),  // to the flag test
	)
	ret(unix.SECCOMP_RET_ALLOW)
	ret(eperm)
	ret(enosys)
	load(seccompArg0)
	prog = append(prog, bpfJump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, namespaceCloneFlags, 0, 1))
	ret(eperm)
	ret(unix.SECCOMP_RET_ALLOW)
	return prog
}

func bpfStmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func bpfJump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// InstallSyscallFilter installs the filter on the calling thread; the
// processes it starts inherit it, and no execve removes it. It needs
// no_new_privs (set before) and must come last: the runtime's own setup
// makes calls it refuses.
func InstallSyscallFilter() error { return installSyscallFilter(sys.ThisThread) }

// InstallSyscallFilterOnAllThreads installs the filter on every thread of
// this process at once (SECCOMP_FILTER_FLAG_TSYNC): for the init, whose
// other threads would otherwise make any call unfiltered.
func InstallSyscallFilterOnAllThreads() error { return installSyscallFilter(sys.AllThreads) }

func installSyscallFilter(threads sys.Threads) error {
	t, ok := seccompTable()
	if !ok {
		narrate.Explain(narrate.Security, "No syscall filter for this architecture: capabilities alone guard the kernel.")
		return nil
	}
	if len(t.refused)+3 > maxJumpShort {
		return fmt.Errorf("syscall filter: %d refused calls do not fit the 8-bit jumps of classic BPF; split the table", len(t.refused))
	}
	narrate.Explain(narrate.Security, "Install the syscall filter (seccomp), last: %d calls fail with EPERM (%s), clone with CLONE_NEW* flags too, and clone3 with ENOSYS.", len(t.refused), t.names)
	return sys.SetSeccompFilter(seccompFilter(t.arch, t.refused, t.clone, t.clone3, t.x32), threads)
}

// seccompTableOf is one architecture's part of the filter.
type seccompTableOf struct {
	arch          uint32
	refused       []uint32
	names         string // the refused calls, for the narration
	clone, clone3 uint32
	x32           bool
}
