package main

// image.go keeps images without Docker. An image is a stack of read-only
// layers plus a little config. Each layer is a tar archive, extracted once
// into a directory named by the sha256 of that tar (what docker calls its
// diff_id, the .RootFS.Layers of docker inspect), so images that share a
// layer share its files on disk. Each user namespace that runs a layer
// gets a copy of it owned by its own ids, and those copies become the lower
// dirs of an overlay mount (overlay.go). Layers come from rootfs tarballs
// and docker save archives; their OCI whiteouts are translated into the
// whiteouts overlayfs understands. (OCI image layouts and registries are
// one more format for the same layers: final/ reads those.)

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// store is the directory that holds images, layers and containers:
//
//	STORE/layers/0/sha256/HEX/     a layer's files, owned by the ids its
//	                               tar names
//	STORE/layers/0/sha256/HEX.json the layer's size
//	STORE/layers/BASE/sha256/HEX/  a copy of it given to the user namespace
//	                               whose root is host id BASE: an overlay
//	                               lower dir
//	STORE/images/NAME.json         an image: its layers in order, its config
//	STORE/containers/ID/           a container's upper, work and merged dirs
//	STORE/tmp/PID-START-KIND-RAND  work in progress, renamed into place when
//	                               complete, so a crash never leaves half a
//	                               layer where a whole one is expected
type store struct{ dir string }

// storeDir is one of the store's own dirs, and its mode.
type storeDir struct {
	path string
	mode fs.FileMode
}

// storeDirs are the store's own dirs. The child mounts the overlay as root
// of a user namespace, an ordinary user on the host, so the way to the
// layers and containers is open to every user (0711: pass through, but
// not list). What holds an image's files is not: a layer can hold setuid
// programs, which host users must not be able to run from here (docker
// keeps /var/lib/docker private for the same reason).
func (s store) storeDirs() []storeDir {
	return []storeDir{
		{filepath.Join(s.dir, "layers"), 0o711},
		{filepath.Dir(s.layersDir(0)), 0o700},
		{s.layersDir(0), 0o700},
		{s.imagesDir(), 0o700},
		{s.containersDir(), 0o711},
		{s.tmpDir(), 0o700},
	}
}

