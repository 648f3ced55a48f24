package sys

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// flagName ties a flag bit to its C name.
type flagName struct {
	value uintptr
	name  string
}

// CloneFlagNames are the clone(2) flags, namespaces last as in the man page.
var CloneFlagNames = []flagName{
	{unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_FS, "CLONE_FS"},
	{unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"},
	{unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"},
	{unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
}

// MountFlagNames are the mount(2) flags the runtime uses.
var MountFlagNames = []flagName{
	{unix.MS_RDONLY, "MS_RDONLY"},
	{unix.MS_NOSUID, "MS_NOSUID"},
	{unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"},
	{unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"},
}

// UmountFlagNames are the umount2(2) flags.
var UmountFlagNames = []flagName{
	{unix.MNT_FORCE, "MNT_FORCE"},
	{unix.MNT_DETACH, "MNT_DETACH"},
	{unix.MNT_EXPIRE, "MNT_EXPIRE"},
}

// FlagString names the bits of v from table, joined by "|" as in C; bits
// without a name are printed in hex and 0 is "0".
func FlagString(v uintptr, table []flagName) string {
	var names []string
	for _, f := range table {
		if f.value != 0 && v&f.value == f.value {
			names = append(names, f.name)
			v &^= f.value
		}
	}
	switch {
	case v != 0:
		names = append(names, fmt.Sprintf("%#x", v))
	case len(names) == 0:
		names = append(names, "0")
	}
	return strings.Join(names, "|")
}

// CloneFlagString names clone flags; the low byte is the exit signal.
func CloneFlagString(flags uintptr) string {
	var parts []string
	if rest := flags &^ 0xff; rest != 0 {
		parts = append(parts, FlagString(rest, CloneFlagNames))
	}
	if sig := unix.Signal(flags & 0xff); sig != 0 {
		parts = append(parts, unix.SignalName(sig))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// nsTypeName names a setns(2) namespace type.
func nsTypeName(nstype int) string {
	return FlagString(uintptr(nstype), CloneFlagNames)
}
