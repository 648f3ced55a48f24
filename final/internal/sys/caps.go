package sys

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CapNames are the capability names by number, from capability.h.
var CapNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapName is the name of capability c, or its number if it has none here.
func CapName(c int) string {
	if c >= 0 && c < len(CapNames) {
		return CapNames[c]
	}
	return strconv.Itoa(c)
}

// CapSetString names the capabilities in a 64-bit set, as "CAP_CHOWN|...".
func CapSetString(set uint64) string {
	var names []string
	for c := 0; c < 64; c++ {
		if set&(1<<uint(c)) != 0 {
			names = append(names, CapName(c))
		}
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// LastCap is the highest capability this kernel knows, from
// /proc/sys/kernel/cap_last_cap (capabilities(7)).
func LastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	return n, nil
}

// ClearAmbient empties the ambient capability set, the one set that an
// execve of a non-root program would carry over.
func ClearAmbient(t Threads) error {
	c := "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)" + t.comment()
	err := call(c, func() error {
		return rawSyscall(t, unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	})
	if err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// Capset sets the effective and permitted sets to set with capset(2), in
// the 64-bit (version 3) layout, and empties the inheritable set: a
// program that execve gives file capabilities to must not get more from
// it (CVE-2022-24769).
func Capset(set uint64, t Threads) error {
	c := fmt.Sprintf("capset({_LINUX_CAPABILITY_VERSION_3, 0}, {effective=permitted=%s, inheritable=0})%s", CapSetString(set), t.comment())
	err := call(c, func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		lo, hi := uint32(set), uint32(set>>32)
		data := [2]unix.CapUserData{
			{Effective: lo, Permitted: lo},
			{Effective: hi, Permitted: hi},
		}
		err := rawSyscall(t, unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
		runtime.KeepAlive(&hdr)
		runtime.KeepAlive(&data)
		return err
	})
	if err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// SetNoNewPrivs sets no_new_privs: from now on execve never grants
// privileges, not through setuid bits nor file capabilities.
func SetNoNewPrivs(t Threads) error {
	c := "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)" + t.comment()
	err := call(c, func() error { return rawSyscall(t, unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0) })
	if err != nil {
		return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
	}
	return nil
}

// CapBsetDropAll drops each capability in caps from the bounding set,
// narrated as one line: prctl(PR_CAPBSET_DROP) takes one at a time.
func CapBsetDropAll(caps []int, t Threads) error {
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = CapName(c)
	}
	line := fmt.Sprintf("prctl(PR_CAPBSET_DROP, CAP) /* for each of %d: %s */%s", len(caps), strings.Join(names, ", "), t.comment())
	failed := -1
	err := call(line, func() error {
		for _, c := range caps {
			if err := rawSyscall(t, unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
				failed = c
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop %s from the bounding set: %w", CapName(failed), err)
	}
	return nil
}
