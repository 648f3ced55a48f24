package security

import "golang.org/x/sys/unix"

// seccompTable is the x86_64 table: the common calls and x86's old ones.
func seccompTable() (seccompTableOf, bool) {
	old := []uint32{
		unix.SYS_CREATE_MODULE, unix.SYS_GET_KERNEL_SYMS, unix.SYS_QUERY_MODULE,
		unix.SYS_USELIB, unix.SYS_USTAT, unix.SYS_SYSFS, unix.SYS__SYSCTL,
		unix.SYS_IOPL, unix.SYS_IOPERM,
	}
	return seccompTableOf{
		arch:    unix.AUDIT_ARCH_X86_64,
		refused: append(append([]uint32(nil), refusedCalls...), old...),
		names:   refusedNames + ", iopl, ioperm, uselib…",
		clone:   unix.SYS_CLONE,
		clone3:  unix.SYS_CLONE3,
		x32:     true,
	}, true
}
