package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"
)

// Store is the directory that holds images and layers (--store, by default
// /var/lib/box):
//
//	STORE/layers/sha256/HEX/         a layer's files: an overlay lower dir
//	STORE/layers/sha256/HEX.json     the layer's size
//	STORE/shifted/HOSTID-SIZE/HEX/   the layer owned by a user namespace's ids
//	STORE/l/sha256/SHORT             a short link to a layer, and to its copies
//	STORE/l/HOSTID-SIZE/SHORT        in l/HOSTID-SIZE: the names of an overlay
//	                                 mount of many layers (links.go)
//	STORE/images/NAME.json           an image: its layers in order, its config
//	STORE/containers/MOUNTID/        a container's root: the overlay's mount
//	                                 point, upper and work dirs (rwlayer.go)
//	STORE/tmp/PID-START-KIND-RAND    work in progress, renamed into place when
//	                                 whole, so a crash never leaves half a
//	                                 layer where a whole one is expected
//	STORE/lock                       flock(2): shared while layers are added or
//	                                 mounted, exclusive while rmi deletes them
//
// The store is 0711: container roots below it must be reachable by the root
// of a user namespace, and nothing else in it is readable by other users. A
// layer can hold setuid programs, which host users must not be able to run
// from here (docker keeps /var/lib/docker private for the same reason).
type Store struct{ dir string }

// Open names the store in dir without creating it: reading commands on a
// store that does not exist yet find it empty. Init creates it.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("--store %q must be an absolute path, like /var/lib/box", dir)
	}
	dir = filepath.Clean(dir)
	// The store's paths end up in the overlay mount's option string, where
	// "," separates options and ":" separates lower dirs.
	if strings.ContainsAny(dir, ",:\\") {
		return nil, fmt.Errorf("--store %s: overlay mount options cannot carry ',', ':' or '\\' in paths; choose another --store", dir)
	}
	return &Store{dir: dir}, nil
}

// Init creates the store's directories, if missing.
func (s *Store) Init() error {
	dirs := []struct {
		path string
		mode fs.FileMode
	}{
		{s.dir, 0o711}, {s.layersDir(), 0o700}, {s.shiftedDir(), 0o700}, {s.imagesDir(), 0o700},
		{s.linksDir(), 0o700}, {s.containersDir(), 0o711}, {s.tmpDir(), 0o700},
	}
	explained := false
	for _, d := range dirs {
		if _, err := os.Stat(d.path); err == nil {
			continue
		}
		if !explained {
			narrate.Explain(narrate.Layers, "Make the store's directories in %s: layers, their copies for user namespaces, their short links, images, container roots, work in progress.", s.dir)
			explained = true
		}
		if err := mkdirAll(d.path, uint32(d.mode)); err != nil {
			return fmt.Errorf("store %s: %w", s.dir, err)
		}
	}
	// mkdir leaves an existing dir's mode alone, and the umask trims a
	// new one's; the store's mode is what lets a user namespace in.
	for _, dir := range []string{s.dir, s.containersDir()} {
		info, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.dir, err)
		}
		if info.Mode().Perm() == 0o711 {
			continue
		}
		if err := sys.Chmod(dir, 0o711); err != nil {
			return fmt.Errorf("store %s: %w", s.dir, err)
		}
	}
	return nil
}

// mkdirAll makes dir and the dirs on the way to it that are missing, each
// with a narrated mkdir(2); dirs that exist are left as they are.
func mkdirAll(dir string, mode uint32) error {
	if info, err := os.Stat(dir); err == nil {
		if info.IsDir() {
			return nil
		}
		return fmt.Errorf("mkdir %s: not a directory", dir)
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent, mode); err != nil {
			return err
		}
	}
	return sys.Mkdir(dir, mode)
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) layersDir() string     { return filepath.Join(s.dir, "layers", "sha256") }
func (s *Store) shiftedDir() string    { return filepath.Join(s.dir, "shifted") }
func (s *Store) imagesDir() string     { return filepath.Join(s.dir, "images") }
func (s *Store) containersDir() string { return filepath.Join(s.dir, "containers") }
func (s *Store) tmpDir() string        { return filepath.Join(s.dir, "tmp") }

// LayerDir is where the layer with this digest is extracted.
func (s *Store) LayerDir(digest string) string {
	return filepath.Join(s.layersDir(), strings.TrimPrefix(digest, "sha256:"))
}

// lock takes the store's lock, shared or exclusive, until unlock is
// called; the kernel drops it if we die.
func (s *Store) lock(exclusive bool) (unlock func(), err error) {
	return sys.OpenLockFile(filepath.Join(s.dir, "lock"), exclusive)
}

