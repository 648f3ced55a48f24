package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// ParseVolumes checks -v HOST:CTR[:ro|rw] specs, naming the fix on error.
func ParseVolumes(specs []string) ([]state.Volume, error) {
	var volumes []state.Volume
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("volume %q: want HOST:CTR or HOST:CTR:ro, like -v /srv/data:/data:ro", spec)
		}
		v := state.Volume{Host: filepath.Clean(parts[0]), Container: filepath.Clean(parts[1])}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				v.ReadOnly = true
			case "rw":
			default:
				return nil, fmt.Errorf("volume %q: mode %q is not ro or rw", spec, parts[2])
			}
		}
		if !filepath.IsAbs(parts[0]) || !filepath.IsAbs(parts[1]) {
			return nil, fmt.Errorf("volume %q: both paths must be absolute, like -v /srv/data:/data", spec)
		}
		if v.Container == "/" {
			return nil, fmt.Errorf("volume %q: cannot mount over the container's root /", spec)
		}
		if _, err := os.Stat(v.Host); err != nil {
			return nil, fmt.Errorf("volume %q: host path %s does not exist; create it first", spec, v.Host)
		}
		volumes = append(volumes, v)
	}
	return volumes, nil
}

// mountVolumes binds each volume into the rootfs, before pivot_root, while
// the host paths are still reachable. The mount point is opened one name
// at a time below the rootfs, refusing symlinks, and mounted on through its
// file descriptor: a name checked and then mounted by path could be
// swapped for a symlink in between (by a container sharing a volume with
// this one), and the bind would land where that symlink points.
func mountVolumes(rootfs string, volumes []state.Volume) error {
	for _, v := range volumes {
		narrate.Explain(narrate.Mount, "Bind the host's %s into the container at %s: open the mount point name by name below the rootfs, no symlinks, then mount on the descriptor.", v.Host, v.Container)
		if err := mountVolume(rootfs, v); err != nil {
			return err
		}
	}
	return nil
}

// mountVolume binds v onto its mount point, then remounts the bind with
// the flags a bind ignores on creation.
func mountVolume(rootfs string, v state.Volume) error {
	parent, last, err := openVolumeParent(rootfs, v)
	if err != nil {
		return err
	}
	defer parent.Close()
	target, err := sys.OpenBeneath(parent, last)
	if err != nil {
		return volumeError(v, err)
	}
	err = sys.MountOn(v.Host, target, "", unix.MS_BIND|unix.MS_REC, "")
	target.Close()
	if err != nil {
		return err
	}
	// The descriptor opened before the bind is the directory under it;
	// the bind's own root is what the name leads to now.
	bound, err := sys.OpenBeneath(parent, last)
	if err != nil {
		return volumeError(v, err)
	}
	defer bound.Close()
	// A bind mount ignores flags on creation: read-only and nodev take a
	// second call that remounts the bind, which in a user namespace must
	// repeat the flags the kernel locked.
	flags := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NODEV | lockedFlags(sys.FdPath(bound))
	why := "Remount it nodev, like every writable mount in the container."
	if v.ReadOnly {
		flags |= unix.MS_RDONLY
		why = "Remount it read-only and nodev, so writes inside fail with EROFS."
	}
	narrate.Explain(narrate.Mount, "%s", why)
	return sys.MountOn("", bound, "", flags, "")
}

// openVolumeParent opens the directory that holds v's mount point inside
// rootfs, making the missing directories on the way, and makes the mount
// point itself (a directory, or a file for a file volume) unless it exists
// (EEXIST). It returns the parent and the mount point's name in it.
func openVolumeParent(rootfs string, v state.Volume) (*os.File, string, error) {
	hostInfo, err := os.Stat(v.Host)
	if err != nil {
		return nil, "", fmt.Errorf("volume %s: %w", v, err)
	}
	parts := strings.Split(strings.TrimPrefix(v.Container, "/"), "/")
	dir, err := sys.OpenDir(rootfs)
	if err != nil {
		return nil, "", err
	}
	for i, part := range parts {
		if i == len(parts)-1 {
			if hostInfo.IsDir() {
				err = sys.MkdirBeneath(dir, part, 0o755)
			} else {
				err = sys.CreateBeneath(dir, part, 0o644)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				dir.Close()
				return nil, "", volumeError(v, err)
			}
			return dir, part, nil
		}
		next, err := sys.OpenBeneath(dir, part)
		if errors.Is(err, unix.ENOENT) {
			if err = sys.MkdirBeneath(dir, part, 0o755); err == nil {
				next, err = sys.OpenBeneath(dir, part)
			}
		}
		dir.Close()
		if err != nil {
			return nil, "", volumeError(v, err)
		}
		dir = next
	}
	return dir, "", fmt.Errorf("volume %s: no mount point", v)
}

// volumeError names the fix for a mount point that cannot be used.
func volumeError(v state.Volume, err error) error {
	if sys.IsSymlinkRefusal(err) {
		return fmt.Errorf("volume %s: %s crosses a symlink in the rootfs; choose another path", v, v.Container)
	}
	return fmt.Errorf("volume %s: %w", v, err)
}
