package image

// tarextract.go unpacks a layer tar into a directory of the store and
// never writes outside it, whatever the archive says: names that are
// absolute or climb out with "..", entries that would be written through a
// symlink an earlier entry made, and hard links to files outside are
// refused. A layer made by an image builder has none of these; an archive
// that does is broken or hostile.

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"box/final/internal/sys"
)

// extractor unpacks one layer below root, through tree, which counts the
// calls.
type extractor struct {
	root string
	tree *sys.Tree
	dirs []*tar.Header // modes, owners and times are set last: see finishDirs
}

func newExtractor(root string) *extractor { return &extractor{root: root, tree: sys.NewTree(root)} }

// extractLayer extracts every entry of the layer tar r.
func (x *extractor) extractLayer(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not a tar archive, or a damaged one (%w)", err)
		}
		if err := x.apply(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

// entryPath cleans a tar entry's name and refuses names that would land
// outside the layer: absolute ones, and ones whose ".." climb above it.
func entryPath(name string) (string, error) {
	if path.IsAbs(name) {
		return "", fmt.Errorf("tar entry %q is an absolute path, which would escape the layer", name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("tar entry %q climbs out of the layer with ..", name)
	}
	return clean, nil
}

// apply writes one entry: a whiteout, an opaque marker, or a file.
func (x *extractor) apply(hdr *tar.Header, r io.Reader) error {
	name, err := entryPath(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the layer's root, which exists
	}
	kind, target, err := classifyEntry(name)
	if err != nil {
		return err
	}
	if err := checkParents(x.root, name); err != nil {
		return err
	}
	switch kind {
	case entryWhiteout:
		return x.whiteout(target)
	case entryOpaque:
		return x.opaque(target)
	case entryMeta:
		return nil
	}
	p := filepath.Join(x.root, name)
	if err := x.tree.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.makeDir(p, hdr)
	case tar.TypeReg:
		err = x.writeFile(p, r)
	case tar.TypeSymlink:
		err = x.symlink(p, hdr)
	case tar.TypeLink:
		return x.hardlink(p, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = x.mknod(p, hdr)
	default:
		return nil // pax and GNU extension records carry no file
	}
	if err != nil {
		return err
	}
	return x.setAttrs(p, hdr)
}

// whiteout records that target, a path of the layers below, is deleted.
func (x *extractor) whiteout(target string) error {
	p := filepath.Join(x.root, target)
	if err := x.tree.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := x.tree.RemoveAll(p); err != nil {
		return fmt.Errorf("replace %s: %w", p, err)
	}
	return makeWhiteout(p)
}

// opaque marks dir opaque: it hides the same dir of the layers below.
func (x *extractor) opaque(dir string) error {
	p := filepath.Join(x.root, dir)
	if info, err := os.Lstat(p); err == nil && !info.IsDir() {
		return fmt.Errorf("tar entry %s: an opaque marker inside something that is not a directory", opaqueName(dir))
	}
	if err := x.tree.MkdirAll(p, 0o755); err != nil {
		return err
	}
	return makeOpaque(p)
}

// checkParents fails if a directory on the way to name below root is a
// symlink, so that creating name cannot land outside root. Missing
// directories are fine: whoever creates name creates them as directories.
func checkParents(root, name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	p := root
	for _, part := range strings.Split(dir, "/") {
		p = filepath.Join(p, part)
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lstat %s: %w", p, err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			rel, _ := filepath.Rel(root, p)
			return fmt.Errorf("tar entry %s: %s is a symlink; refusing to write through it", name, rel)
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(root, p)
			return fmt.Errorf("tar entry %s: %s is not a directory", name, rel)
		}
	}
	return nil
}

// removeEntry removes what is at p, so an entry can be created in its
// place without following a symlink that was there. A directory stays if
// keepDir.
func (x *extractor) removeEntry(p string, keepDir bool) error {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && info.IsDir() && keepDir) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lstat %s: %w", p, err)
	}
	if err := x.tree.RemoveAll(p); err != nil {
		return fmt.Errorf("replace %s: %w", p, err)
	}
	return nil
}

// makeDir creates a directory, or keeps one already there; its mode,
// owner and time wait for finishDirs.
func (x *extractor) makeDir(p string, hdr *tar.Header) error {
	if err := x.removeEntry(p, true); err != nil {
		return err
	}
	if info, err := os.Lstat(p); err == nil && info.IsDir() {
		x.dirs = append(x.dirs, hdr) // made already, as a parent of an earlier entry
		return nil
	}
	if err := x.tree.Mkdir(p, 0o755); err != nil {
		return err
	}
	x.dirs = append(x.dirs, hdr)
	return nil
}