// openStore makes the store's directories, and gives them their modes.
func openStore(dir string) (store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return store{}, fmt.Errorf("store %s: %w", dir, err)
	}
	// The store's paths end up in the overlay mount's option string, where
	// "," separates options and ":" separates lower dirs.
	if strings.ContainsAny(abs, ",:\\") {
		return store{}, fmt.Errorf("store %s: overlay mount options cannot carry ',', ':' or '\\' in paths; choose another --store", abs)
	}
	// A store made here is 0711, whatever the umask; one that exists keeps
	// its mode, and run says if a user namespace's root cannot pass.
	explained := false
	say := func() {
		if !explained {
			explain(featLayers, "Make the store's dirs, or give them their modes: the way to the layers and containers is open to every user (0711: pass through, not list), what holds images' files is root's alone (0700).")
			explained = true
		}
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		say()
		if err := mkdirAll(abs, 0o711); err != nil {
			return store{}, fmt.Errorf("store %s: %w", abs, err)
		}
		if err := chmod(abs, 0o711); err != nil {
			return store{}, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	s := store{dir: abs}
	for _, sub := range s.storeDirs() {
		info, err := os.Stat(sub.path)
		if errors.Is(err, fs.ErrNotExist) {
			say()
			if err := mkdir(sub.path, uint32(sub.mode)); err != nil {
				return store{}, fmt.Errorf("store %s: %w", abs, err)
			}
		} else if err != nil {
			return store{}, fmt.Errorf("store %s: %w", abs, err)
		} else if info.Mode().Perm() == sub.mode {
			continue
		}
		say()
		if err := chmod(sub.path, uint32(sub.mode)); err != nil {
			return store{}, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	return s, nil
}

// layersDir holds the layers for the user namespace whose root is host id
// base; base 0 holds them as extracted.
func (s store) layersDir(base uint32) string {
	return filepath.Join(s.dir, "layers", strconv.FormatUint(uint64(base), 10), "sha256")
}

func (s store) imagesDir() string     { return filepath.Join(s.dir, "images") }
func (s store) containersDir() string { return filepath.Join(s.dir, "containers") }
func (s store) tmpDir() string        { return filepath.Join(s.dir, "tmp") }

// layerDir is where the layer with this digest is extracted.
func (s store) layerDir(digest string) string { return s.shiftedLayerDir(0, digest) }

// shiftedLayerDir is where the copy of a layer for the user namespace
// whose root is host id base is kept.
func (s store) shiftedLayerDir(base uint32, digest string) string {
	return filepath.Join(s.layersDir(base), strings.TrimPrefix(digest, "sha256:"))
}

// image is what the store keeps of an image: small enough to read by eye.
type image struct {
	Name    string         `json:"name"`
	Layers  []layer        `json:"layers"` // bottom first, like docker's diff_ids
	Config  imageConfig    `json:"config"`
	History []historyEntry `json:"history,omitempty"`
}

// layer is one layer of an image.
type layer struct {
	Digest    string `json:"digest"` // sha256 of the uncompressed tar
	Size      int64  `json:"size"`   // bytes of the uncompressed tar
	CreatedBy string `json:"createdBy,omitempty"`
}

// imageConfig is the part of an image's config a runtime would use.
type imageConfig struct {
	Env        []string `json:"env,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
}

// historyEntry is one step of how the image was built; steps that changed
// no files (ENV, CMD...) made no layer.
type historyEntry struct {
	Created    string `json:"created,omitempty"`
	CreatedBy  string `json:"createdBy,omitempty"`
	EmptyLayer bool   `json:"emptyLayer,omitempty"`
}

// imageName is the docker-like form image names must have: lower-case
// path components, then an optional :tag.
var imageName = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`)

// normalizeName checks an image name and adds :latest when it has no tag.
func normalizeName(name string) (string, error) {
	if !imageName.MatchString(name) {
		return "", fmt.Errorf("image name %q: use lower-case letters, digits and . _ - /, and an optional :tag, like alpine:3.19", name)
	}
	if !strings.Contains(path.Base(name), ":") {
		name += ":latest"
	}
	return name, nil
}

func (s store) imagePath(name string) string {
	return filepath.Join(s.imagesDir(), url.PathEscape(name)+".json")
}

// image reads the image called name.
func (s store) image(name string) (image, error) {
	normalized, err := normalizeName(name)
	if err != nil {
		return image{}, err
	}
	var img image
	data, err := os.ReadFile(s.imagePath(normalized))
	if errors.Is(err, fs.ErrNotExist) {
		return image{}, fmt.Errorf("image %s is not in the store %s; list images with: %s images --store %s, or add one with: %s import FILE NAME",
			normalized, s.dir, programName(), s.dir, programName())
	}
	if err != nil {
		return image{}, fmt.Errorf("read image %s: %w", normalized, err)
	}
	if err := json.Unmarshal(data, &img); err != nil {
		return image{}, fmt.Errorf("read image %s: %w", normalized, err)
	}
	return img, nil
}

// images lists the store's images by name.
func (s store) images() ([]image, error) {
	entries, err := os.ReadDir(s.imagesDir())
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var imgs []image
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var img image
		data, err := os.ReadFile(filepath.Join(s.imagesDir(), e.Name()))
		if err == nil {
			err = json.Unmarshal(data, &img)
		}
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", e.Name(), err)
		}
		imgs = append(imgs, img)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	return imgs, nil
}

// saveImage writes the image's JSON file, atomically: a reader sees the old
// file or the new one, never half of one.
func (s store) saveImage(img image) error {
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return fmt.Errorf("save image %s: %w", img.Name, err)
	}
	explain(featLayers, "Record image %s in %s, written to a file of its own and renamed into place: a reader sees the old file or the new one.", img.Name, s.imagePath(img.Name))
	return s.writeFileAtomic(s.imagePath(img.Name), append(data, '\n'))
}

// writeFileAtomic writes data to a temporary file and renames it to name.
func (s store) writeFileAtomic(name string, data []byte) error {
	tmp, err := s.newTemp("file")
	if err != nil {
		return err
	}
	f, err := openCreate(tmp, unix.O_WRONLY|unix.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		removeAll(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := rename(tmp, name); err != nil {
		removeAll(tmp)
		return err
	}
	return nil
}

// removeAll removes path and everything below it, as rm -r does: each file
// with unlink(2) and each dir, once emptied, with rmdir(2), narrated as one
// line that counts them. A path that does not exist is removed already.
func removeAll(path string) error {
	t := newTally(path)
	err := t.remove(path)
	t.print()
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// remove removes p, and first what is below it.
func (t *tally) remove(p string) error {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return t.do("unlink", func() string { return fmt.Sprintf("unlink(%s)", cString(p)) },
			func() (int, error) { return 0, unix.Unlink(p) })
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := t.remove(filepath.Join(p, e.Name())); err != nil {
			return err
		}
	}
	return t.do("rmdir", func() string { return fmt.Sprintf("rmdir(%s)", cString(p)) },
		func() (int, error) { return 0, unix.Rmdir(p) })
}

// layer reads what the store knows of an extracted layer.
func (s store) layer(digest string) (layer, error) {
	if _, err := os.Stat(s.layerDir(digest)); err != nil {
		return layer{}, err
	}
	var l layer
	data, err := os.ReadFile(s.layerDir(digest) + ".json")
	if err == nil {
		err = json.Unmarshal(data, &l)
	}
	return l, err
}

// newTemp names a path in the store's tmp dir. The name carries our pid and
// its start time, so cleanup can tell leftovers of a killed runtime from
// work another runtime is doing right now.
func (s store) newTemp(kind string) (string, error) {
	owner, err := selfOwner()
	if err != nil {
		return "", err
	}
	return filepath.Join(s.tmpDir(), owner+"-"+kind+"-"+randomID()), nil
}

// removeStaleTemp removes what killed runtimes left in tmp.
func (s store) removeStaleTemp() error {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("list %s: %w", s.tmpDir(), err)
	}
	for _, e := range entries {
		parts := strings.SplitN(e.Name(), "-", 3)
		if len(parts) == 3 && processAlive(parts[0]+"-"+parts[1]) {
			continue
		}
		explain(featLayers, "Remove %s, left behind by a runtime that is gone.", filepath.Join(s.tmpDir(), e.Name()))
		if err := removeAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// selfOwner is "PID-STARTTIME" for this process.
func selfOwner() (string, error) {
	start, err := processStartTime(os.Getpid())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%d", os.Getpid(), start), nil
}

// processAlive tells whether the process named by "PID-STARTTIME" still
// runs. The start time tells a reused pid from the original process.
func processAlive(owner string) bool {
	pidText, startText, ok := strings.Cut(owner, "-")
	pid, err1 := strconv.Atoi(pidText)
	start, err2 := strconv.ParseUint(startText, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return false
	}
	now, err := processStartTime(pid)
	return err == nil && now == start
}

// processStartTime is field 22 of /proc/PID/stat (proc(5)): when the process
// started, in clock ticks after boot. The fields are counted after the last
// ")", since the command name before it may hold spaces.
func processStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// randomID is 12 random hex digits, like a short docker id.
func randomID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 16)
	}
	return hex.EncodeToString(b)
}

// shortDigest is a digest cut to 12 hex digits, for sentences.
func shortDigest(digest string) string {
	hexPart := strings.TrimPrefix(digest, "sha256:")
	if len(hexPart) > 12 {
		hexPart = hexPart[:12]
	}
	return "sha256:" + hexPart
}

// addLayer stores one layer tar, plain or gzipped. When want, the
// digest the image's config promises, is in the store already, nothing is
// read: content addressing extracts a layer once.
func (s store) addLayer(r io.Reader, want, what string) (layer, error) {
	if want != "" {
		if l, err := s.layer(want); err == nil {
			explain(featLayers, "Layer %s (%s) is in the store already: content addressing extracts it once.", shortDigest(want), what)
			return l, nil
		}
	}
	tree, err := s.newTemp("layer")
	if err != nil {
		return layer{}, err
	}
	if err := os.Mkdir(tree, 0o755); err != nil {
		return layer{}, fmt.Errorf("mkdir %s: %w", tree, err)
	}
	defer removeAll(tree) // a no-op once the tree is renamed into place
	explain(featLayers, "Extract %s into %s, translating OCI whiteouts into overlayfs ones: a character device 0/0 for a deleted file, and for an opaque dir user.overlay.opaque, the xattr overlayfs reads when mounted in a user namespace (userxattr).", what, tree)
	plain, err := decompress(r)
	if err != nil {
		return layer{}, fmt.Errorf("%s: %w", what, err)
	}
	hash := sha256.New()
	counted := &countingReader{r: io.TeeReader(plain, hash)}
	if err := extractLayer(counted, tree); err != nil {
		return layer{}, fmt.Errorf("%s: %w", what, err)
	}
	// The digest covers the whole stream, up to the zero blocks after the
	// last entry, which the tar reader leaves unread.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return layer{}, fmt.Errorf("%s: %w", what, err)
	}
	l := layer{Digest: "sha256:" + hex.EncodeToString(hash.Sum(nil)), Size: counted.n}
	if want != "" && l.Digest != want {
		return layer{}, fmt.Errorf("%s: its content has digest %s, but the image's config says %s; the archive is corrupt", what, l.Digest, want)
	}
	if existing, err := s.layer(l.Digest); err == nil {
		return existing, nil
	}
	data, err := json.Marshal(l)
	if err != nil {
		return layer{}, err
	}
	if err := s.writeFileAtomic(s.layerDir(l.Digest)+".json", data); err != nil {
		return layer{}, err
	}
	explain(featLayers, "Rename it to %s: the layer appears whole or not at all.", s.layerDir(l.Digest))
	if err := rename(tree, s.layerDir(l.Digest)); err != nil {
		if _, statErr := os.Stat(s.layerDir(l.Digest)); statErr == nil {
			return l, nil // another runtime stored the same layer meanwhile
		}
		return layer{}, fmt.Errorf("store layer %s: %w", l.Digest, err)
	}
	return l, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// OCI whiteouts (image-spec layer.md): a file ".wh.NAME" says NAME of the
// layers below is deleted; ".wh..wh..opq" in a directory says the
// directory replaces, rather than merges with, the same directory below.
const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	opaqueMarker       = ".wh..wh..opq"
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
// applies to: the deleted path for a whiteout, the directory for an opaque
// marker, the name itself otherwise.
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

// layerExtractor is the rootfs extractor of rootfs.go, which already
// refuses to write through a symlink or to link outside, plus what layers
// add: OCI whiteouts become overlayfs whiteouts, and extended attributes
// (file capabilities, say) are kept.
type layerExtractor struct {
	tarExtractor
}

// extractLayer extracts every entry of the layer tar r below root.
func extractLayer(r io.Reader, root string) error {
	x := layerExtractor{tarExtractor{root: root}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := x.apply(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

// apply writes one entry. Unlike a rootfs, a layer refuses absolute names
// outright: an image builder never writes them.
func (x *layerExtractor) apply(hdr *tar.Header, r io.Reader) error {
	name, err := entryPath(hdr.Name)
	if err != nil {
		return err
	}
	kind, target, err := classifyEntry(name)
	if err != nil {
		return err
	}
	switch kind {
	case entryWhiteout:
		return x.whiteout(target)
	case entryOpaque:
		return x.opaque(target, name)
	case entryMeta:
		return nil
	}
	if err := x.extract(hdr, r); err != nil {
		return err
	}
	return x.setXattrs(name, hdr)
}

// setXattrs sets the extended attributes a tar carries as PAX records,
// after the owner: chown(2) clears file capabilities.
func (x *layerExtractor) setXattrs(name string, hdr *tar.Header) error {
	var names []string
	for key := range hdr.PAXRecords {
		// An image says "opaque" with .wh..wh..opq; overlayfs's own xattrs
		// in a tar could redirect its lookups, so they are not taken.
		attr, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		if ok && !strings.HasPrefix(attr, "trusted.overlay.") && !strings.HasPrefix(attr, "user.overlay.") {
			names = append(names, attr)
		}
	}
	if len(names) == 0 || hdr.Typeflag == tar.TypeLink {
		return nil
	}
	p := filepath.Join(x.root, name)
	if _, err := os.Lstat(p); err != nil {
		return nil // a device node the extractor skipped
	}
	sort.Strings(names)
	for _, attr := range names {
		if err := lsetxattr(p, attr, hdr.PAXRecords["SCHILY.xattr."+attr]); err != nil {
			return err
		}
	}
	return nil
}

// whiteout records that target, a path of the layers below, is deleted:
// overlayfs's whiteout is a character device with device number 0/0.
func (x *layerExtractor) whiteout(target string) error {
	if err := checkParents(x.root, target); err != nil {
		return err
	}
	p := filepath.Join(x.root, target)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", filepath.Dir(p), err)
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("replace %s: %w", p, err)
	}
	err := mknod(p, unix.S_IFCHR, unix.Mkdev(0, 0))
	if errors.Is(err, unix.EPERM) && onOverlayfs(x.root) {
		return fmt.Errorf("%w: the store is on overlayfs, which lets no one create whiteouts in it; put --store on another filesystem", err)
	}
	return err
}

// opaque marks dir as opaque, overlayfs's "this directory replaces the one
// below" (Documentation/filesystems/overlayfs.rst), with the xattr that
// our mounts, made in a user namespace with userxattr, read. name is the
// marker's own path, whose parents, dir included, must not be symlinks.
func (x *layerExtractor) opaque(dir, name string) error {
	if err := checkParents(x.root, name); err != nil {
		return err
	}
	p := filepath.Join(x.root, dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	err := lsetxattr(p, opaqueXattr, "y")
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: the store's filesystem keeps no user.* xattrs (tmpfs does only since Linux 6.6); put --store on another filesystem", err)
	}
	return err
}

// onOverlayfs tells whether dir is on overlayfs.
func onOverlayfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC
}

// Layers for a user namespace. The overlay is mounted by root of the
// container's user namespace, whose powers count only over files owned by
// ids its namespace maps: a layer extracted with the ids of its tar, root's
// 0 among them, would show as nobody's inside, and root there could neither
// change its files nor copy them up. So each namespace gets a copy of the
// layer with every owner shifted into its map, as docker's --userns-remap
// keeps a tree of layers per remapped root. (Idmapped mounts, Linux 5.12 and
// later, shift owners as the kernel reads them, without a copy; a copy is
// simpler, and it can be looked at with ls -ln.)

// Every id below layerIDs of a layer gets a host id of its own: run --image
// wants a map of at least that many ids, the usual /etc/subuid range.
const (
	layerIDs   = 65536
	overflowID = 65534 // nobody: how the kernel shows an id it cannot map
)

// shiftID is the host id that a layer's id gets in the user namespace
// whose ids start at host id base. An id past the map becomes nobody, as
// the kernel shows an unmapped id inside, but on the host it stays in the
// namespace's own range, never in another namespace's.
func shiftID(id, base uint32) uint32 {
	if id >= layerIDs {
		id = overflowID
	}
	return base + id
}

// shiftedLayer returns the dir of the layer with this digest for the user
// namespace users, copying it there on first use.
func (s store) shiftedLayer(digest string, users userNamespace) (string, error) {
	base := users.uids.start
	dir := s.shiftedLayerDir(base, digest)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	// Only the namespace's root, by its group, may pass through to its copies.
	if _, err := os.Stat(s.layersDir(base)); err != nil {
		explain(featLayers, "Make %s for the layers given to this user namespace: root's, mode 0710, group %d, so that its root may pass through, and no one else.", s.layersDir(base), users.gids.start)
		for _, d := range []string{filepath.Dir(s.layersDir(base)), s.layersDir(base)} {
			if _, err := os.Stat(d); err == nil {
				continue
			}
			if err := mkdir(d, 0o700); err != nil {
				return "", err
			}
			if err := letThrough(d, int(users.gids.start)); err != nil {
				return "", err
			}
		}
	}
	tmp, err := s.newTemp("shift")
	if err != nil {
		return "", err
	}
	explain(featLayers, "Give layer %s to the user namespace: copy it to %s, owner N of each file becoming host id %d+N (nobody past %d), so root's files are root's inside; the copy stays for the next container. Each file is made, then given its owner (fchownat), mode (fchmodat) and times (utimensat).",
		shortDigest(digest), tmp, base, layerIDs-1)
	if err := shiftCopy(s.layerDir(digest), tmp, users.uids.start, users.gids.start); err != nil {
		removeAll(tmp)
		return "", fmt.Errorf("copy layer %s for host ids %d and up: %w", shortDigest(digest), base, err)
	}
	explain(featLayers, "Rename it to %s: the copy appears whole or not at all.", dir)
	if err := rename(tmp, dir); err != nil {
		removeAll(tmp)
		if _, statErr := os.Stat(dir); statErr == nil {
			return dir, nil // another runtime made the same copy meanwhile
		}
		return "", fmt.Errorf("store layer %s for host ids %d and up: %w", digest, base, err)
	}
	return dir, nil
}

// layerCopy copies a layer tree with its owners shifted, keeping modes,
// times, hard links, device numbers (a whiteout is device 0/0) and
// extended attributes (the opaque mark among them).
type layerCopy struct {
	src, dst   string
	uids, gids uint32            // the host ids of the namespace's 0
	linked     map[uint64]string // inode of a hard-linked file: its copy
	dirs       []string          // relative paths, whose attributes come last
	calls      *tally            // the calls made, narrated as their count
}

// shiftCopy copies the layer tree src to dst, which must not exist. Its
// thousands of calls are narrated as one line that counts them, and the
// whiteouts and opaque marks one by one.
func shiftCopy(src, dst string, uids, gids uint32) error {
	c := layerCopy{src: src, dst: dst, uids: uids, gids: gids, linked: map[uint64]string{}, calls: newTally(dst)}
	defer c.calls.print()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return c.copyEntry(rel)
	})
	if err != nil {
		return err
	}
	// Dirs last, deepest first: adding an entry changes a dir's mtime, and a
	// read-only dir must be filled before it is made read-only.
	for i := len(c.dirs) - 1; i >= 0; i-- {
		if err := c.setAttrs(c.dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies one entry of the tree, and its attributes unless it is
// a dir or another name of a file already copied.
func (c *layerCopy) copyEntry(rel string) error {
	from, to := filepath.Join(c.src, rel), filepath.Join(c.dst, rel)
	info, err := os.Lstat(from)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("stat %s: no owner", from)
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
		err := c.calls.do("mkdir", func() string { return fmt.Sprintf("mkdir(%s, 0700)", cString(to)) },
			func() (int, error) { return 0, unix.Mkdir(to, 0o700) })
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", to, err)
		}
		c.dirs = append(c.dirs, rel)
		return nil
	case mode.IsRegular():
		if first, ok := c.linked[st.Ino]; ok {
			err := c.calls.do("link", func() string { return fmt.Sprintf("link(%s, %s)", cString(first), cString(to)) },
				func() (int, error) { return 0, unix.Link(first, to) })
			if err != nil {
				return fmt.Errorf("hard link %s: %w", to, err)
			}
			return nil
		}
		if st.Nlink > 1 {
			c.linked[st.Ino] = to
		}
		if err := c.copyFile(from, to); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		err = c.calls.do("symlink", func() string { return fmt.Sprintf("symlink(%s, %s)", cString(target), cString(to)) },
			func() (int, error) { return 0, unix.Symlink(target, to) })
		if err != nil {
			return fmt.Errorf("symlink %s: %w", to, err)
		}
	default: // a whiteout, another device node, a fifo or a socket
		if err := mknod(to, st.Mode, st.Rdev); err != nil {
			return err
		}
	}
	return c.setAttrs(rel)
}

// copyFile copies a regular file's content into a new file; io.Copy
// between two files lets the kernel copy (copy_file_range(2)), which can
// share the blocks on filesystems that reflink.
func (c *layerCopy) copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	var fd int
	err = c.calls.do("openat(O_CREAT)", func() string {
		return fmt.Sprintf("openat(AT_FDCWD, %s, %s, 0600)", cString(to), flagString(uintptr(flags), openFlagNames))
	}, func() (int, error) {
		fd, err = unix.Open(to, flags, 0o600)
		return fd, err
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", to, err)
	}
	out := os.NewFile(uintptr(fd), to)
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return nil
}

// setAttrs gives the copy of rel its shifted owner, then its xattrs and
// mode, which chown(2) would clear (file capabilities, setuid and setgid),
// then its times. Nothing here follows a symlink.
func (c *layerCopy) setAttrs(rel string) error {
	from, to := filepath.Join(c.src, rel), filepath.Join(c.dst, rel)
	info, err := os.Lstat(from)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("stat %s: no owner", from)
	}
	uid, gid := int(shiftID(st.Uid, c.uids)), int(shiftID(st.Gid, c.gids))
	err = c.calls.do("fchownat", func() string {
		return fmt.Sprintf("fchownat(AT_FDCWD, %s, %d, %d, AT_SYMLINK_NOFOLLOW)", cString(to), uid, gid)
	}, func() (int, error) { return 0, unix.Fchownat(unix.AT_FDCWD, to, uid, gid, unix.AT_SYMLINK_NOFOLLOW) })
	if err != nil {
		return fmt.Errorf("chown %s: %w", to, err)
	}
	if err := c.copyXattrs(from, to); err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink == 0 {
		// The permission bits, and setuid, setgid and sticky: st_mode's own.
		mode := st.Mode & 0o7777
		err := c.calls.do("fchmodat", func() string { return fmt.Sprintf("fchmodat(AT_FDCWD, %s, %#o)", cString(to), mode) },
			func() (int, error) { return 0, unix.Fchmodat(unix.AT_FDCWD, to, mode, 0) })
		if err != nil {
			return fmt.Errorf("chmod %s: %w", to, err)
		}
	}
	times := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, to, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", to, err)
	}
	return nil
}

