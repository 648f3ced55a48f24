package security

import (
	"errors"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// MaskedPaths are kernel files a container must not read: they leak the
// host's memory (kcore), keys, timers and hardware, or let a write reboot it
// (sysrq-trigger is read-only below). docker masks the same ones.
var MaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	"/sys/devices/virtual/powercap",
}

// ReadOnlyPaths are kernel files a container may read but not write: the
// sysctls in /proc/sys are mostly global, not per namespace.
var ReadOnlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// ProtectKernelFiles masks MaskedPaths and makes ReadOnlyPaths read-only,
// in the container's /proc and /sys (after pivot_root). A path this kernel
// does not have is skipped.
func ProtectKernelFiles() error {
	narrate.Explain(narrate.Security, "Mask kernel files that leak the host: /dev/null over a file, an empty read-only tmpfs over a directory.")
	for _, p := range MaskedPaths {
		if err := mask(p); err != nil {
			return err
		}
	}
	narrate.Explain(narrate.Security, "Make /proc/sys and friends read-only: bind each onto itself, then remount the bind read-only.")
	for _, p := range ReadOnlyPaths {
		if err := readOnly(p); err != nil {
			return err
		}
	}
	return nil
}

// mask hides path. The kernel tells what path is: binding a file over a
// directory fails with ENOTDIR, and a missing path with ENOENT.
func mask(path string) error {
	err := sys.Mount("/dev/null", path, "", unix.MS_BIND, "")
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTDIR):
		return sys.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	return err
}

// readOnly makes path a read-only bind of itself; the remount keeps proc's
// nosuid, nodev and noexec.
func readOnly(path string) error {
	err := sys.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, "")
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	return sys.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}
