package sys

// image.go holds the calls the image store makes beyond mounts: the device
// nodes and extended attributes overlayfs reads as whiteouts and opaque
// directories, the filesystem type that decides where an upper dir can
// live, and the file times a layer's files are given.

import (
	"errors"
	"fmt"
	"time"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// Filesystem magic numbers (statfs(2)) the image store tells apart.
const (
	OverlayfsMagic = unix.OVERLAYFS_SUPER_MAGIC
	TmpfsMagic     = unix.TMPFS_MAGIC
)

// magicNames names the f_type values of statfs(2) as strace prints them.
var magicNames = map[int64]string{
	unix.OVERLAYFS_SUPER_MAGIC: "OVERLAYFS_SUPER_MAGIC",
	unix.TMPFS_MAGIC:           "TMPFS_MAGIC",
	unix.EXT4_SUPER_MAGIC:      "EXT2_SUPER_MAGIC", // ext2, ext3 and ext4 share it
	unix.XFS_SUPER_MAGIC:       "XFS_SUPER_MAGIC",
	unix.BTRFS_SUPER_MAGIC:     "BTRFS_SUPER_MAGIC",
	unix.NFS_SUPER_MAGIC:       "NFS_SUPER_MAGIC",
	unix.FUSE_SUPER_MAGIC:      "FUSE_SUPER_MAGIC",
}

// MagicName is the C name of a filesystem magic number, or its hex value.
func MagicName(magic int64) string {
	if name, ok := magicNames[magic]; ok {
		return name
	}
	return fmt.Sprintf("%#x", magic)
}

// Statfs is statfs(2), narrated with the filesystem type it found, which
// is all the runtime asks of it.
func Statfs(path string) (magic int64, err error) {
	var st unix.Statfs_t
	c := fmt.Sprintf("statfs(%s", C(path))
	if r := recorder(); r != nil {
		var v int
		v, err = r.Record(c + ")")
		st.Type = int64(v)
	} else {
		err = unix.Statfs(path, &st)
	}
	if err == nil {
		c += fmt.Sprintf(", {f_type=%s, ...})", MagicName(st.Type))
	} else {
		c += ", 0x...)"
	}
	narrate.Line(c + " " + Result(0, err))
	if err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type, nil
}

// Mknod is mknod(2): a device node, a fifo, or, with a character device
// numbered 0/0, an overlayfs whiteout.
func Mknod(path string, mode uint32, major, minor uint32) error {
	c := fmt.Sprintf("mknod(%s, %s, makedev(%d, %d))", C(path), fileModeString(mode), major, minor)
	err := call(c, func() error { return unix.Mknod(path, mode, int(unix.Mkdev(major, minor))) })
	if err != nil {
		return fmt.Errorf("mknod %s: %w", path, err)
	}
	return nil
}

// fileModeString prints a mode as strace does: S_IFCHR|0644.
func fileModeString(mode uint32) string {
	kinds := []struct {
		bits uint32
		name string
	}{
		{unix.S_IFCHR, "S_IFCHR"}, {unix.S_IFBLK, "S_IFBLK"}, {unix.S_IFIFO, "S_IFIFO"},
		{unix.S_IFREG, "S_IFREG"}, {unix.S_IFSOCK, "S_IFSOCK"},
	}
	for _, k := range kinds {
		if mode&unix.S_IFMT == k.bits {
			// strace prints the permission bits even when there are none.
			return fmt.Sprintf("%s|%#03o", k.name, mode&^unix.S_IFMT)
		}
	}
	return fmt.Sprintf("%#o", mode)
}

// Lsetxattr is lsetxattr(2): it sets an extended attribute of path itself,
// never of what a symlink there points to.
func Lsetxattr(path, attr string, value []byte) error {
	c := fmt.Sprintf("lsetxattr(%s, %s, %s, %d, 0)", C(path), C(attr), C(string(value)), len(value))
	err := call(c, func() error { return unix.Lsetxattr(path, attr, value, 0) })
	if err != nil {
		return fmt.Errorf("set %s on %s: %w", attr, path, err)
	}
	return nil
}

// Lgetxattr reads an extended attribute of path itself. It only looks, so
// it is not narrated; a missing attribute is (nil, nil).
func Lgetxattr(path, attr string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, attr, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("get %s of %s: %w", attr, path, err)
		}
		return buf[:n], nil
	}
}

// Llistxattr lists the extended attributes of path itself. Not narrated:
// it only looks.
func Llistxattr(path string) ([]string, error) {
	size, err := unix.Llistxattr(path, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil || size == 0 {
		if err != nil {
			err = fmt.Errorf("list xattrs of %s: %w", path, err)
		}
		return nil, err
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	var names []string
	start := 0
	for i := 0; i < n; i++ {
		if buf[i] == 0 {
			if i > start {
				names = append(names, string(buf[start:i]))
			}
			start = i + 1
		}
	}
	return names, nil
}

// Lutimes sets the access and modification times of path itself, not of
// a symlink's target (utimensat(2) with AT_SYMLINK_NOFOLLOW). It is file
// bookkeeping, done for every file of a layer, so it is not narrated.
func Lutimes(path string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", path, err)
	}
	return nil
}
