package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// mountOption is one of mount(8)'s options as config.json writes them:
// a flag to set, or with clear, one to clear.
type mountOption struct {
	flag  uintptr
	clear bool
}

// mountOptions are the options runc accepts as flags; any other option is
// passed to the filesystem as data (mode=755, size=65536k, ...).
var mountOptions = map[string]mountOption{
	"async": {unix.MS_SYNCHRONOUS, true}, "atime": {unix.MS_NOATIME, true},
	"bind": {unix.MS_BIND, false}, "defaults": {0, false}, "dev": {unix.MS_NODEV, true},
	"diratime": {unix.MS_NODIRATIME, true}, "dirsync": {unix.MS_DIRSYNC, false},
	"exec": {unix.MS_NOEXEC, true}, "iversion": {unix.MS_I_VERSION, false},
	"lazytime": {unix.MS_LAZYTIME, false}, "loud": {unix.MS_SILENT, true},
	"mand": {unix.MS_MANDLOCK, false}, "noatime": {unix.MS_NOATIME, false},
	"nodev": {unix.MS_NODEV, false}, "nodiratime": {unix.MS_NODIRATIME, false},
	"noexec": {unix.MS_NOEXEC, false}, "noiversion": {unix.MS_I_VERSION, true},
	"nolazytime": {unix.MS_LAZYTIME, true}, "nomand": {unix.MS_MANDLOCK, true},
	"norelatime": {unix.MS_RELATIME, true}, "nostrictatime": {unix.MS_STRICTATIME, true},
	"nosuid": {unix.MS_NOSUID, false}, "rbind": {unix.MS_BIND | unix.MS_REC, false},
	"relatime": {unix.MS_RELATIME, false}, "remount": {unix.MS_REMOUNT, false},
	"ro": {unix.MS_RDONLY, false}, "rw": {unix.MS_RDONLY, true}, "silent": {unix.MS_SILENT, false},
	"strictatime": {unix.MS_STRICTATIME, false}, "suid": {unix.MS_NOSUID, true},
	"sync": {unix.MS_SYNCHRONOUS, false},
}

// propagationOptions change a mount's propagation after it is made.
var propagationOptions = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions splits options into flags, propagation changes and
// the filesystem's data.
func parseMountOptions(options []string) (flags uintptr, propagation []uintptr, data string) {
	var rest []string
	for _, o := range options {
		if p, ok := propagationOptions[o]; ok {
			propagation = append(propagation, p)
			continue
		}
		if m, ok := mountOptions[o]; ok {
			if m.clear {
				flags &^= m.flag
			} else {
				flags |= m.flag
			}
			continue
		}
		if strings.HasPrefix(o, "tmpcopyup") || o == "idmap" || o == "ridmap" || strings.HasPrefix(o, "x-") {
			continue // runc's own options, or user-space ones
		}
		rest = append(rest, o)
	}
	return flags, propagation, strings.Join(rest, ",")
}

// inRoot resolves dest inside root as if root were "/": symlinks on the
// way are followed but never lead out (a link to /etc points to
// root/etc), so a hostile image cannot make a mount land on the host.
func inRoot(root, dest string) (string, error) {
	parts := strings.Split(filepath.Clean("/"+dest), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		if p == "" || p == "." {
			continue
		}
		if p == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, p)
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			cur = next // not a link, or not there yet
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("mount destination %s: too many symlinks", dest)
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, cur), nil
}

// mountAll makes config.json's mounts below rootfs, in order.
func mountAll(rootfs string, mounts []oci.Mount, cgroupDirs []string, newUser bool) error {
	for _, m := range mounts {
		if err := mountOne(rootfs, m, cgroupDirs, newUser); err != nil {
			return err
		}
	}
	return nil
}

