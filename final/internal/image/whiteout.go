package image

// whiteout.go translates between the two ways of saying "deleted by this
// layer". An OCI layer tar (image-spec layer.md) holds a file ".wh.NAME"
// for a NAME of the layers below that is gone, and ".wh..wh..opq" in a
// directory that replaces, rather than merges with, the same directory
// below. Overlayfs (Documentation/filesystems/overlayfs.rst) reads a
// character device with device number 0/0 as a whiteout, and the xattr
// trusted.overlay.opaque="y" on a directory as opaque.

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"box/final/internal/sys"
)

const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	opaqueMarker       = ".wh..wh..opq"
	opaqueXattr        = "trusted.overlay.opaque"
)

// entryKind is what a tar entry means to a layer.
type entryKind int

const (
	entryFile     entryKind = iota // an ordinary file, directory or link
	entryWhiteout                  // deletes a path of the layers below
	entryOpaque                    // hides a directory's contents below
	entryMeta                      // other .wh..wh. names (aufs internals): ignored
)

func (k entryKind) String() string {
	return [...]string{"file", "whiteout", "opaque", "meta"}[k]
}

// classifyEntry tells what the cleaned entry name means, and the path it
// applies to: the deleted path for a whiteout, the directory for an
// opaque marker, the name itself otherwise.
func classifyEntry(name string) (entryKind, string, error) {
	dir, base := path.Split(name)
	switch {
	case base == opaqueMarker:
		return entryOpaque, path.Clean(dir), nil
	case strings.HasPrefix(base, whiteoutMetaPrefix):
		return entryMeta, name, nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return 0, "", fmt.Errorf("tar entry %q: a whiteout must name a file", name)
		}
		return entryWhiteout, path.Join(dir, target), nil
	}
	return entryFile, name, nil
}

// whiteoutName is the OCI name that deletes name: dir/.wh.base.
func whiteoutName(name string) string {
	dir, base := path.Split(name)
	return dir + whiteoutPrefix + base
}

// opaqueName is the OCI marker that makes dir opaque.
func opaqueName(dir string) string {
	return path.Join(dir, opaqueMarker)
}

// makeWhiteout makes the overlayfs whiteout at p: a character device 0/0.
func makeWhiteout(p string) error {
	err := sys.Mknod(p, syscall.S_IFCHR, 0, 0)
	if errors.Is(err, syscall.EPERM) && onOverlayfs(p) {
		return fmt.Errorf("%w: this store is on overlayfs, which lets no one create whiteouts in it; put --store on another filesystem (a volume, a tmpfs)", err)
	}
	return err
}

// makeOpaque marks the directory p opaque for overlayfs.
func makeOpaque(p string) error {
	err := sys.Lsetxattr(p, opaqueXattr, []byte("y"))
	if errors.Is(err, syscall.EPERM) && onOverlayfs(p) {
		return fmt.Errorf("%w: this store is on overlayfs, which keeps trusted.overlay.* to itself; put --store on another filesystem (a volume, a tmpfs)", err)
	}
	return err
}

// onOverlayfs tells whether the directory holding p is on overlayfs.
func onOverlayfs(p string) bool {
	magic, err := sys.Statfs(path.Dir(p))
	return err == nil && magic == sys.OverlayfsMagic
}

// IsWhiteout tells an overlayfs whiteout: a character device 0/0.
func IsWhiteout(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// IsOpaque tells whether the directory p carries overlayfs's opaque xattr.
func IsOpaque(p string) bool {
	v, err := sys.Lgetxattr(p, opaqueXattr)
	return err == nil && string(v) == "y"
}
