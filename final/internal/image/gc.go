package image

// gc.go removes images, and the layers no image needs any more.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// RemoveImage forgets the image name, then deletes the layers that no
// image has any more and that are not pinned (by a container that still
// runs on them): its own, and any left by an earlier rmi -f. It returns
// the deleted layers' digests.
func (s *Store) RemoveImage(name string, pinned map[string]bool) (Image, []string, error) {
	img, err := s.Image(name)
	if err != nil {
		return Image{}, nil, err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return Image{}, nil, err
	}
	defer unlock()
	narrate.Explain(narrate.Layers, "Forget image %s: remove %s.", img.Name, s.imagePath(img.Name))
	if err := sys.Unlink(s.imagePath(img.Name)); err != nil {
		return Image{}, nil, fmt.Errorf("remove image %s: %w", img.Name, err)
	}
	all, err := s.allLayers()
	if err != nil {
		return Image{}, nil, err
	}
	deleted, err := s.removeUnusedLayers(all, pinned)
	return img, deleted, err
}

// allLayers lists the digests of the layers in the store.
func (s *Store) allLayers() ([]string, error) {
	entries, err := os.ReadDir(s.layersDir())
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	var digests []string
	for _, e := range entries {
		if e.IsDir() {
			digests = append(digests, "sha256:"+e.Name())
		}
	}
	return digests, nil
}

// removeUnusedLayers deletes the candidate layers that no image names and
// nobody pinned, with their shifted copies. The caller holds the store's
// lock exclusive: no layer is being added or mounted meanwhile.
func (s *Store) removeUnusedLayers(candidates []string, pinned map[string]bool) ([]string, error) {
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, img := range imgs {
		for _, d := range img.Digests() {
			used[d] = true
		}
	}
	var deleted []string
	seen := map[string]bool{}
	for _, d := range candidates {
		if seen[d] || used[d] || pinned[d] || !ValidDigest(d) {
			continue
		}
		seen[d] = true
		copies, _ := filepath.Glob(filepath.Join(s.shiftedDir(), "*", strings.TrimPrefix(d, "sha256:")))
		sort.Strings(copies)
		var ranges []string
		for _, c := range copies {
			ranges = append(ranges, filepath.Base(filepath.Dir(c)))
		}
		narrate.Explain(narrate.Layers, "Delete layer %s: no image has it any more. First its short links, then each of its dirs moved whole into tmp and removed there, so a deletion cut short leaves no half layer where a whole one is expected.", ShortDigest(d))
		if err := s.removeLinks(d, ranges); err != nil {
			return deleted, fmt.Errorf("delete layer %s: %w", d, err)
		}
		for _, p := range append(copies, s.LayerDir(d)) {
			if err := s.removeTree(p); err != nil {
				return deleted, fmt.Errorf("delete layer %s: %w", d, err)
			}
		}
		if err := sys.Unlink(s.LayerDir(d) + ".json"); err != nil {
			return deleted, fmt.Errorf("delete layer %s: %w", d, err)
		}
		deleted = append(deleted, d)
	}
	if len(deleted) > 0 {
		if err := s.forgetImported(deleted); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// removeTree moves the tree at p into tmp, whole, and removes it there:
// until the rename, p is whole; after it, what is left is work in
// progress of a runtime that, if killed, removeStaleTemp finishes.
func (s *Store) removeTree(p string) error {
	tmp, err := s.newTemp("delete")
	if err != nil {
		return err
	}
	if err := sys.Rename(p, tmp); err != nil {
		return err
	}
	return sys.RemoveAll(tmp)
}

// forgetImported removes the records of imported files (imported.go) that
// name a deleted layer.
func (s *Store) forgetImported(deleted []string) error {
	gone := map[string]bool{}
	for _, d := range deleted {
		gone[d] = true
	}
	entries, err := os.ReadDir(s.importedDir())
	if err != nil {
		return nil // none imported yet
	}
	for _, e := range entries {
		p := filepath.Join(s.importedDir(), e.Name())
		b, err := os.ReadFile(p)
		if err == nil && gone[strings.TrimSpace(string(b))] {
			if err := sys.Unlink(p); err != nil {
				return fmt.Errorf("delete %s: %w", p, err)
			}
		}
	}
	return nil
}