// mountOne makes one mount: its mount point first (a file for a file's
// bind), then the mount, then its propagation.
func mountOne(rootfs string, m oci.Mount, cgroupDirs []string, newUser bool) error {
	target, err := inRoot(rootfs, m.Destination)
	if err != nil {
		return err
	}
	flags, propagation, data := parseMountOptions(m.Options)
	typ := m.Type
	if typ == "bind" || typ == "" || typ == "none" {
		typ = ""
		flags |= unix.MS_BIND
	}
	isBind := flags&unix.MS_BIND != 0
	if typ == "cgroup" {
		return mountCgroup(target, flags, cgroupDirs, newUser)
	}
	source := m.Source
	if isBind {
		if !filepath.IsAbs(source) {
			source = filepath.Join(filepath.Dir(rootfs), source)
		}
		info, err := os.Stat(source)
		if err != nil {
			return fmt.Errorf("mount %s on %s: source: %w", m.Source, m.Destination, err)
		}
		if err := makeMountPoint(target, info.IsDir()); err != nil {
			return err
		}
	} else if err := makeMountPoint(target, true); err != nil {
		return err
	}
	if typ == "mqueue" || typ == "sysfs" {
		// A new sysfs or mqueue needs the namespace it shows; in a user
		// namespace the kernel refuses it (EPERM) unless that namespace owns
		// the network or IPC one: bind the host's, as runc does.
		if err := sys.Mount(source, target, typ, flags&^unix.MS_RDONLY, data); err != nil && newUser && errors.Is(err, unix.EPERM) {
			narrate.Explain(narrate.Mount, "The kernel refuses a new %s here (EPERM): bind the host's instead.", typ)
			if err := sys.Mount("/"+strings.TrimPrefix(m.Destination, "/"), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	} else if err := sys.Mount(source, target, typ, flags&^unix.MS_RDONLY|rdonlyUnlessBind(flags), data); err != nil {
		return err
	}
	// A bind ignores every flag but MS_REC on the first call: read-only,
	// nosuid and the rest take a remount of the bind.
	if isBind || typ == "mqueue" || typ == "sysfs" {
		extra := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
		if extra != 0 {
			if err := sys.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|extra|lockedFlags(target), ""); err != nil {
				return err
			}
		}
	}
	for _, p := range propagation {
		if err := sys.Mount("", target, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// rdonlyUnlessBind keeps MS_RDONLY for a new filesystem (a bind takes it
// at the remount).
func rdonlyUnlessBind(flags uintptr) uintptr {
	if flags&unix.MS_BIND != 0 {
		return 0
	}
	return flags & unix.MS_RDONLY
}

// lockedFlags are the flags of the mount at target that a remount in a
// user namespace must keep (the kernel refuses to clear them: EPERM).
func lockedFlags(target string) uintptr {
	var st unix.Statfs_t
	if unix.Statfs(target, &st) != nil {
		return 0
	}
	var f uintptr
	for _, m := range []struct {
		st   int64
		flag uintptr
	}{{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_RELATIME, unix.MS_RELATIME}} {
		if st.Flags&m.st != 0 {
			f |= m.flag
		}
	}
	return f
}

// makeMountPoint makes target, a directory or an empty file, if missing.
func makeMountPoint(target string, dir bool) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	if err := mkdirs(filepath.Dir(target)); err != nil {
		return err
	}
	if dir {
		return sys.Mkdir(target, 0o755)
	}
	return sys.CreateFile(target, 0o644)
}

// mkdirs makes dir and its missing parents.
func mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := sys.Mkdir(dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// mountCgroup gives the container its cgroups at target: in v2 a new
// cgroup2 mount (the container's cgroup namespace makes its cgroup the
// root); in v1 a tmpfs holding each hierarchy's container directory,
// bound under its controllers' name.
func mountCgroup(target string, flags uintptr, cgroupDirs []string, newUser bool) error {
	if err := makeMountPoint(target, true); err != nil {
		return err
	}
	ro := flags & unix.MS_RDONLY
	base := flags &^ (unix.MS_RDONLY | unix.MS_BIND | unix.MS_REC)
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		narrate.Explain(narrate.Cgroup, "Mount cgroup2 at %s: in the container's cgroup namespace its root is the container's cgroup.", target)
		err := sys.Mount("cgroup2", target, "cgroup2", base|ro, "")
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
			if len(cgroupDirs) == 0 {
				return err
			}
			return sys.Mount(cgroupDirs[0], target, "", unix.MS_BIND|unix.MS_REC, "")
		}
		return err
	}
	narrate.Explain(narrate.Cgroup, "cgroup v1: a tmpfs at %s, and in it each hierarchy's directory of the container, bound.", target)
	if err := sys.Mount("tmpfs", target, "tmpfs", base, "mode=755"); err != nil {
		return err
	}
	for _, dir := range cgroupDirs {
		// /sys/fs/cgroup/memory/libpod_parent/x: the hierarchy is "memory".
		rel := strings.TrimPrefix(dir, "/sys/fs/cgroup/")
		name, _, _ := strings.Cut(rel, "/")
		sub := filepath.Join(target, name)
		if err := sys.Mkdir(sub, 0o755); err != nil {
			return err
		}
		if err := sys.Mount(dir, sub, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := sys.Mount("", sub, "", unix.MS_BIND|unix.MS_REMOUNT|base|ro|lockedFlags(sub), ""); err != nil {
			return err
		}
		// cpu,cpuacct and the like: a link for each controller's own name.
		if strings.Contains(name, ",") {
			for _, c := range strings.Split(name, ",") {
				_ = sys.Symlink(name, filepath.Join(target, c))
			}
		}
	}
	if ro != 0 {
		return sys.Mount("", target, "", unix.MS_REMOUNT|base|ro, "mode=755")
	}
	return nil
}

// MountOptionNames lists the mount options config.json may use, sorted.
func MountOptionNames() []string {
	var names []string
	for o := range mountOptions {
		names = append(names, o)
	}
	for o := range propagationOptions {
		names = append(names, o)
	}
	sort.Strings(names)
	return names
}
