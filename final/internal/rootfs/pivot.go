package rootfs

import (
	"errors"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// switchRoot makes rootfs the root of our mount namespace and detaches the
// old root. Unlike chroot, which only changes where path lookups start,
// pivot_root moves the whole namespace, so once the old root is unmounted no
// "cd .." or second chroot can lead back to the host's files.
func switchRoot(rootfs string) error {
	narrate.Explain(narrate.Root, "Swap the root: pivot_root, then detach the host's root so it is unreachable.")
	if err := sys.Chdir(rootfs); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/": unmounting "." then removes the old root without a put_old dir.
	err := sys.PivotRoot(".", ".")
	if errors.Is(err, unix.EINVAL) && isInitramfs() {
		return moveRoot()
	}
	if err != nil {
		return err
	}
	if err := sys.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return sys.Chdir("/")
}

// isInitramfs tells whether / is the initial ramfs, which the kernel does
// not let pivot_root move away from (as in a VM booted from an initramfs).
func isInitramfs() bool {
	var st unix.Statfs_t
	return unix.Statfs("/", &st) == nil && (st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC)
}

// moveRoot is the fallback where pivot_root cannot work: move the rootfs
// mount over / and chroot into it, as switch_root(8) does.
func moveRoot() error {
	narrate.Explain(narrate.Root, "The root is an initramfs, which pivot_root refuses: move the rootfs over / and chroot instead.")
	if err := sys.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	if err := sys.Chroot("."); err != nil {
		return err
	}
	return sys.Chdir("/")
}
