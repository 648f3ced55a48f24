package image

// layertar.go writes layer tars: from a container's upper dir, for a RUN
// step of build, translating overlayfs whiteouts back into OCI ones, and
// from files of the build context, for COPY. The tars are reproducible:
// entries in path order, owners as numbers only, and every time set to
// the Unix epoch (what SOURCE_DATE_EPOCH=0 asks of other builders), so the
// same step on the same files makes the same layer, digest and all.

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"
)

// epoch is the time of every entry of a layer build writes.
var epoch = time.Unix(0, 0)

// layerWriter writes one layer tar.
type layerWriter struct {
	tw    *tar.Writer
	ids   func(int) int          // an owner on disk -> the owner in the layer
	links map[uint64]string      // inode of a file with several links -> its first name
	dirs  map[string]bool        // directory entries written, by name
	attrs func(string) *dirAttrs // the attributes a parent dir already has, or nil
}

// dirAttrs are the owner and mode a directory entry is written with.
type dirAttrs struct {
	mode     fs.FileMode
	uid, gid int
}

func newLayerWriter(w io.Writer, ids func(int) int) *layerWriter {
	if ids == nil {
		ids = func(id int) int { return id }
	}
	return &layerWriter{tw: tar.NewWriter(w), ids: ids, links: map[uint64]string{}, dirs: map[string]bool{}}
}

// Close writes the tar's end.
func (w *layerWriter) Close() error { return w.tw.Close() }

// addUpper adds a container's upper dir: its files as they are, its
// whiteouts as .wh.NAME and its opaque dirs with a .wh..wh..opq marker.
func (w *layerWriter) addUpper(upper string) error {
	return filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		name := filepath.ToSlash(strings.TrimPrefix(p, upper+"/"))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if IsWhiteout(info) {
			return w.marker(whiteoutName(name))
		}
		if err := w.addEntry(p, name, info); err != nil {
			return err
		}
		if d.IsDir() && IsOpaque(p) {
			return w.marker(opaqueName(name))
		}
		return nil
	})
}

// addTree adds the file or tree at src under the name dst, with parent
// directories as needed, for COPY and ADD: owned by root, as docker's
// COPY makes them. Symlinks in the tree are copied as symlinks.
func (w *layerWriter) addTree(src, dst string) error {
	if err := w.parents(dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name := dst
		if p != src {
			name = path.Join(dst, filepath.ToSlash(strings.TrimPrefix(p, src+"/")))
		}
		return w.addEntry(p, name, info)
	})
}

// parents writes the directories above name that are not written yet,
// with the attributes they have in the image below, if any.
func (w *layerWriter) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || dir == "/" || w.dirs[dir] {
		return nil
	}
	if err := w.parents(dir); err != nil {
		return err
	}
	a := &dirAttrs{mode: 0o755}
	if w.attrs != nil {
		if found := w.attrs(dir); found != nil {
			a = found
		}
	}
	w.dirs[dir] = true
	return w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: tarMode(a.mode | fs.ModeDir),
		Uid: a.uid, Gid: a.gid, ModTime: epoch})
}

// addEntry writes the entry at p under name.
func (w *layerWriter) addEntry(p, name string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", p)
	}
	hdr := &tar.Header{Name: name, Mode: tarMode(info.Mode()), ModTime: epoch,
		Uid: w.ids(int(st.Uid)), Gid: w.ids(int(st.Gid))}
	if w.dirs[name] && info.IsDir() {
		return nil // a parent written already
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		w.dirs[name] = true
	case mode.IsRegular():
		if st.Nlink > 1 {
			if first, ok := w.links[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return w.tw.WriteHeader(hdr)
			}
			w.links[st.Ino] = name
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
	case mode&fs.ModeSymlink != 0:
		link, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, link
	case mode&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case mode&fs.ModeDevice != 0:
		hdr.Typeflag = tar.TypeBlock
		if mode&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		rdev := uint64(st.Rdev)
		hdr.Devmajor = int64((rdev>>8)&0xfff | (rdev>>32)&^0xfff)
		hdr.Devminor = int64(rdev&0xff | (rdev>>12)&^0xff)
	default:
		return nil // a socket belongs to a running program, not to an image
	}
	if err := w.xattrs(p, hdr); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(w.tw, f, hdr.Size); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// xattrs records the extended attributes worth keeping as PAX records:
// not overlayfs's own (trusted.overlay.*), which describe this upper dir
// and nothing else.
func (w *layerWriter) xattrs(p string, hdr *tar.Header) error {
	names, err := sys.Llistxattr(p)
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, "trusted.") {
			continue
		}
		v, err := sys.Lgetxattr(p, n)
		if err != nil {
			return err
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+n] = string(v)
	}
	return nil
}

// marker writes an empty whiteout or opaque marker.
func (w *layerWriter) marker(name string) error {
	return w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0, ModTime: epoch})
}

// tarMode is a file mode as tar keeps it: permission bits with the
// setuid, setgid and sticky bits in their Unix places.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// LayerFromUpper stores a container's upper dir as a layer: its files
// with their owners given back to the container's ids (m is its user
// namespace's map, or nil), its whiteouts and opaque dirs in OCI form. The
// caller holds the store's lock, shared, as a build does.
func (s *Store) LayerFromUpper(upper string, m *state.IDMap, what string) (Layer, bool, error) {
	tmp, err := s.newTemp("upper")
	if err != nil {
		return Layer{}, false, err
	}
	narrate.Explain(narrate.Layers, "Write what the container changed, its upper dir %s, as a layer tar in %s (owners given back to the container's ids, whiteouts in OCI form).", upper, tmp)
	f, err := sys.CreateNew(tmp, 0o600)
	if err != nil {
		return Layer{}, false, err
	}
	defer func() { f.Close(); _ = sys.Unlink(tmp) }()
	ids := func(id int) int { return id }
	if m != nil {
		ids = func(id int) int { return unshiftID(id, *m) }
	}
	w := newLayerWriter(f, ids)
	if err := w.addUpper(upper); err != nil {
		return Layer{}, false, fmt.Errorf("write the layer of %s: %w", what, err)
	}
	if err := w.Close(); err != nil {
		return Layer{}, false, fmt.Errorf("write the layer of %s: %w", what, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Layer{}, false, err
	}
	return s.AddLayer(f, "", "the layer of "+what)
}
