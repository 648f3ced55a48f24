package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// defaultNodes are the device nodes every container's /dev has, as in
// runc: the spec's linux.devices come on top.
var defaultNodes = []oci.Device{
	{Type: "c", Path: "/dev/null", Major: 1, Minor: 3}, {Type: "c", Path: "/dev/zero", Major: 1, Minor: 5},
	{Type: "c", Path: "/dev/full", Major: 1, Minor: 7}, {Type: "c", Path: "/dev/random", Major: 1, Minor: 8},
	{Type: "c", Path: "/dev/urandom", Major: 1, Minor: 9}, {Type: "c", Path: "/dev/tty", Major: 5, Minor: 0},
}

// devLinks are the usual /dev symlinks.
var devLinks = [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}

// makeDevices makes the container's device nodes in rootfs/dev: with
// mknod as root of the host, or in a user namespace (where mknod is
// refused) as binds of the host's nodes. A /dev bound from the host is
// left alone.
func makeDevices(rootfs string, devices []oci.Device, mounts []oci.Mount, newUser bool) error {
	for _, m := range mounts {
		if m.Destination == "/dev" && (m.Type == "bind" || containsString(m.Options, "bind") || containsString(m.Options, "rbind")) {
			return nil
		}
	}
	all := append(append([]oci.Device(nil), defaultNodes...), devices...)
	if newUser {
		narrate.Explain(narrate.Security, "Bind the host's device nodes into /dev: mknod is refused in a user namespace.")
	} else {
		narrate.Explain(narrate.Security, "Make the device nodes in /dev with mknod: the defaults, then linux.devices.")
	}
	for _, d := range all {
		target, err := inRoot(rootfs, d.Path)
		if err != nil {
			return err
		}
		if err := mkdirs(filepath.Dir(target)); err != nil {
			return err
		}
		if newUser {
			if err := makeMountPoint(target, false); err != nil {
				return err
			}
			if err := sys.Mount(d.Path, target, "", unix.MS_BIND, ""); err != nil {
				return err
			}
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = *d.FileMode & 0o7777
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("device %s: type %q, want c, b, u or p", d.Path, d.Type)
		}
		if err := removeExisting(target); err != nil {
			return fmt.Errorf("replace %s: %w", target, err)
		}
		if err := sys.Mknod(target, mode, uint32(d.Major), uint32(d.Minor)); err != nil {
			return err
		}
		uid, gid := -1, -1
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if uid >= 0 || gid >= 0 {
			if err := sys.Lchown(target, uid, gid); err != nil {
				return err
			}
		}
		// mknod applies the umask: set the mode the spec says.
		if err := sys.Chmod(target, mode&0o777); err != nil {
			return err
		}
	}
	dev := filepath.Join(rootfs, "dev")
	for _, l := range devLinks {
		if _, err := os.Lstat(filepath.Join(dev, l[1])); err == nil {
			continue
		}
		if err := sys.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dev, "pts", "ptmx")); err == nil {
		ptmx := filepath.Join(dev, "ptmx")
		if err := removeExisting(ptmx); err != nil {
			return fmt.Errorf("replace %s: %w", ptmx, err)
		}
		if err := sys.Symlink("pts/ptmx", ptmx); err != nil {
			return err
		}
	}
	return nil
}

// containsString tells whether list holds s.
func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// removeExisting removes what the image has at path (a file, a link, an
// empty directory) so a device node can take its place; nothing there is
// fine and makes no call.
func removeExisting(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.IsDir() {
		return sys.Rmdir(path)
	}
	return sys.Unlink(path)
}
