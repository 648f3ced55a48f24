package sys

import (
	"errors"
	"fmt"
	"os"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// Mount is mount(2). Its error names the flags, which is usually where a
// mount goes wrong (runc does the same).
func Mount(source, target, fstype string, flags uintptr, data string) error {
	c := fmt.Sprintf("mount(%s, %s, %s, %s, %s)", C(source), C(target), C(fstype),
		FlagString(flags, MountFlagNames), cOrNull(data))
	err := call(c, func() error { return unix.Mount(source, target, fstype, flags, data) })
	if err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", source, target, FlagString(flags, MountFlagNames), err)
	}
	return nil
}

// Unmount is umount2(2).
func Unmount(target string, flags int) error {
	c := fmt.Sprintf("umount2(%s, %s)", C(target), FlagString(uintptr(flags), UmountFlagNames))
	err := call(c, func() error { return unix.Unmount(target, flags) })
	if err != nil {
		return fmt.Errorf("umount %s: %w", target, err)
	}
	return nil
}

// PivotRoot is pivot_root(2).
func PivotRoot(newRoot, putOld string) error {
	c := fmt.Sprintf("pivot_root(%s, %s)", C(newRoot), C(putOld))
	err := call(c, func() error { return unix.PivotRoot(newRoot, putOld) })
	if err != nil {
		return fmt.Errorf("pivot_root %s: %w", newRoot, err)
	}
	return nil
}

// Chroot is chroot(2).
func Chroot(dir string) error {
	err := call(fmt.Sprintf("chroot(%s)", C(dir)), func() error { return unix.Chroot(dir) })
	if err != nil {
		return fmt.Errorf("chroot %s: %w", dir, err)
	}
	return nil
}

// Chdir is chdir(2).
func Chdir(dir string) error {
	err := call(fmt.Sprintf("chdir(%s)", C(dir)), func() error { return unix.Chdir(dir) })
	if err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	return nil
}

// ChdirUp climbs n levels with chdir(".."), narrated as one line.
func ChdirUp(n int) error {
	c := fmt.Sprintf("chdir(\"..\") /* %d times */", n)
	err := call(c, func() error {
		for i := 0; i < n; i++ {
			if err := unix.Chdir(".."); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chdir ..: %w", err)
	}
	return nil
}

// Mkdir is mkdir(2); an existing directory is fine, as with mkdir -p.
func Mkdir(path string, mode uint32) error {
	c := fmt.Sprintf("mkdir(%s, %#o)", C(path), mode)
	err := call(c, func() error { return unix.Mkdir(path, mode) })
	if errors.Is(err, unix.EEXIST) {
		if info, statErr := os.Lstat(path); statErr == nil && info.IsDir() {
			narrate.Line("/* a directory already: that will do */")
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}

// CreateFile makes an empty regular file at path with mknod(2), which
// makes regular files too, as a mount point for a bind-mounted file.
func CreateFile(path string, mode uint32) error {
	c := fmt.Sprintf("mknod(%s, S_IFREG|%#o, 0)", C(path), mode)
	err := call(c, func() error { return unix.Mknod(path, unix.S_IFREG|mode, 0) })
	if errors.Is(err, unix.EEXIST) {
		if info, statErr := os.Lstat(path); statErr == nil && info.Mode().IsRegular() {
			narrate.Line("/* a file already: that will do */")
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// Symlink is symlink(2): a link at linkpath that says target.
func Symlink(target, linkpath string) error {
	c := fmt.Sprintf("symlink(%s, %s)", C(target), C(linkpath))
	err := call(c, func() error { return unix.Symlink(target, linkpath) })
	if err != nil {
		return fmt.Errorf("symlink %s: %w", linkpath, err)
	}
	return nil
}

// WriteFile writes content to an existing kernel file (in /proc or /sys),
// narrated as `write PATH <- "content"`. A write the kernel waits in (v1's
// memory.limit_in_bytes reclaims down to the new limit) fails with EINTR
// when a signal arrives, and Go's runtime sends its threads signals: that
// attempt is narrated and the write made again, where os.File would retry
// unseen.
func WriteFile(path, content string) error {
	c := fmt.Sprintf("write %s <- %s", path, C(content))
	for {
		err := call(c, func() error { return writeOnce(path, content) })
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
}

// writeOnce is open, one write(2) and close, with no retry.
func writeOnce(path, content string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	_, err = unix.Write(fd, []byte(content))
	if closeErr := unix.Close(fd); err == nil {
		err = closeErr
	}
	return err
}
