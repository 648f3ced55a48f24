package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// MakeMountPoints creates, from the host and before the container starts,
// the volumes' mount points and the working directory in the rootfs: root
// in a user namespace may not write to a rootfs owned by host ids it does
// not map, which a built or imported rootfs is. Inside, they are found made.
func MakeMountPoints(rootfs string, volumes []state.Volume, workdir string) error {
	for _, v := range volumes {
		narrate.Explain(narrate.User, "Make the mount point %s from the host: root in the user namespace may not write to the rootfs.", v.Container)
		parent, _, err := openVolumeParent(rootfs, v)
		if err != nil {
			return err
		}
		parent.Close()
	}
	if underMount(workdir, volumes) {
		return nil // made inside, on that mount
	}
	return makeDirNoSymlinks(rootfs, workdir)
}

// containerMounts are the directories the container mounts its own
// filesystems on: a working directory below one is made there, inside.
var containerMounts = []string{"/tmp", "/dev", "/proc", "/sys"}

// underMount tells whether dir is at or below a mount of the container.
func underMount(dir string, volumes []state.Volume) bool {
	dir = filepath.Clean(dir)
	points := append([]string(nil), containerMounts...)
	for _, v := range volumes {
		points = append(points, v.Container)
	}
	for _, p := range points {
		if dir == p || strings.HasPrefix(dir, p+"/") {
			return true
		}
	}
	return false
}

// makeDirNoSymlinks creates dir below root, component by component. It
// stops, leaving the rest to the container, at a symlink: resolved on the
// host, a link could lead out of the rootfs.
func makeDirNoSymlinks(root, dir string) error {
	p := root
	for _, part := range strings.Split(strings.TrimPrefix(filepath.Clean(dir), "/"), "/") {
		if part == "" {
			continue
		}
		p = filepath.Join(p, part)
		info, err := os.Lstat(p)
		switch {
		case err == nil && info.Mode()&os.ModeSymlink != 0:
			return nil
		case err == nil && !info.IsDir():
			return fmt.Errorf("working directory %s: %s is not a directory in the rootfs", dir, p)
		case err == nil:
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("working directory %s: %w", dir, err)
		}
		if err := sys.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("working directory %s: %w", dir, err)
		}
	}
	return nil
}

// lockedFlags are the flags of the mount at target that a remount in a
// user namespace must repeat: the kernel locks nosuid, nodev and noexec on
// the mounts it copies into a mount namespace of a less privileged user
// namespace, and a remount that would clear them fails with EPERM.
func lockedFlags(target string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return 0 // the remount will fail and say why
	}
	var flags uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return flags
}