func (s *Store) imagePath(name string) string {
	return filepath.Join(s.imagesDir(), url.PathEscape(name)+".json")
}

// Image reads the image called name (":latest" is added without a tag).
func (s *Store) Image(name string) (Image, error) {
	normalized, err := NormalizeName(name)
	if err != nil {
		return Image{}, err
	}
	data, err := readFile(s.imagePath(normalized))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, fmt.Errorf("image %s is not in the store %s; list images with: box images, or add one with: box import FILE NAME, box load FILE", normalized, s.dir)
	}
	if err != nil {
		return Image{}, fmt.Errorf("read image %s: %w", normalized, err)
	}
	var img Image
	if err := decodeImage(data, &img); err != nil {
		return Image{}, fmt.Errorf("read image %s: %w", normalized, err)
	}
	return img, nil
}

// HasLayer tells whether the layer with this diff_id is wholly in the
// store, so a pull need not fetch it.
func (s *Store) HasLayer(digest string) bool {
	_, err := s.layer(digest)
	return err == nil
}

// Add runs add with the store ready and its lock held shared, as load
// does; when add fails, the layers it reported new in added that no image
// names are removed again, so a failed pull leaves the store as it was.
func (s *Store) Add(add func(added *[]string) error) (err error) {
	unlock, err := s.beginAdding()
	if err != nil {
		return err
	}
	var added []string
	defer func() { unlock(); s.undoAdding(err, added) }()
	return add(&added)
}

// Images lists the store's images by name; a store not made yet has none.
func (s *Store) Images() ([]Image, error) {
	entries, err := os.ReadDir(s.imagesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var imgs []Image
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var img Image
		data, err := os.ReadFile(filepath.Join(s.imagesDir(), e.Name()))
		if err == nil {
			err = decodeImage(data, &img)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", e.Name(), err)
		}
		imgs = append(imgs, img)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	return imgs, nil
}

// SaveImage writes the image's JSON file, atomically: a reader sees the
// old file or the new one, never half of one.
func (s *Store) SaveImage(img Image) error {
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return fmt.Errorf("save image %s: %w", img.Name, err)
	}
	return s.writeFileAtomic(s.imagePath(img.Name), append(data, '\n'))
}

// writeFileAtomic writes data to a temporary file and renames it to name.
func (s *Store) writeFileAtomic(name string, data []byte) error {
	tmp, err := s.newTemp("file")
	if err != nil {
		return err
	}
	narrate.Explain(narrate.Layers, "Write %s whole: into a new file of tmp, renamed into place, so a reader sees the old file or the new one.", name)
	if err := sys.WriteNewFile(tmp, data, 0o600); err != nil {
		_ = sys.Unlink(tmp)
		return err
	}
	if err := sys.Rename(tmp, name); err != nil {
		_ = sys.Unlink(tmp)
		return err
	}
	return nil
}

// newTemp names a path in the store's tmp dir. The name carries our pid
// and its start time, so removeStaleTemp can tell what a killed runtime
// left from work another runtime is doing right now.
func (s *Store) newTemp(kind string) (string, error) {
	pid := os.Getpid()
	start, err := state.ProcessStart(pid)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.tmpDir(), fmt.Sprintf("%d-%d-%s-%s", pid, start, kind, randomHex(6))), nil
}

// removeStaleTemp removes what killed runtimes left in tmp.
func (s *Store) removeStaleTemp() error {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("list %s: %w", s.tmpDir(), err)
	}
	for _, e := range entries {
		parts := strings.SplitN(e.Name(), "-", 3)
		if len(parts) == 3 && ownerAlive(parts[0], parts[1]) {
			continue
		}
		p := filepath.Join(s.tmpDir(), e.Name())
		narrate.Explain(narrate.Layers, "Remove %s, left behind by a runtime that is gone.", p)
		if err := sys.RemoveAll(p); err != nil {
			return fmt.Errorf("remove stale %s: %w", p, err)
		}
	}
	return nil
}

// ownerAlive tells whether the process with this pid and start time (as
// text) still runs: the start time tells a reused pid from the original.
func ownerAlive(pidText, startText string) bool {
	pid, err1 := strconv.Atoi(pidText)
	start, err2 := strconv.ParseUint(startText, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	now, err := state.ProcessStart(pid)
	return err == nil && now == start
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux (getrandom(2)); a fixed name
		// would only make the rename that follows fail loudly.
		return strings.Repeat("0", 2*n)
	}
	return hex.EncodeToString(b)
}
