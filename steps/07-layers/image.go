package main

// image.go keeps images without Docker. An image is a stack of read-only
// layers, each a tree of files named by its digest, the sha256 of its tar
// (docker's diff_id): images that share a layer share its files. A layer
// comes from a rootfs tarball (import) or a container's upper dir (run
// --commit), its files owned by the host ids of the user namespace that
// runs it, whose root may then copy them up.

import (
	"archive/tar"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// store is the directory that holds layers, images and containers:
//
//	STORE/layers/BASE/HEX  a layer, owned by the host ids from BASE on: the
//	                       user namespace whose root is host id BASE runs it
//	STORE/images/NAME      an image: its layers' digests, bottom first
//	STORE/containers/ID    a container's upper, work and merged dirs, or an
//	                       import in progress; locked by its runtime
type store struct {
	dir   string
	users userNamespace
}

// layerIDs is how many ids a layer's files may have, each its own host id.
const layerIDs = 65536

// openStore makes the store's dirs that are missing. A layer can hold
// setuid programs, which host users must not reach.
func openStore(dir string, users userNamespace) (store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return store{}, fmt.Errorf("store %s: %w", dir, err)
	}
	// In the overlay mount's options, "," and ":" separate.
	if strings.ContainsAny(abs, ",:\\") {
		return store{}, fmt.Errorf("store %s: overlay mount options cannot carry ',', ':' or '\\' in paths; choose another --store", abs)
	}
	if users.uids.size < layerIDs || users.gids.size < layerIDs {
		return store{}, fmt.Errorf("images need a --userns-map of at least %d ids, like 100000:%d: a layer's files may belong to any id up to %d", layerIDs, layerIDs, layerIDs-1)
	}
	s := store{dir: abs, users: users}
	if _, err := os.Stat(s.layersDir()); err == nil {
		return s, nil
	}
	explain(featLayers, "Make the store's dirs: the way to the layers and containers is open to every user (0711), images are root's (0700), and the layers for this user namespace are open to its root alone (group %d, 0710).", users.gids.start)
	for _, d := range []string{abs, filepath.Join(abs, "layers"), s.containersDir()} {
		if err := mkdirAll(d, 0o711); err != nil {
			return store{}, err
		}
	}
	if err := mkdirAll(s.imagesDir(), 0o700); err != nil {
		return store{}, err
	}
	if err := mkdir(s.layersDir(), 0o710); err != nil {
		return store{}, err
	}
	return s, chown(s.layersDir(), 0, int(users.gids.start))
}

// layersDir holds the layers given to the user namespace's ids.
func (s store) layersDir() string {
	return filepath.Join(s.dir, "layers", strconv.FormatUint(uint64(s.users.uids.start), 10))
}

func (s store) layerDir(digest string) string {
	return filepath.Join(s.layersDir(), strings.TrimPrefix(digest, "sha256:"))
}
func (s store) imagesDir() string     { return filepath.Join(s.dir, "images") }
func (s store) containersDir() string { return filepath.Join(s.dir, "containers") }

