// Package rootfs builds the container's view of the filesystem inside its
// new mount namespace: a private mount table, the root filesystem bound
// onto itself, volumes, /proc, /sys, a minimal /dev, pivot_root(2) into
// it, and, with --read-only, a read-only root. Nothing here is seen by the
// host: every mount happens in the container's mount namespace.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Spec is what the container's filesystem is made of.
type Spec struct {
	Rootfs   string // absolute host path of the root filesystem
	Volumes  []state.Volume
	ReadOnly bool
}

// Prepare does everything that needs the host's paths, and so must come
// before pivot_root: the mounts of the rootfs, the volumes, /proc, /sys and
// /dev, all below the rootfs. Then Enter switches the root.
func Prepare(s Spec) error {
	if err := makeMountsPrivate(); err != nil {
		return err
	}
	if err := bindRootfs(s.Rootfs); err != nil {
		return err
	}
	if err := mountVolumes(s.Rootfs, s.Volumes); err != nil {
		return err
	}
	// The image decides what /proc, /sys and /dev are in the rootfs: each
	// is opened without following a symlink, and mounted on through that
	// descriptor, so none of these mounts can land outside the rootfs.
	narrate.Explain(narrate.Mount, "Open the rootfs, to reach /proc, /sys and /dev below it without following a symlink the image may have put there.")
	root, err := sys.OpenDir(s.Rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := mountProc(root); err != nil {
		return err
	}
	if err := mountSys(root); err != nil {
		return err
	}
	return mountDev(root, filepath.Join(s.Rootfs, "dev"))
}

// mountOnPoint opens the mount point name in root and calls mount on it.
func mountOnPoint(root *os.File, name string, mount func(target *os.File) error) error {
	target, err := openMountPoint(root, name)
	if err != nil {
		return err
	}
	defer target.Close()
	return mount(target)
}

// openMountPoint opens the directory name in root, making it if it is
// missing, and refuses a symlink: an image's /proc pointing at /etc must
// not take the mount with it.
func openMountPoint(root *os.File, name string) (*os.File, error) {
	dir, err := sys.OpenBeneath(root, name)
	if errors.Is(err, unix.ENOENT) {
		if err = sys.MkdirBeneath(root, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
			dir, err = sys.OpenBeneath(root, name)
		}
	}
	if sys.IsSymlinkRefusal(err) {
		return nil, fmt.Errorf("the rootfs's /%s is a symlink; an image needs a directory there: %w", name, err)
	}
	return dir, err
}

// Enter makes the rootfs the root and mounts the container's /tmp.
func Enter(s Spec) error {
	if err := switchRoot(s.Rootfs); err != nil {
		return err
	}
	return mountTmp("/tmp")
}

// makeMountsPrivate stops mount events from propagating between the host
// and us. Our namespace starts as a copy of the host's, and on systemd hosts
// / is shared: without this, the mounts below would appear on the host.
func makeMountsPrivate() error {
	narrate.Explain(narrate.Mount, "Make every mount private, so nothing we mount propagates back to the host.")
	return sys.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
}

// bindRootfs makes the rootfs a mount point of its own, which pivot_root(2)
// requires of the new root, and makes it nodev: device nodes in the image
// (or made later with mknod, which docker's capability set allows) cannot
// be opened; only the few in /dev, bound from the host, work.
func bindRootfs(rootfs string) error {
	narrate.Explain(narrate.Mount, "Bind the rootfs onto itself: pivot_root needs the new root to be a mount point.")
	if err := sys.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	narrate.Explain(narrate.Security, "Remount it nodev: a device node made inside (CAP_MKNOD) cannot be opened.")
	return sys.Mount("", rootfs, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NODEV|lockedFlags(rootfs), "")
}

// mountProc mounts a new proc filesystem. A proc mount shows the PID
// namespace of the process that mounts it, so ps sees only the container.
func mountProc(root *os.File) error {
	narrate.Explain(narrate.PID, "Mount a fresh /proc, so ps and top see only this PID namespace.")
	return mountOnPoint(root, "proc", func(target *os.File) error {
		return sys.MountOn("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	})
}

// mountSys mounts sysfs read-only. Mounted from inside the new network
// namespace, /sys/class/net lists the container's interfaces only.
func mountSys(root *os.File) error {
	narrate.Explain(narrate.Security, "Mount /sys read-only: the container may look at the kernel's devices, never change them.")
	return mountOnPoint(root, "sys", func(target *os.File) error {
		return sys.MountOn("sysfs", target, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	})
}

// mountTmp gives the container a private, empty /tmp in memory.
func mountTmp(target string) error {
	narrate.Explain(narrate.Mount, "Mount an empty tmpfs on /tmp: scratch space that vanishes with the container.")
	return sys.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
}

// MakeReadOnly remounts the root read-only, last, once everything that
// must be created in it exists; /dev, /proc, /tmp and volumes are mounts of
// their own and keep their modes.
func MakeReadOnly() error {
	narrate.Explain(narrate.Mount, "Remount the root read-only (--read-only): writes anywhere but /tmp, /dev and volumes fail with EROFS.")
	return sys.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NODEV|lockedFlags("/"), "")
}
