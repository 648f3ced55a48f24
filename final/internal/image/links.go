package image

// links.go names every layer by a short link, as docker's overlay2 driver
// does in its l/ dir. An overlay mount takes all its lower dirs in one
// option string, and mount(2) copies one page of it (4096 bytes): the
// full paths of some 37 layers of this store fill it, while 64 short
// names take a quarter of it. The links are made once, when the layer or
// its copy for a user namespace is stored, and removed with it, so a
// container's start makes none, whatever the number of layers:
//
//	STORE/l/sha256/SHORT        -> ../../layers/sha256/HEX
//	STORE/l/HOSTID-SIZE/SHORT   -> ../../shifted/HOSTID-SIZE/HEX
//
// SHORT is the first 16 hex digits of the layer's digest, known from the
// digest alone: a start reads nothing to find it. Two layers whose
// digests begin with the same 16 digits cannot both be stored; the second
// is refused. A link that is missing (a runtime killed between storing a
// layer and linking it, a store made before links existed) makes the
// mount fail with ENOENT, and Mount then makes it (rwlayer.go).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// shortLen is how many hex digits of a digest name its link: 64 bits, so
// that digests that begin alike are never met by chance.
const shortLen = 16

func (s *Store) linksDir() string { return filepath.Join(s.dir, "l") }

// rangeName names an id range's dir: HOSTID-SIZE.
func rangeName(m state.IDMap) string { return fmt.Sprintf("%d-%d", m.HostID, m.Size) }

// linkSet is the dir of the short links of the layers themselves (m nil)
// or of their copies for the id range m.
func (s *Store) linkSet(m *state.IDMap) string {
	if m == nil {
		return filepath.Join(s.linksDir(), "sha256")
	}
	return filepath.Join(s.linksDir(), rangeName(*m))
}

// shortName is the name of a valid digest's link.
func shortName(digest string) string { return strings.TrimPrefix(digest, "sha256:")[:shortLen] }

// linkPath is where the link of the layer (m nil) or of its copy for m is.
func (s *Store) linkPath(digest string, m *state.IDMap) string {
	return filepath.Join(s.linkSet(m), shortName(digest))
}

// linkTarget is what the link says: the layer's dir relative to the link's,
// so a store moved elsewhere keeps working.
func linkTarget(digest string, m *state.IDMap) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if m == nil {
		return filepath.Join("..", "..", "layers", "sha256", hex)
	}
	return filepath.Join("..", "..", "shifted", rangeName(*m), hex)
}

// linkTaken says which other layer holds the short name of digest in
// the set of m, or "" when none does: a link that says another layer's
// dir, which is there.
func (s *Store) linkTaken(digest string, m *state.IDMap) string {
	link := s.linkPath(digest, m)
	have, err := os.Readlink(link)
	if err != nil || have == linkTarget(digest, m) {
		return ""
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(link), have)); err != nil {
		return "" // a link to nothing: left by a deleted layer, replaced
	}
	return "sha256:" + filepath.Base(have)
}

// collision is the error for a layer whose short name another one holds.
func (s *Store) collision(digest, other string) error {
	return fmt.Errorf("layer %s cannot be stored: layer %s has the same first %d hex digits, which name a layer's link in %s; remove the image that has it (box rmi) to store this one",
		digest, other, shortLen, s.linksDir())
}

// addLink makes the short link of a stored layer (m nil) or of its copy
// for m; it is fine if it is there already. It says whether it made one.
// The caller holds the store's lock, shared or exclusive.
func (s *Store) addLink(digest string, m *state.IDMap) (bool, error) {
	link, target := s.linkPath(digest, m), linkTarget(digest, m)
	have, err := os.Readlink(link)
	if err == nil && have == target {
		return false, nil
	}
	if other := s.linkTaken(digest, m); other != "" {
		return false, s.collision(digest, other)
	}
	narrate.Explain(narrate.Layers, "Name layer %s%s by the short link %s, made once: an overlay of many layers is mounted by such names, which fit in the one page of options mount(2) takes.",
		ShortDigest(digest), copyOf(m), link)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		// A link to nothing, left by a layer deleted before it.
		if err := sys.Unlink(link); err != nil {
			return false, err
		}
	}
	if err := mkdirAll(filepath.Dir(link), 0o700); err != nil {
		return false, err
	}
	err = sys.Symlink(target, link)
	if errors.Is(err, unix.EEXIST) {
		// Another runtime made it meanwhile: it must say the same.
		if have, rerr := os.Readlink(link); rerr == nil && have == target {
			return false, nil
		}
		return false, s.collision(digest, "sha256:"+filepath.Base(have))
	}
	return err == nil, err
}

// copyOf says whose copy a link names: "" for the layer itself.
func copyOf(m *state.IDMap) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf(" (its copy for ids from %d)", m.HostID)
}

// removeLinks removes the short links of a layer about to be deleted and
// of its copies (in ranges), if they name it: first, so that a deletion cut
// short leaves a layer without a link, which Mount makes again, rather
// than a link that names nothing. The caller holds the lock exclusive.
func (s *Store) removeLinks(digest string, ranges []string) error {
	sets := []*state.IDMap{nil}
	for _, r := range ranges {
		host, size, _ := strings.Cut(r, "-")
		h, err1 := strconv.ParseUint(host, 10, 32)
		n, err2 := strconv.ParseUint(size, 10, 32)
		if err1 != nil || err2 != nil {
			continue // not a range's dir
		}
		sets = append(sets, &state.IDMap{HostID: uint32(h), Size: uint32(n)})
	}
	for _, m := range sets {
		link := s.linkPath(digest, m)
		if have, err := os.Readlink(link); err != nil || have != linkTarget(digest, m) {
			continue
		}
		if err := sys.Unlink(link); err != nil {
			return err
		}
	}
	return nil
}

// RemoveStaleLinks removes the short links whose layer is gone (deleted
// by hand, or by a runtime of an older box), so that none is taken by
// nothing; box cleanup calls it. It returns what it removed.
func (s *Store) RemoveStaleLinks() ([]string, error) {
	sets, err := os.ReadDir(s.linksDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.linksDir(), err)
	}
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var removed []string
	for _, set := range sets {
		dir := filepath.Join(s.linksDir(), set.Name())
		links, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, l := range links {
			p := filepath.Join(dir, l.Name())
			target, err := os.Readlink(p)
			if err != nil {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, target)); !errors.Is(err, fs.ErrNotExist) {
				continue
			}
			narrate.Explain(narrate.Layers, "Remove the short link %s: the layer it names is gone.", p)
			if err := sys.Unlink(p); err != nil {
				return removed, err
			}
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// completeLayers makes what the layers (digests, bottom first) lack to be
// mounted: with a user namespace (m not nil) their copies for its ids,
// and the short links. A layer that is not in the store at all is an
// error that says how to get it back. The caller holds the store's lock,
// shared.
func (s *Store) completeLayers(digests []string, m *state.IDMap) error {
	for i := len(digests) - 1; i >= 0; i-- {
		d := digests[i]
		if _, err := os.Stat(s.LayerDir(d)); err != nil {
			return fmt.Errorf("layer %s of the image is missing from the store %s; load the image again", d, s.dir)
		}
		if _, err := s.addLink(d, nil); err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if err := s.shiftedLayer(d, *m); err != nil {
			return err
		}
		if _, err := s.addLink(d, m); err != nil {
			return err
		}
	}
	return nil
}
