package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// layerInfo is what the store keeps beside a layer's dir, in HEX.json.
type layerInfo struct {
	Size int64 `json:"size"` // bytes of the uncompressed tar
}

// layer reads what the store knows of an extracted layer; it fails if the
// layer is not (wholly) in the store.
func (s *Store) layer(digest string) (Layer, error) {
	if _, err := os.Stat(s.LayerDir(digest)); err != nil {
		return Layer{}, err
	}
	data, err := os.ReadFile(s.LayerDir(digest) + ".json")
	if err != nil {
		return Layer{}, err
	}
	var info layerInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", digest, err)
	}
	return Layer{Digest: digest, Size: info.Size}, nil
}

// AddLayer stores one layer tar, plain or gzipped, read from r: it
// extracts it into a new dir of tmp while hashing it, then renames the dir
// to the digest, so the layer appears whole or not at all. When want, the
// digest an image's config promises, is in the store already, nothing is
// read: content addressing extracts a layer once. what names the layer in
// messages; isNew says whether the store did not have the layer before.
// The caller holds the store's lock, shared.
func (s *Store) AddLayer(r io.Reader, want, what string) (l Layer, isNew bool, err error) {
	if want != "" {
		if l, err := s.layer(want); err == nil {
			narrate.Explain(narrate.Layers, "Layer %s (%s) is in the store already: content addressing extracts it once.", ShortDigest(want), what)
			_, err := s.addLink(want, nil) // gone if a runtime was killed before it made it
			return l, false, err
		}
	}
	plain, err := decompress(r)
	if err != nil {
		return Layer{}, false, fmt.Errorf("%s: %w", what, err)
	}
	tree, err := s.newTemp("layer")
	if err != nil {
		return Layer{}, false, err
	}
	narrate.Explain(narrate.Layers, "Extract %s into %s, translating OCI whiteouts into overlayfs ones.", what, tree)
	x := newExtractor(tree)
	if err := x.tree.Mkdir(tree, 0o755); err != nil {
		x.tree.Done()
		return Layer{}, false, err
	}
	stored := false
	defer func() {
		if !stored {
			_ = sys.RemoveAll(tree)
		}
	}()
	hash := sha256.New()
	src := &readErrors{r: plain}
	counted := &countingReader{r: io.TeeReader(src, hash)}
	err = x.extractLayer(counted)
	x.tree.Done()
	if err != nil {
		return Layer{}, false, damagedInput(what, err, src.err, counted.n > tarBlock)
	}
	// The digest covers the whole stream, up to the zero blocks after the
	// last entry, which the tar reader leaves unread.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return Layer{}, false, damagedInput(what, err, src.err, true)
	}
	l = Layer{Digest: "sha256:" + hex.EncodeToString(hash.Sum(nil)), Size: counted.n}
	if want != "" && l.Digest != want {
		return Layer{}, false, fmt.Errorf("%s: its content has digest %s, but the image's config says %s; the archive is corrupt", what, l.Digest, want)
	}
	if existing, err := s.layer(l.Digest); err == nil {
		narrate.Explain(narrate.Layers, "Layer %s (%s) is in the store already: content addressing keeps one copy.", ShortDigest(l.Digest), what)
		_, err := s.addLink(l.Digest, nil)
		return existing, false, err
	}
	if other := s.linkTaken(l.Digest, nil); other != "" {
		return Layer{}, false, s.collision(l.Digest, other)
	}
	data, err := json.Marshal(layerInfo{Size: l.Size})
	if err != nil {
		return Layer{}, false, err
	}
	if err := s.writeFileAtomic(s.LayerDir(l.Digest)+".json", data); err != nil {
		return Layer{}, false, err
	}
	narrate.Explain(narrate.Layers, "Rename it to %s: the layer appears whole or not at all.", s.LayerDir(l.Digest))
	if err := sys.Rename(tree, s.LayerDir(l.Digest)); err != nil {
		if _, statErr := os.Stat(s.LayerDir(l.Digest)); statErr == nil {
			// Another runtime stored the same layer meanwhile.
			_, err := s.addLink(l.Digest, nil)
			return l, false, err
		}
		return Layer{}, false, fmt.Errorf("store layer %s: %w", l.Digest, err)
	}
	stored = true
	if _, err := s.addLink(l.Digest, nil); err != nil {
		return l, true, err
	}
	return l, true, nil
}

// readErrors remembers the first error, other than the end, of reading
// the input: an error there is the input's fault (a truncated download, a
// damaged gzip stream), not the store's, whatever the extraction was
// doing when it came.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// tarBlock is the size of a tar header: input that ends or goes wrong
// within the first is no tar at all, rather than a damaged one.
const tarBlock = 512

// damagedInput says that what is truncated or corrupt, naming it, when
// err came from reading it (readErr) or, once a tar was recognized
// (isTar), from a tar cut short or garbled; other errors keep their own
// words.
func damagedInput(what string, err, readErr error, isTar bool) error {
	cause := readErr
	if cause == nil && isTar && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader)) {
		cause = err
	}
	if cause == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(cause, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s is truncated: it ends in the middle of its data; get it again whole", what)
	}
	return fmt.Errorf("%s is corrupt (%v); get it again", what, unwrapAll(cause))
}

// unwrapAll is the innermost error, without the paths that wrap it.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
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

// compressedMagic are the compressions recognized but not unpacked.
var compressedMagic = []struct{ magic, tool string }{
	{"\xfd7zXZ\x00", "xz"},
	{"\x28\xb5\x2f\xfd", "zstd"},
	{"BZh", "bzip2"},
}

// decompress looks at the first bytes, not the file name, to tell gzip
// from a plain tar: docker export writes a plain tar whatever it is called.
// A plain stream comes back as a *bufio.Reader.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	if bytes.HasPrefix(magic, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(br)
	}
	for _, c := range compressedMagic {
		if bytes.HasPrefix(magic, []byte(c.magic)) {
			return nil, fmt.Errorf("the archive is %s-compressed; unpack it first (%s -d) or give a tar or tar.gz", c.tool, c.tool)
		}
	}
	return br, nil
}
