package rootfs

import (
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
// the host paths are still reachable.
func mountVolumes(rootfs string, volumes []state.Volume) error {
	for _, v := range volumes {
		narrate.Explain(narrate.Mount, "Bind the host's %s into the container at %s.", v.Host, v.Container)
		target, err := volumeTarget(rootfs, v)
		if err != nil {
			return err
		}
		if err := sys.Mount(v.Host, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		// A bind mount ignores flags on creation: read-only and nodev take
		// a second call that remounts the bind, which in a user namespace
		// must repeat the flags the kernel locked.
		flags := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NODEV | lockedFlags(target)
		why := "Remount it nodev, like every writable mount in the container."
		if v.ReadOnly {
			flags |= unix.MS_RDONLY
			why = "Remount it read-only and nodev, so writes inside fail with EROFS."
		}
		narrate.Explain(narrate.Mount, "%s", why)
		if err := sys.Mount("", target, "", flags, ""); err != nil {
			return err
		}
	}
	return nil
}

// volumeTarget creates the mount point of v inside rootfs, refusing paths
// that cross a symlink: a rootfs could point one at the host's /etc.
func volumeTarget(rootfs string, v state.Volume) (string, error) {
	hostInfo, err := os.Stat(v.Host)
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", v, err)
	}
	parts := strings.Split(strings.TrimPrefix(v.Container, "/"), "/")
	target := rootfs
	for i, part := range parts {
		target = filepath.Join(target, part)
		info, err := os.Lstat(target)
		switch {
		case err == nil && info.Mode()&os.ModeSymlink != 0:
			return "", fmt.Errorf("volume %s: %s is a symlink in the rootfs; choose another path", v, v.Container)
		case err == nil:
			continue
		case i < len(parts)-1 || hostInfo.IsDir():
			if err := sys.Mkdir(target, 0o755); err != nil {
				return "", fmt.Errorf("volume %s: %w", v, err)
			}
		default:
			if err := sys.CreateFile(target, 0o644); err != nil {
				return "", fmt.Errorf("volume %s: %w", v, err)
			}
		}
	}
	return target, nil
}
