package image

// shift.go gives layers to a user namespace. A container's root is root
// of its user namespace, which is host uid 100000 by default: to it, the
// files of a layer, owned by host uid 0, belong to nobody (65534), and it
// may not change them, not even through the overlay. So a container with a
// user namespace runs on copies of the layers whose owners are shifted
// into its id range, as docker's userns-remap does; the copies are made
// once per range and kept beside the layers. (Idmapped mounts, see
// mount_setattr(2), would do this without copies, but overlayfs accepts
// idmapped layers only from kernel 5.19, and not on an overlayfs store as
// inside docker.)

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"
)

// shiftedLayerDir is where the copy of a layer for the id range m lives.
func (s *Store) shiftedLayerDir(digest string, m state.IDMap) string {
	return filepath.Join(s.shiftedDir(), rangeName(m), strings.TrimPrefix(digest, "sha256:"))
}

// shiftedLayer makes the copy of a layer owned by the ids of m, if there
// is none yet. The caller holds the store's lock, shared.
func (s *Store) shiftedLayer(digest string, m state.IDMap) error {
	dst := s.shiftedLayerDir(digest, m)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	tmp, err := s.newTemp("shift")
	if err != nil {
		return err
	}
	narrate.Explain(narrate.User, "Copy layer %s with its owners shifted by %d, so root of the container's user namespace owns its files (once per id range; as docker's userns-remap).", ShortDigest(digest), m.HostID)
	if err := mkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	tree := sys.NewTree(tmp)
	err = copyShifted(tree, s.LayerDir(digest), tmp, func(id int) int { return shiftID(id, m) })
	tree.Done()
	if err != nil {
		_ = sys.RemoveAll(tmp)
		return fmt.Errorf("shift layer %s: %w", ShortDigest(digest), err)
	}
	if err := sys.Rename(tmp, dst); err != nil {
		_ = sys.RemoveAll(tmp)
		if _, statErr := os.Stat(dst); statErr == nil {
			return nil // another runtime made the same copy meanwhile
		}
		return fmt.Errorf("store shifted layer %s: %w", dst, err)
	}
	return nil
}

// shiftID maps a container id to the host: ids inside the range move up
// by HostID; an id past the range stays, and shows as nobody inside.
func shiftID(id int, m state.IDMap) int {
	if id >= 0 && uint64(id) < uint64(m.Size) {
		return id + int(m.HostID)
	}
	return id
}

// unshiftID maps a host id back into the container: the reverse of
// shiftID. Ids outside the range (0 for what the runtime made from the
// host side) stay as they are.
func unshiftID(id int, m state.IDMap) int {
	if id >= 0 && m.Contains(uint32(id)) {
		return id - int(m.HostID)
	}
	return id
}

// copyShifted copies the tree src to the new directory dst, with every
// owner passed through shift: files, directories, symlinks, hard links
// (kept as links), device nodes and whiteouts, modes, times and extended
// attributes. Nothing is followed through a symlink. The calls are made
// through tree, which counts them.
func copyShifted(tree *sys.Tree, src, dst string, shift func(int) int) error {
	links := map[uint64]string{} // inode of a file with several links -> its first copy
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if !info.IsDir() && st.Nlink > 1 {
			if first, ok := links[st.Ino]; ok {
				return tree.Link(first, target)
			}
			links[st.Ino] = target
		}
		if err := copyEntry(tree, p, target, info, st); err != nil {
			return err
		}
		if err := tree.Lchown(target, shift(int(st.Uid)), shift(int(st.Gid))); err != nil {
			return err
		}
		if err := copyXattrs(tree, p, target); err != nil {
			return err
		}
		if info.IsDir() {
			dirs = append(dirs, p) // mode and times last: filling a dir changes them
			return nil
		}
		return finishCopy(tree, target, info)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		rel, _ := filepath.Rel(src, dirs[i])
		info, err := os.Lstat(dirs[i])
		if err != nil {
			return err
		}
		if err := finishCopy(tree, filepath.Join(dst, rel), info); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry makes at target a copy of the entry at p, without its owner.
func copyEntry(tree *sys.Tree, p, target string, info fs.FileInfo, st *syscall.Stat_t) error {
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return tree.Mkdir(target, 0o700)
	case mode.IsRegular():
		return copyFile(tree, p, target)
	case mode&fs.ModeSymlink != 0:
		link, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return tree.Symlink(link, target)
	case mode&(fs.ModeDevice|fs.ModeNamedPipe) != 0:
		kind := uint32(syscall.S_IFIFO)
		if mode&fs.ModeCharDevice != 0 {
			kind = syscall.S_IFCHR
		} else if mode&fs.ModeDevice != 0 {
			kind = syscall.S_IFBLK
		}
		rdev := uint64(st.Rdev)
		major := uint32((rdev>>8)&0xfff) | uint32((rdev>>32)&^0xfff)
		minor := uint32(rdev&0xff) | uint32((rdev>>12)&^0xff)
		return tree.Mknod(target, kind, major, minor)
	}
	return nil // a socket: nothing to copy
}

// copyFile copies a regular file's content; io.Copy between two files
// uses copy_file_range(2), which a filesystem like xfs or btrfs turns into
// a shared extent instead of a copy.
func copyFile(tree *sys.Tree, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := tree.Create(dst, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", dst, err)
	}
	return nil
}

// copyXattrs copies the extended attributes of p to target: opaque
// markers, file capabilities.
func copyXattrs(tree *sys.Tree, p, target string) error {
	names, err := sys.Llistxattr(p)
	if err != nil {
		return err
	}
	for _, name := range names {
		v, err := sys.Lgetxattr(p, name)
		if err != nil {
			return err
		}
		if err := tree.Lsetxattr(target, name, v); err != nil {
			return err
		}
	}
	return nil
}

// finishCopy gives target the mode (after chown, which clears setuid)
// and the modification time of the original.
func finishCopy(tree *sys.Tree, target string, info fs.FileInfo) error {
	if info.Mode()&fs.ModeSymlink == 0 {
		if err := tree.Chmod(target, unixMode(info.Mode())); err != nil {
			return err
		}
	}
	return tree.Lutimes(target, info.ModTime())
}

// unixMode is the permission, setuid, setgid and sticky bits of m as
// chmod(2) takes them.
func unixMode(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		mode |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		mode |= syscall.S_ISVTX
	}
	return mode
}
