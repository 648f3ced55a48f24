// Package security takes from the container what it does not need, as
// docker does by default: most capabilities, the right to gain privileges
// through execve, the system calls no container needs, the kernel files in
// /proc and /sys that reveal or change the host, and every device but a
// few.
//
// Namespaces hide things; this package removes powers. A container's root
// is the host's root (without a user namespace), so what stops it from
// loading a kernel module, remounting /proc/sys, or opening the host's
// disk is only this: capabilities(7), no_new_privs, the seccomp(2)
// filter, and the mounts below.
package security

import (
	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// DefaultCaps is docker's default capability set (moby's
// oci/caps/defaults.go): enough for a root that installs packages, changes
// file owners and binds low ports, nothing that touches the kernel.
var DefaultCaps = []int{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
	unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID,
	unix.CAP_SETFCAP, unix.CAP_SETPCAP, unix.CAP_NET_BIND_SERVICE,
	unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE,
}

// CapMask is caps as a 64-bit set, the way /proc/PID/status shows CapEff.
func CapMask(caps []int) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m
}

// DropPrivileges limits the calling thread, and every process it starts,
// to DefaultCaps and sets no_new_privs. The caller must have locked its
// goroutine to its thread and start the container's processes from it
// (box exec's thread in the container's namespaces, which exits after).
func DropPrivileges() error { return dropPrivileges(sys.ThisThread) }

// DropPrivilegesOnAllThreads does what DropPrivileges does on every thread
// of this process: for the init, which stays in the container, where a
// container process that made any of its threads run code would otherwise
// have every capability the runtime started with.
func DropPrivilegesOnAllThreads() error { return dropPrivileges(sys.AllThreads) }

func dropPrivileges(t sys.Threads) error {
	last, err := sys.LastCap()
	if err != nil {
		return err
	}
	keep := CapMask(DefaultCaps)
	drop := capsToDrop(keep, last)
	where := "this thread's"
	if t == sys.AllThreads {
		where = "every thread's"
	}
	// For root, execve(2) makes the new permitted set the bounding set: the
	// bounding set is what limits the command, capset only the thread.
	narrate.Explain(narrate.Security, "Drop every capability outside docker's default set from %s bounding set, so no execve can get one back.", where)
	if err := sys.CapBsetDropAll(drop, t); err != nil {
		return err
	}
	narrate.Explain(narrate.Security, "Limit %s own capabilities to the same set, and clear the ambient and inheritable ones.", where)
	if err := sys.ClearAmbient(t); err != nil {
		return err
	}
	if err := sys.Capset(keep, t); err != nil {
		return err
	}
	narrate.Explain(narrate.Security, "Set no_new_privs: setuid binaries and file capabilities grant nothing from now on.")
	return sys.SetNoNewPrivs(t)
}

// capsToDrop lists the capabilities up to last that keep does not hold.
func capsToDrop(keep uint64, last int) []int {
	var drop []int
	for c := 0; c <= last; c++ {
		if keep&(1<<uint(c)) == 0 {
			drop = append(drop, c)
		}
	}
	return drop
}