// copyXattrs copies the extended attributes of from to to. An SELinux
// label is the host policy's to give, and ACLs name ids that would need
// shifting entry by entry: those are left out (the mode bits still hold).
func (c *layerCopy) copyXattrs(from, to string) error {
	names, err := xattrNames(from)
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == "security.selinux" || strings.HasPrefix(name, "system.posix_acl_") {
			continue
		}
		value, err := xattrValue(from, name)
		if err != nil {
			return err
		}
		if name == "security.capability" {
			value = shiftFileCaps(value, c.uids)
		}
		if err := lsetxattr(to, name, string(value)); err != nil {
			return err
		}
	}
	return nil
}

// xattrNames lists the extended attributes of path itself.
func xattrNames(path string) ([]string, error) {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size == 0 {
		return nil, nil // none, or a filesystem without xattrs
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// xattrValue reads one extended attribute of path itself.
func xattrValue(path, name string) ([]byte, error) {
	size, err := unix.Lgetxattr(path, name, nil)
	if err != nil {
		return nil, fmt.Errorf("read xattr %s of %s: %w", name, path, err)
	}
	buf := make([]byte, size)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return nil, fmt.Errorf("read xattr %s of %s: %w", name, path, err)
	}
	return buf[:n], nil
}

// The layout of security.capability (linux/capability.h): a little-endian
// magic word holding the revision, then permitted and inheritable sets,
// and from revision 3 the host id of the root they are for.
const (
	capRevisionMask = 0xff000000
	capRevision2    = 0x02000000
	capRevision3    = 0x03000000
	capSize2        = 20
	capSize3        = 24
)

// shiftFileCaps rewrites a file capability for the namespace whose root is
// host id base. The kernel honours file capabilities only for the root
// they are for: revision 2 names none, which means the host's root, so
// inside they would count for nothing; revision 3 names one
// (capabilities(7), "Namespaced file capabilities"). Other values are kept.
func shiftFileCaps(value []byte, base uint32) []byte {
	if len(value) < 4 {
		return value
	}
	magic := binary.LittleEndian.Uint32(value)
	switch {
	case magic&capRevisionMask == capRevision2 && len(value) == capSize2:
		out := make([]byte, capSize3)
		copy(out, value)
		binary.LittleEndian.PutUint32(out, capRevision3|magic&^capRevisionMask)
		binary.LittleEndian.PutUint32(out[capSize2:], base)
		return out
	case magic&capRevisionMask == capRevision3 && len(value) == capSize3:
		out := append([]byte(nil), value...)
		binary.LittleEndian.PutUint32(out[capSize2:], shiftID(binary.LittleEndian.Uint32(value[capSize2:]), base))
		return out
	}
	return value
}

// archive is a set of named files: a docker save tar, read in place.
type archive interface {
	open(name string) (io.ReadCloser, error)
	has(name string) bool
	Close() error
}

// tarArchive reads the members of an uncompressed tar file in place: one
// pass records where each member's data starts, then any member can be
// read from there, in any order.
type tarArchive struct {
	file    *os.File
	members map[string]tarMember
	remove  string // a temporary file to remove when done
}

type tarMember struct {
	offset, size int64
	link         string // for a symlink member, the member it points to
}

func (t *tarArchive) open(name string) (io.ReadCloser, error) {
	m, ok := t.members[path.Clean(name)]
	for hops := 0; ok && m.link != "" && hops < 8; hops++ {
		m, ok = t.members[m.link]
	}
	if !ok || m.link != "" {
		return nil, fmt.Errorf("%s: no file %s in the archive", t.file.Name(), name)
	}
	return io.NopCloser(io.NewSectionReader(t.file, m.offset, m.size)), nil
}

func (t *tarArchive) has(name string) bool {
	_, ok := t.members[path.Clean(name)]
	return ok
}

func (t *tarArchive) Close() error {
	err := t.file.Close()
	if t.remove != "" {
		os.Remove(t.remove)
	}
	return err
}

// openArchive indexes a tar file, first decompressing it into the store's
// tmp dir if it is compressed.
func (s store) openArchive(name string) (archive, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	plain, err := decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &tarArchive{file: f}
	if _, isBuffered := plain.(*bufio.Reader); !isBuffered {
		// Compressed: random access needs a plain copy.
		if t.file, t.remove, err = s.decompressToTemp(plain, name); err != nil {
			f.Close()
			return nil, err
		}
		f.Close()
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := t.index(); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s is not a tar archive (%v)", name, err)
	}
	return t, nil
}

// decompressToTemp copies r to a temporary file and opens it.
func (s store) decompressToTemp(r io.Reader, what string) (*os.File, string, error) {
	tmp, err := s.newTemp("archive")
	if err != nil {
		return nil, "", err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, "", fmt.Errorf("decompress %s: %w", what, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, "", fmt.Errorf("decompress %s: %w", what, err)
	}
	return f, tmp, nil
}

// index records the offset of every member's data. The tar reader reads
// exactly the header blocks before the data, so the position of the file
// right after Next is where the data starts.
func (t *tarArchive) index() error {
	t.members = map[string]tarMember{}
	pos := &positionReader{r: t.file}
	tr := tar.NewReader(pos)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name := path.Clean(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			t.members[name] = tarMember{offset: pos.n, size: hdr.Size}
		case tar.TypeSymlink: // older docker save links repeated layers
			t.members[name] = tarMember{link: path.Join(path.Dir(name), hdr.Linkname)}
		case tar.TypeDir:
			t.members[name] = tarMember{}
		}
	}
}

// positionReader tracks the read position of a file; it seeks, so the tar
// reader can skip the members' data instead of reading it.
type positionReader struct {
	r io.ReadSeeker
	n int64
}

func (p *positionReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

func (p *positionReader) Seek(offset int64, whence int) (int64, error) {
	n, err := p.r.Seek(offset, whence)
	if err == nil {
		p.n = n
	}
	return n, err
}

// archiveImage is one image an archive holds: where its config and layers
// are inside the archive, and the names it suggests.
type archiveImage struct {
	names  []string
	config string
	layers []string // bottom first
}

// configFile is the image config JSON docker and OCI share.
type configFile struct {
	Config struct {
		Env        []string
		Entrypoint []string
		Cmd        []string
		WorkingDir string
	} `json:"config"`
	History []struct {
		Created    string `json:"created"`
		CreatedBy  string `json:"created_by"`
		EmptyLayer bool   `json:"empty_layer"`
	} `json:"history"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// readJSON decodes the archive member name into v.
func readJSON(a archive, name string, v any) error {
	r, err := a.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// archiveImages finds the images in a docker save archive: its
// manifest.json names each image's config and layer tars.
func archiveImages(a archive, what string) ([]archiveImage, error) {
	if a.has("manifest.json") {
		return dockerImages(a)
	}
	if a.has("index.json") {
		return nil, fmt.Errorf("%s is an OCI image layout (index.json, no manifest.json): this step loads docker save archives; box load reads OCI layouts", what)
	}
	return nil, fmt.Errorf("%s is not a docker save archive (no manifest.json)", what)
}

// dockerImages reads the manifest.json of docker save.
func dockerImages(a archive) ([]archiveImage, error) {
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := readJSON(a, "manifest.json", &manifest); err != nil {
		return nil, err
	}
	var imgs []archiveImage
	for _, m := range manifest {
		imgs = append(imgs, archiveImage{names: m.RepoTags, config: m.Config, layers: m.Layers})
	}
	return imgs, nil
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func validDigest(d string) bool { return digestPattern.MatchString(d) }

// loadImage stores the layers of one image of an archive and writes the
// image's JSON file.
func (s store) loadImage(a archive, ai archiveImage, name string) (image, error) {
	var cfg configFile
	if err := readJSON(a, ai.config, &cfg); err != nil {
		return image{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(ai.layers) {
		return image{}, fmt.Errorf("image %s: the config lists %d layers, the manifest %d", name, len(cfg.RootFS.DiffIDs), len(ai.layers))
	}
	img := image{Name: name, Config: imageConfig{
		Env: cfg.Config.Env, Entrypoint: cfg.Config.Entrypoint, Cmd: cfg.Config.Cmd, WorkingDir: cfg.Config.WorkingDir,
	}}
	var createdBy []string // of the history entries that made a layer
	for _, h := range cfg.History {
		img.History = append(img.History, historyEntry{Created: h.Created, CreatedBy: h.CreatedBy, EmptyLayer: h.EmptyLayer})
		if !h.EmptyLayer {
			createdBy = append(createdBy, h.CreatedBy)
		}
	}
	for i, member := range ai.layers {
		diffID := cfg.RootFS.DiffIDs[i]
		if !validDigest(diffID) {
			return image{}, fmt.Errorf("image %s: layer digest %q is not sha256:<64 hex digits>", name, diffID)
		}
		r, err := a.open(member)
		if err != nil {
			return image{}, err
		}
		l, err := s.addLayer(r, diffID, fmt.Sprintf("layer %d of %d of %s", i+1, len(ai.layers), name))
		r.Close()
		if err != nil {
			return image{}, err
		}
		if i < len(createdBy) {
			l.CreatedBy = createdBy[i]
		}
		img.Layers = append(img.Layers, l)
	}
	return img, s.saveImage(img)
}

// needRoot explains why a command that extracts layers wants root.
func needRoot(command string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s needs root: layers are written with their owners, and whiteouts are device nodes (mknod); use sudo", command)
	}
	return nil
}

type importCmd struct {
	File string `arg:"" type:"existingfile" help:"A root filesystem tarball (plain or gzipped), like an alpine minirootfs or docker export."`
	Name string `arg:"" help:"Name for the image, like alpine:3.19."`
}

// Run stores a rootfs tarball as a one-layer image.
func (i *importCmd) Run(c *cli) error {
	if err := needRoot("import"); err != nil {
		return err
	}
	name, err := normalizeName(i.Name)
	if err != nil {
		return err
	}
	s, err := openStore(c.Store)
	if err != nil {
		return err
	}
	if err := s.removeStaleTemp(); err != nil {
		return err
	}
	f, err := os.Open(i.File)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	createdBy := programName() + " import " + filepath.Base(i.File)
	l, err := s.addLayer(f, "", "the rootfs tarball "+i.File)
	if err != nil {
		return err
	}
	l.CreatedBy = createdBy
	img := image{
		Name:    name,
		Layers:  []layer{l},
		Config:  imageConfig{Cmd: []string{"/bin/sh"}},
		History: []historyEntry{{Created: time.Now().UTC().Format(time.RFC3339), CreatedBy: createdBy}},
	}
	if err := s.saveImage(img); err != nil {
		return err
	}
	fmt.Printf("Imported %s: 1 layer, %s\n", name, l.Digest)
	return nil
}

type loadCmd struct {
	File string `arg:"" type:"existingfile" help:"A docker save archive (tar, maybe gzipped)."`
	Name string `arg:"" optional:"" help:"Name for the image, instead of the name the archive gives."`
}

// Run stores the images of a docker save archive.
func (l *loadCmd) Run(c *cli) error {
	if err := needRoot("load"); err != nil {
		return err
	}
	s, err := openStore(c.Store)
	if err != nil {
		return err
	}
	if err := s.removeStaleTemp(); err != nil {
		return err
	}
	a, err := s.openArchive(l.File)
	if err != nil {
		return err
	}
	defer a.Close()
	found, err := archiveImages(a, l.File)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("%s holds no image", l.File)
	}
	if l.Name != "" && len(found) > 1 {
		return fmt.Errorf("%s holds %d images; load it without a NAME to keep the names it gives", l.File, len(found))
	}
	for _, ai := range found {
		names := ai.names
		if l.Name != "" {
			names = []string{l.Name}
		}
		if len(names) == 0 {
			return fmt.Errorf("%s names no image; give it a name: %s load %s NAME", l.File, programName(), l.File)
		}
		first, err := normalizeName(names[0])
		if err != nil {
			return err
		}
		img, err := s.loadImage(a, ai, first)
		if err != nil {
			return err
		}
		for _, other := range names[1:] {
			if img.Name, err = normalizeName(other); err != nil {
				return err
			}
			if err := s.saveImage(img); err != nil {
				return err
			}
		}
		fmt.Printf("Loaded %s: %s\n", strings.Join(names, ", "), plural(len(img.Layers), "layer"))
	}
	return nil
}

type imagesCmd struct{}

// Run lists the store's images.
func (imagesCmd) Run(c *cli) error {
	s, err := openStore(c.Store)
	if err != nil {
		return err
	}
	imgs, err := s.images()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tLAYERS\tSIZE")
	for _, img := range imgs {
		var size int64
		for _, l := range img.Layers {
			size += l.Size
		}
		fmt.Fprintf(w, "%s\t%d\t%s\n", img.Name, len(img.Layers), humanSize(size))
	}
	return w.Flush()
}

type historyCmd struct {
	Name string `arg:"" help:"The image."`
}

// Run lists an image's layers, the newest (the top of the stack) first, as
// docker history does.
func (h *historyCmd) Run(c *cli) error {
	s, err := openStore(c.Store)
	if err != nil {
		return err
	}
	img, err := s.image(h.Name)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "LAYER\tSIZE\tCREATED BY")
	for i := len(img.Layers) - 1; i >= 0; i-- {
		l := img.Layers[i]
		createdBy := l.CreatedBy
		if createdBy == "" {
			createdBy = "(unknown)"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\n", l.Digest, l.Size, createdBy)
	}
	return w.Flush()
}

// humanSize prints bytes with decimal units, as docker does: 4.26MB.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v := float64(n)
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return strconv.FormatFloat(v, 'f', 3-len(strconv.Itoa(int(v))), 64) + units[i]
}