// writeFile creates a new file: O_EXCL and O_NOFOLLOW make sure it is a
// new file at p and not the target of a link.
func (x *extractor) writeFile(p string, r io.Reader) error {
	if err := x.removeEntry(p, false); err != nil {
		return err
	}
	f, err := x.tree.Create(p, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// symlink creates a symlink. Its target may be anything, even absolute:
// it is resolved inside the container, and never followed here.
func (x *extractor) symlink(p string, hdr *tar.Header) error {
	if err := x.removeEntry(p, false); err != nil {
		return err
	}
	return x.tree.Symlink(hdr.Linkname, p)
}

// hardlink links p to an earlier entry, which must be inside the layer and
// not reached through a symlink. link(2) does not follow a symlink at the
// target itself: it links the symlink.
func (x *extractor) hardlink(p string, hdr *tar.Header) error {
	target, err := entryPath(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link %s: its target is outside the layer: %w", hdr.Name, err)
	}
	if err := checkParents(x.root, target); err != nil {
		return fmt.Errorf("hard link %s: %w", hdr.Name, err)
	}
	if err := x.removeEntry(p, false); err != nil {
		return err
	}
	if err := x.tree.Link(filepath.Join(x.root, target), p); err != nil {
		return fmt.Errorf("hard link %s: %w", hdr.Name, err)
	}
	return nil
}

// mknod creates a device node or a fifo. Containers cannot open device
// nodes of their image (their root is mounted nodev), but a layer keeps
// what its tar holds.
func (x *extractor) mknod(p string, hdr *tar.Header) error {
	if err := x.removeEntry(p, false); err != nil {
		return err
	}
	kind := map[byte]uint32{tar.TypeChar: syscall.S_IFCHR, tar.TypeBlock: syscall.S_IFBLK, tar.TypeFifo: syscall.S_IFIFO}[hdr.Typeflag]
	if kind == syscall.S_IFCHR && hdr.Devmajor == 0 && hdr.Devminor == 0 {
		// In a layer, 0/0 is a whiteout: OCI says so with a .wh. name, and
		// a device of that number would delete the file below.
		return fmt.Errorf("tar entry %s is a character device 0/0, which overlayfs reads as a whiteout; image layers mark deletions with .wh. names", hdr.Name)
	}
	return x.tree.Mknod(p, kind|uint32(hdr.Mode&0o7777), uint32(hdr.Devmajor), uint32(hdr.Devminor))
}

// setAttrs gives p the owner, mode, extended attributes and time of hdr.
// The owner comes first: chown(2) clears the setuid bit and file
// capabilities. Nothing here follows a symlink.
func (x *extractor) setAttrs(p string, hdr *tar.Header) error {
	if err := x.tree.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := x.tree.Chmod(p, unixMode(hdr.FileInfo().Mode())); err != nil {
			return err
		}
	}
	if err := setXattrs(x.tree, p, hdr); err != nil {
		return err
	}
	if hdr.ModTime.IsZero() {
		return nil
	}
	return x.tree.Lutimes(p, hdr.ModTime)
}

// setXattrs sets the extended attributes a tar carries as PAX records
// (file capabilities, say). An image says "opaque" with .wh..wh..opq;
// overlayfs's own xattrs in a tar could redirect its lookups, so they are
// not taken.
func setXattrs(tree *sys.Tree, p string, hdr *tar.Header) error {
	var names []string
	for key := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		if ok && !strings.HasPrefix(attr, "trusted.overlay.") {
			names = append(names, attr)
		}
	}
	sort.Strings(names)
	for _, attr := range names {
		if err := tree.Lsetxattr(p, attr, []byte(hdr.PAXRecords["SCHILY.xattr."+attr])); err != nil {
			return err
		}
	}
	return nil
}

// finishDirs sets the attributes of directories last: adding entries to a
// directory changes its mtime, and a read-only one must be filled first.
// A directory replaced by a later entry is skipped.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		name, _ := entryPath(x.dirs[i].Name)
		if checkParents(x.root, name) != nil {
			continue
		}
		p := filepath.Join(x.root, name)
		if info, err := os.Lstat(p); err != nil || !info.IsDir() {
			continue
		}
		if err := x.setAttrs(p, x.dirs[i]); err != nil {
			return err
		}
	}
	return nil
}
