package main

// mounts.go gives the container a mount table of its own: everything here
// runs in the new mount namespace (CLONE_NEWNS), so the host never sees it.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// makeMountsPrivate stops mount events from propagating between the host
// and us. Our namespace starts as a copy of the host's, and on systemd hosts
// / is shared: without this, the mounts below would appear on the host.
func makeMountsPrivate() error {
	explain(featMount, "Make every mount private, so nothing we mount propagates back to the host.")
	return mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
}

// bindRootfs makes the rootfs a mount point of its own, which pivot_root(2)
// requires of the new root.
func bindRootfs(rootfs string) error {
	explain(featMount, "Bind the rootfs onto itself: pivot_root needs the new root to be a mount point.")
	return mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, "")
}

// switchRoot makes rootfs the root of our mount namespace and detaches the
// old root. Unlike chroot, which only changes where path lookups start,
// pivot_root moves the whole namespace, so once the old root is unmounted no
// "cd .." or second chroot can lead back to the host's files.
func switchRoot(rootfs string) error {
	explain(featMount, "Swap the root: pivot_root, then detach the host's root so it is unreachable.")
	if err := chdir(rootfs); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/": unmounting "." then removes the old root without a put_old dir.
	err := pivotRoot(".", ".")
	if errors.Is(err, unix.EINVAL) && isInitramfs() {
		return moveRoot()
	}
	if err != nil {
		return err
	}
	if err := umount2(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return chdir("/")
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
	explain(featMount, "The root is an initramfs, which pivot_root refuses: move the rootfs over / and chroot instead.")
	if err := mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	if err := chroot("."); err != nil {
		return err
	}
	return chdir("/")
}

// mountTmp gives the container a private, empty /tmp in memory.
func mountTmp(target string) error {
	explain(featMount, "Mount an empty tmpfs on /tmp: scratch space that vanishes with the container.")
	return mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
}

// devices are the host device nodes a container needs; everything else in
// the host's /dev stays out of reach.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountDev builds a minimal /dev on a tmpfs: bind mounts of a few host
// device nodes, a private devpts for terminals, and the usual symlinks.
func mountDev(rootfs string) error {
	dev := filepath.Join(rootfs, "dev")
	explain(featMount, "Mount a tmpfs on /dev and bind in only null, zero, full, random, urandom and tty.")
	if err := mkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, name := range devices {
		target := filepath.Join(dev, name)
		if err := createFile(target, 0o666); err != nil {
			return err
		}
		if err := mount("/dev/"+name, target, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	explain(featMount, "Mount a new devpts instance, so terminals opened inside are the container's own.")
	pts := filepath.Join(dev, "pts")
	if err := mkdir(pts, 0o755); err != nil {
		return err
	}
	if err := mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	explain(featMount, "Add the usual /dev symlinks: ptmx to the new devpts, fd and the standard streams through /proc.")
	links := []struct{ name, target string }{{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}}
	for _, l := range links {
		if err := symlink(l.target, filepath.Join(dev, l.name)); err != nil {
			return err
		}
	}
	return nil
}

// volume is a host directory bind-mounted into the container.
type volume struct {
	host, container string
	readOnly        bool
}

func (v volume) String() string {
	s := v.host + ":" + v.container
	if v.readOnly {
		s += ":ro"
	}
	return s
}

// parseVolumes checks -v HOST:CTR[:ro|rw] specs, naming the fix on error.
func parseVolumes(specs []string) ([]volume, error) {
	var volumes []volume
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("volume %q: want HOST:CTR or HOST:CTR:ro, like -v /srv/data:/data:ro", spec)
		}
		v := volume{host: filepath.Clean(parts[0]), container: filepath.Clean(parts[1])}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				v.readOnly = true
			case "rw":
			default:
				return nil, fmt.Errorf("volume %q: mode %q is not ro or rw", spec, parts[2])
			}
		}
		if !filepath.IsAbs(parts[0]) || !filepath.IsAbs(parts[1]) {
			return nil, fmt.Errorf("volume %q: both paths must be absolute, like -v /srv/data:/data", spec)
		}
		if v.container == "/" {
			return nil, fmt.Errorf("volume %q: cannot mount over the container's root /", spec)
		}
		if _, err := os.Stat(v.host); err != nil {
			return nil, fmt.Errorf("volume %q: host path %s does not exist; create it first", spec, v.host)
		}
		volumes = append(volumes, v)
	}
	return volumes, nil
}

// mountVolumes binds each volume into the rootfs, before pivot_root, while
// the host paths are still reachable.
func mountVolumes(rootfs string, volumes []volume) error {
	for _, v := range volumes {
		explain(featMount, "Bind the host's %s into the container at %s.", v.host, v.container)
		target, err := volumeTarget(rootfs, v)
		if err != nil {
			return err
		}
		if err := mount(v.host, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if v.readOnly {
			// A bind mount ignores MS_RDONLY on creation: read-only takes a
			// second call that remounts the bind.
			explain(featMount, "Remount it read-only, so writes inside fail with EROFS.")
			if err := mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// volumeTarget creates the mount point of v inside rootfs, refusing paths
// that cross a symlink: a rootfs could point one at the host's /etc.
func volumeTarget(rootfs string, v volume) (string, error) {
	target := rootfs
	for _, part := range strings.Split(strings.TrimPrefix(v.container, "/"), "/") {
		target = filepath.Join(target, part)
		info, err := os.Lstat(target)
		if err == nil && info.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("volume %s: %s is a symlink in the rootfs; choose another path", v, v.container)
		}
	}
	hostInfo, err := os.Stat(v.host)
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", v, err)
	}
	if hostInfo.IsDir() {
		if err := mkdirAll(target, 0o755); err != nil {
			return "", fmt.Errorf("volume %s: %w", v, err)
		}
		return target, nil
	}
	if err := mkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("volume %s: %w", v, err)
	}
	if err := createFile(target, 0o644); err != nil {
		return "", fmt.Errorf("volume %s: %w", v, err)
	}
	return target, nil
}
