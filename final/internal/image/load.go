package image

// load.go brings images into the store, offline: a rootfs tarball as a
// one-layer image (import), and the images of a docker save archive or an
// OCI image layout (load).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Import stores the rootfs tarball file (plain or gzipped, like an alpine
// minirootfs or a docker export) as the one-layer image name.
func (s *Store) Import(file, name string) (img Image, err error) {
	name, err = NormalizeName(name)
	if err != nil {
		return Image{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return Image{}, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Image{}, fmt.Errorf("import: %w", err)
	}
	if info.Mode().IsRegular() && info.Size() == 0 {
		return Image{}, fmt.Errorf("import: %s is empty (0 bytes): give a root filesystem tarball, like one docker export or an alpine minirootfs", file)
	}
	unlock, err := s.beginAdding()
	if err != nil {
		return Image{}, err
	}
	var added []string
	defer func() { unlock(); s.undoAdding(err, added) }()
	what := "the rootfs tarball " + file
	l, found, fileDigest, err := s.importedBefore(f, info, what)
	if err != nil {
		return Image{}, err
	}
	if !found {
		var isNew bool
		if l, isNew, err = s.AddLayer(f, "", what); err != nil {
			return Image{}, err
		}
		if isNew {
			added = append(added, l.Digest)
		}
		if err := s.recordImported(fileDigest, l.Digest); err != nil {
			return Image{}, err
		}
	}
	now := time.Now().UTC()
	img = Image{Name: name, Layers: []Layer{l}, Created: now,
		History: []History{{Created: now.Format(time.RFC3339), CreatedBy: "box import " + filepath.Base(file)}}}
	if err := img.setID(); err != nil {
		return Image{}, err
	}
	return img, s.SaveImage(img)
}

// Load stores the images of a docker save archive or an OCI image layout
// (a directory, or a tar of one), under the names the archive gives, or
// under name if given, when the archive holds one image.
func (s *Store) Load(file, name string) (loaded []Image, err error) {
	if name != "" {
		if name, err = NormalizeName(name); err != nil {
			return nil, err
		}
	}
	unlock, err := s.beginAdding()
	if err != nil {
		return nil, err
	}
	var added []string
	defer func() { unlock(); s.undoAdding(err, added) }()
	a, err := s.openArchive(file)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	found, err := archiveImages(a, file)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s holds no image", file)
	}
	if name != "" && len(found) > 1 {
		return nil, fmt.Errorf("%s holds %d images; load it without a NAME to keep the names it gives", file, len(found))
	}
	// Every blob is checked before any is used (verify.go): a corrupt
	// archive leaves the store as it was.
	for _, ai := range found {
		if err := s.verifyImage(a, file, ai); err != nil {
			return nil, err
		}
	}
	for _, ai := range found {
		names := ai.names
		if name != "" {
			names = []string{name}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s names no image; give it a name: box load %s NAME", file, file)
		}
		for i := range names {
			if names[i], err = NormalizeName(names[i]); err != nil {
				return nil, err
			}
		}
		img, err := s.loadImage(a, ai, names[0], &added)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			img.Name = n
			if err := s.SaveImage(img); err != nil {
				return nil, err
			}
			loaded = append(loaded, img)
		}
	}
	return loaded, nil
}

// beginAdding readies the store and takes its lock shared, so rmi cannot
// delete a layer between its extraction and the image that names it.
func (s *Store) beginAdding() (unlock func(), err error) {
	if err := s.Init(); err != nil {
		return nil, err
	}
	if unlock, err = s.lock(false); err != nil {
		return nil, err
	}
	if err := s.removeStaleTemp(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// undoAdding removes, after a failure, the layers this command added that
// no image names: refused input leaves the store as it was.
func (s *Store) undoAdding(err error, added []string) {
	if err == nil || len(added) == 0 {
		return
	}
	unlock, lockErr := s.lock(true)
	if lockErr != nil {
		return
	}
	defer unlock()
	_, _ = s.removeUnusedLayers(added, nil)
}

// imageConfigFile is the image config JSON docker and OCI share, as far
// as it is read here.
type imageConfigFile struct {
	Config  Config    `json:"config"`
	Created time.Time `json:"created"`
	History []History `json:"history"`
	RootFS  struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// loadImage stores the layers of one image of an archive; it returns the
// image, not yet saved. added collects the layers that were new.
func (s *Store) loadImage(a archive, ai archiveImage, name string, added *[]string) (Image, error) {
	raw, err := readVerified(a, a.label(), ai.config, 16<<20)
	if err != nil {
		return Image{}, err
	}
	var cfg imageConfigFile
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&cfg); err != nil {
		return Image{}, fmt.Errorf("image %s: its config %s: %w", name, ai.config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(ai.layers) {
		return Image{}, fmt.Errorf("image %s: the config lists %d layers, the manifest %d", name, len(cfg.RootFS.DiffIDs), len(ai.layers))
	}
	img := Image{Name: name, ID: digestOf(raw), Config: cfg.Config, History: cfg.History, Created: cfg.Created}
	for i, member := range ai.layers {
		diffID := cfg.RootFS.DiffIDs[i]
		if !ValidDigest(diffID) {
			return Image{}, fmt.Errorf("image %s: layer digest %q is not sha256:<64 hex digits>", name, diffID)
		}
		r, err := a.open(member)
		if err != nil {
			return Image{}, err
		}
		// Hash the blob again as it is extracted: a layout directory may
		// change between verifyImage and now.
		h := sha256.New()
		l, isNew, err := s.AddLayer(io.TeeReader(r, h), diffID, fmt.Sprintf("layer %d of %d of %s", i+1, len(ai.layers), name))
		if err == nil && isNew {
			*added = append(*added, l.Digest)
			if want, ok := digestInName(member); ok {
				_, err = io.Copy(h, r)
				if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); err == nil && got != want {
					err = corrupt(a.label(), member, got, want)
				}
			}
		}
		r.Close()
		if err != nil {
			return Image{}, err
		}
		img.Layers = append(img.Layers, l)
	}
	return img, nil
}