// imageName is what image names look like: alpine, or alpine:3.19.
var imageName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`)

func checkImageName(name string) error {
	if !imageName.MatchString(name) {
		return fmt.Errorf("image name %q: use lower-case letters, digits and . _ -, and an optional :tag, like alpine:3.19", name)
	}
	return nil
}

// image reads the digests of the image's layers, bottom first.
func (s store) image(name string) ([]string, error) {
	if err := checkImageName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.imagesDir(), name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image %s is not in the store %s (ls %s); add one with: %s import FILE NAME", name, s.dir, s.imagesDir(), programName())
	}
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", name, err)
	}
	return strings.Fields(string(data)), nil
}

// saveImage writes the image's file in the work dir wd, then renames it
// into place: a reader sees the old file or the new one.
func (s store) saveImage(name string, digests []string, wd *workDir) error {
	to := filepath.Join(s.imagesDir(), name)
	explain(featLayers, "Record image %s, %d layer(s) bottom first, in %s: written in the work dir and renamed into place.", name, len(digests), to)
	tmp := filepath.Join(wd.path, "image")
	f, err := openCreate(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(digests, "\n") + "\n")
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return rename(tmp, to)
}

// addLayer stores the tree at dir as the layer digest, renamed into place
// whole, unless the store has it already.
func (s store) addLayer(dir, digest string) error {
	if _, err := os.Stat(s.layerDir(digest)); err == nil {
		explain(featLayers, "Layer %s is in the store already: content addressing keeps it once.", digest)
		return nil
	}
	explain(featLayers, "Store the layer as %s.", s.layerDir(digest))
	return rename(dir, s.layerDir(digest))
}

// workDir is a dir of STORE/containers that its runtime holds a lock on
// (flock(2)) while it works there. The kernel drops the lock when the
// runtime exits, even when killed: a dir whose lock is free is left over.
type workDir struct {
	path string
	lock *os.File
}

// newWorkDir makes and locks a work dir, owned by the user namespace's root.
func (s store) newWorkDir(what string) (*workDir, error) {
	all, _, err := sweep(s.containersDir())
	if err != nil {
		return nil, err
	}
	defer all.Close()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	wd := &workDir{path: filepath.Join(s.containersDir(), hex.EncodeToString(b))}
	explain(featLayers, "Make %s dir, the user namespace's root's, and lock it as long as we run; then unlock %s.", what, s.containersDir())
	if err := mkdir(wd.path, 0o700); err != nil {
		return nil, err
	}
	err = chown(wd.path, int(s.users.uids.start), int(s.users.gids.start))
	if err == nil {
		wd.lock, err = openDir(wd.path)
	}
	if err == nil {
		err = flock(wd.lock, unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		wd.remove()
		return nil, err
	}
	return wd, nil
}

// remove removes the work dir, and with it everything the container wrote.
func (wd *workDir) remove() error {
	explain(featLayers, "Remove %s.", wd.path)
	err := removeAll(wd.path)
	if wd.lock != nil {
		wd.lock.Close()
	}
	return err
}

// sweep locks dir, the store's containers, and removes the work dirs in
// it whose lock is free; the caller makes its own, then unlocks dir.
func sweep(dir string) (all *os.File, removed []string, err error) {
	explain(featLayers, "Lock %s, so that no other runtime sweeps it meanwhile, and remove the dirs in it whose lock is free: their runtime is gone.", dir)
	if all, err = openDir(dir); err == nil {
		err = flock(all, unix.LOCK_EX)
	}
	entries, _ := os.ReadDir(dir)
	for i := 0; i < len(entries) && err == nil; i++ {
		p := filepath.Join(dir, entries[i].Name())
		f, openErr := openDir(p)
		free := openErr == nil && flock(f, unix.LOCK_EX|unix.LOCK_NB) == nil
		f.Close()
		if free {
			removed = append(removed, p)
			err = removeAll(p)
		}
	}
	if err != nil && all != nil {
		all.Close()
	}
	return all, removed, err
}

// cleanupStore removes the work dirs killed runtimes left in the store. A
// store that does not exist is not made.
func cleanupStore(storeDir string) ([]string, error) {
	dir := filepath.Join(storeDir, "containers")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	all, removed, err := sweep(dir)
	if err == nil {
		all.Close()
	}
	return removed, err
}

type importCmd struct {
	File      string `arg:"" type:"existingfile" help:"A root filesystem tarball (plain or gzipped), like an alpine minirootfs or docker export."`
	Name      string `arg:"" help:"Name for the image, like alpine:3.19."`
	UsernsMap string `placeholder:"HOSTID:SIZE" help:"The user namespace the layer is for, as run --userns-map (default 100000:65536)."`
}

// Run stores a rootfs tarball as a one-layer image.
func (i *importCmd) Run(c *cli) error {
	if os.Geteuid() != 0 {
		return errors.New("import needs root: a layer's files are given to the user namespace's ids (chown(2)); use sudo")
	}
	if err := checkImageName(i.Name); err != nil {
		return err
	}
	users, err := planUserNamespace(i.UsernsMap)
	if err != nil {
		return err
	}
	s, err := openStore(c.Store, users)
	if err != nil {
		return err
	}
	wd, err := s.newWorkDir("the import's")
	if err != nil {
		return err
	}
	defer wd.remove()
	tree := filepath.Join(wd.path, "layer")
	explain(featLayers, "Unpack %s into %s, owner N of each file becoming host id %d+N, and take the sha256 of the tar on the way: the layer's name.", i.File, tree, users.uids.start)
	digest, err := extractLayer(i.File, tree, users)
	if err != nil {
		return fmt.Errorf("import %s: %w", i.File, err)
	}
	if err := s.addLayer(tree, digest); err != nil {
		return err
	}
	if err := s.saveImage(i.Name, []string{digest}, wd); err != nil {
		return err
	}
	fmt.Printf("Imported %s: 1 layer, %s\n", i.Name, digest)
	return nil
}

// extractLayer unpacks the tar in file into dir with rootfs.go's extractor,
// owners shifted into the user namespace's range, and returns the sha256
// of the uncompressed tar.
func extractLayer(file, dir string, users userNamespace) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	plain, err := decompress(f)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	hash := sha256.New()
	r := io.TeeReader(plain, hash)
	x := tarExtractor{root: dir}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("not a tar or tar.gz archive (%w)", err)
		}
		hdr.Uid, hdr.Gid = shiftID(hdr.Uid, users.uids.start), shiftID(hdr.Gid, users.gids.start)
		if err := x.extract(hdr, tr); err != nil {
			return "", err
		}
	}
	if err := x.finishDirs(); err != nil {
		return "", err
	}
	explain(featLayers, "Unpacked %d files, %d directories and %d links into %s.", x.files, len(x.dirs), x.links, dir)
	// The digest covers the zero blocks the tar reader leaves unread.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(hash.Sum(nil)), nil
}

// shiftID is the host id of a layer's id in the namespace whose ids start
// at host id base; past the map it is nobody (65534), in the range.
func shiftID(id int, base uint32) int {
	if id < 0 || id >= layerIDs {
		id = 65534
	}
	return int(base) + id
}

// layerDigest is the sha256 of the tar an image would hold for the layer
// at dir, whose owners are host ids from base: each file with its owner
// inside the namespace, an overlayfs whiteout as an empty file .wh.NAME,
// an opaque dir followed by an empty .wh..wh..opq (the OCI image spec's
// layer format).
func layerDigest(dir string, base uint32) (string, error) {
	hash := sha256.New()
	tw := tar.NewWriter(hash)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link, _ := os.Readlink(p)
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, _ = filepath.Rel(dir, p)
		hdr.Uid, hdr.Gid = hdr.Uid-int(base), hdr.Gid-int(base)
		hdr.Uname, hdr.Gname, hdr.AccessTime, hdr.ChangeTime = "", "", time.Time{}, time.Time{}
		if isWhiteout(info) {
			hdr = &tar.Header{Name: filepath.Join(filepath.Dir(hdr.Name), ".wh."+d.Name()), Typeflag: tar.TypeReg, ModTime: hdr.ModTime}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() && isOpaque(p) {
			return tw.WriteHeader(&tar.Header{Name: hdr.Name + "/.wh..wh..opq", Typeflag: tar.TypeReg, ModTime: hdr.ModTime})
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", dir, err)
	}
	return "sha256:" + hex.EncodeToString(hash.Sum(nil)), nil
}
