package security

import "golang.org/x/sys/unix"

// seccompTable is the x86_64 table of the refused calls.
func seccompTable() (seccompTableOf, bool) {
	return seccompTableOf{
		arch: unix.AUDIT_ARCH_X86_64,
		refused: []uint32{
			unix.SYS_ADD_KEY, unix.SYS_KEYCTL, unix.SYS_REQUEST_KEY,
			unix.SYS_UNSHARE, unix.SYS_SETNS,
			unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT,
			unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK, unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_MOUNT_SETATTR,
			unix.SYS_USERFAULTFD, unix.SYS_PERF_EVENT_OPEN, unix.SYS_BPF,
			unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
			unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
			unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
			unix.SYS_CREATE_MODULE, unix.SYS_GET_KERNEL_SYMS, unix.SYS_QUERY_MODULE,
			unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT,
			unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_CLOCK_ADJTIME,
			unix.SYS_QUOTACTL, unix.SYS_LOOKUP_DCOOKIE, unix.SYS_NFSSERVCTL,
			unix.SYS_USELIB, unix.SYS_USTAT, unix.SYS_SYSFS, unix.SYS__SYSCTL,
			unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_VHANGUP,
		},
		names:  "keyctl, add_key, request_key, unshare, setns, mount and the new mount API, userfaultfd, perf_event_open, bpf, io_uring, open_by_handle_at, kexec, modules, reboot, swap, clock setting, iopl…",
		clone:  unix.SYS_CLONE,
		clone3: unix.SYS_CLONE3,
		x32:    true,
	}, true
}
