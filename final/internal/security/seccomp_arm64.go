package security

import "golang.org/x/sys/unix"

// seccompTable is the arm64 table: the common calls.
func seccompTable() (seccompTableOf, bool) {
	return seccompTableOf{
		arch:    unix.AUDIT_ARCH_AARCH64,
		refused: refusedCalls,
		names:   refusedNames + "…",
		clone:   unix.SYS_CLONE,
		clone3:  unix.SYS_CLONE3,
	}, true
}
