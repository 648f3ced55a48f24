package image

// copy.go makes the layers of ADD and COPY: the sources, found in the
// build context and never outside it, written as one layer tar at the
// destination, owned by root, with the parent directories they need. ADD
// unpacks a local tar archive instead of copying it.

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"box/final/internal/image/dockerfile"
	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// addFiles runs ADD or COPY: the sources become one layer at the
// destination. ADD unpacks a local tar archive instead of copying it.
func (b *Builder) addFiles(ins dockerfile.Instruction) error {
	srcs, dst := ins.Args[:len(ins.Args)-1], ins.Args[len(ins.Args)-1]
	toDir := strings.HasSuffix(dst, "/") || len(srcs) > 1
	dst = strings.TrimPrefix(b.resolve(dst), "/") // a name in the layer tar
	var files []string
	for _, src := range srcs {
		p, err := b.source(ins, src)
		if err != nil {
			return err
		}
		files = append(files, p)
	}
	if ins.Command == "ADD" && len(files) == 1 && dst == "" && isArchive(files[0]) {
		// One archive at /: the archive is the layer, as is, so ADD
		// rootfs.tar / makes the very layer import rootfs.tar makes.
		return b.addLayerFile(ins, files[0])
	}
	tmp, err := b.Store.newTemp("build")
	if err != nil {
		return err
	}
	narrate.Explain(narrate.Layers, "Write the files of %s as a layer tar in %s.", ins.Text, tmp)
	f, err := sys.CreateNew(tmp, 0o600)
	if err != nil {
		return err
	}
	defer func() { f.Close(); _ = sys.Unlink(tmp) }()
	w := newLayerWriter(f, func(int) int { return 0 })
	w.attrs = b.lowerDirAttrs
	for _, p := range files {
		if err := b.addSource(ins, w, p, dst, toDir); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	return b.addLayerFile(ins, tmp)
}

// addLayerFile stores the layer tar in file (plain or gzipped) as the
// step's layer.
func (b *Builder) addLayerFile(ins dockerfile.Instruction, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	l, isNew, err := b.Store.AddLayer(f, "", "the layer of "+ins.Text)
	if err != nil {
		return err
	}
	b.keep(l, isNew)
	b.record(ins, &l)
	return nil
}

// isArchive tells whether the file p is a tar archive, plain or gzipped.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return false
	}
	_, err = tar.NewReader(r).Next()
	return err == nil
}

// source finds a source of ADD or COPY in the build context: a relative
// path that, symlinks followed, stays inside the context.
func (b *Builder) source(ins dockerfile.Instruction, src string) (string, error) {
	if strings.Contains(src, "://") {
		return "", fmt.Errorf("Dockerfile line %d: %s %s: downloading needs the network; fetch it and %s the file", ins.Line, ins.Command, src, ins.Command)
	}
	if clean := path.Clean(src); clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("Dockerfile line %d: %s %s: it is outside the build context %s", ins.Line, ins.Command, src, b.Context)
	}
	if strings.ContainsAny(src, "*?[") {
		return "", fmt.Errorf("Dockerfile line %d: %s %s: wildcards are not supported; name the files", ins.Line, ins.Command, src)
	}
	ctx, err := filepath.EvalSymlinks(b.Context)
	if err != nil {
		return "", fmt.Errorf("build context %s: %w", b.Context, err)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(ctx, filepath.FromSlash(path.Clean("/"+src))))
	if err != nil {
		return "", fmt.Errorf("Dockerfile line %d: %s %s: not in the build context %s", ins.Line, ins.Command, src, b.Context)
	}
	if p != ctx && !strings.HasPrefix(p, ctx+"/") {
		return "", fmt.Errorf("Dockerfile line %d: %s %s: it leads outside the build context %s", ins.Line, ins.Command, src, b.Context)
	}
	return p, nil
}

// addSource writes one source to the layer: a directory's contents into
// dst, a file at dst (or into it, when dst is a directory), a tar archive
// of ADD unpacked into dst.
func (b *Builder) addSource(ins dockerfile.Instruction, w *layerWriter, p, dst string, toDir bool) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return w.addTree(p, strings.TrimSuffix(dst, "/"))
	}
	if ins.Command == "ADD" {
		unpacked, err := addArchive(w, p, dst)
		if unpacked || err != nil {
			return err
		}
	}
	name := dst
	if toDir || dst == "" {
		name = path.Join(dst, filepath.Base(p))
	}
	return w.addTree(p, name)
}

// addArchive writes the entries of the tar archive p below dst; unpacked
// is false when p is not a tar archive, to be copied as a file instead.
func addArchive(w *layerWriter, p, dst string) (unpacked bool, err error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return false, nil
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return false, nil // not a tar: ADD copies it
	}
	dst = strings.Trim(dst, "/")
	if dst != "" {
		if err := w.parents(dst + "/x"); err != nil {
			return true, err
		}
	}
	for {
		if err := addArchiveEntry(w, tr, hdr, p, dst); err != nil {
			return true, err
		}
		hdr, err = tr.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("%s: not a whole tar archive (%v)", p, err)
		}
	}
}

// addArchiveEntry writes one entry of an archive ADD unpacks, moved below
// dst; its name must stay inside, as in any layer.
func addArchiveEntry(w *layerWriter, tr *tar.Reader, hdr *tar.Header, p, dst string) error {
	name, err := entryPath(hdr.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	hdr.Name = path.Join(dst, name)
	if name == "." {
		hdr.Name = dst
	}
	if hdr.Name == "" {
		return nil // the archive's root: the image's root
	}
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	if hdr.Typeflag == tar.TypeLink {
		target, err := entryPath(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("%s: hard link %s: %w", p, hdr.Name, err)
		}
		hdr.Linkname = path.Join(dst, target)
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if _, err := io.Copy(w.tw, tr); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// lowerDirAttrs finds a directory in the image so far, top layer first,
// so that COPY's parent directories keep their owner and mode.
func (b *Builder) lowerDirAttrs(dir string) *dirAttrs {
	for i := len(b.img.Layers) - 1; i >= 0; i-- {
		info, err := os.Lstat(filepath.Join(b.Store.LayerDir(b.img.Layers[i].Digest), filepath.FromSlash(dir)))
		if err != nil {
			continue
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !info.IsDir() || !ok {
			return nil
		}
		return &dirAttrs{mode: info.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky), uid: int(st.Uid), gid: int(st.Gid)}
	}
	return nil
}
