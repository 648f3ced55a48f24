package image

// archive.go reads the files of an image archive in any order: a docker
// save archive or an OCI image layout, as a directory or as a tar file.
// A tar is read in place: one pass records where each member's data
// starts, then a member is a section of the file. A compressed tar is
// first decompressed into the store's tmp dir.

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"box/final/internal/sys"
)

// archive is a set of named files.
type archive interface {
	open(name string) (io.ReadCloser, error)
	has(name string) bool
	// label is the file or directory the user named, for messages.
	label() string
	Close() error
}

// dirArchive is an unpacked archive: an OCI layout directory.
type dirArchive string

func (d dirArchive) open(name string) (io.ReadCloser, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("%s: %q is not a path inside the archive", string(d), name)
	}
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		return nil, fmt.Errorf("%s: no file %s in the layout (%w)", string(d), name, err)
	}
	return f, nil
}

func (d dirArchive) has(name string) bool {
	if !fs.ValidPath(name) {
		return false
	}
	_, err := os.Stat(filepath.Join(string(d), filepath.FromSlash(name)))
	return err == nil
}

func (d dirArchive) label() string { return string(d) }

func (d dirArchive) Close() error { return nil }

// tarArchive reads the members of an uncompressed tar file in place.
type tarArchive struct {
	file    *os.File
	members map[string]tarMember
	remove  string // a temporary file to remove when done
	what    string // the file the user named
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
		return nil, fmt.Errorf("%s: no file %s in the archive", t.what, name)
	}
	return io.NopCloser(io.NewSectionReader(t.file, m.offset, m.size)), nil
}

func (t *tarArchive) label() string { return t.what }

func (t *tarArchive) has(name string) bool {
	_, ok := t.members[path.Clean(name)]
	return ok
}

func (t *tarArchive) Close() error {
	err := t.file.Close()
	if t.remove != "" {
		_ = sys.Unlink(t.remove)
	}
	return err
}

// openArchive opens a directory as is, and indexes a tar file, first
// decompressing it into the store's tmp dir if it is compressed.
func (s *Store) openArchive(name string) (archive, error) {
	info, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if info.IsDir() {
		return dirArchive(name), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	plain, err := decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &tarArchive{file: f, what: name}
	if _, isPlain := plain.(*bufio.Reader); !isPlain {
		// Compressed: reading members in any order needs a plain copy.
		t.file, t.remove, err = s.decompressToTemp(plain, name)
		f.Close()
		if err != nil {
			return nil, err
		}
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := t.index(); err != nil {
		t.Close()
		if errors.Is(err, io.ErrUnexpectedEOF) && len(t.members) > 0 {
			return nil, damagedInput(name, err, nil, true)
		}
		return nil, fmt.Errorf("%s is not a tar archive or an OCI layout directory (%v)", name, err)
	}
	return t, nil
}

// decompressToTemp copies r to a temporary file and opens it.
func (s *Store) decompressToTemp(r io.Reader, what string) (*os.File, string, error) {
	tmp, err := s.newTemp("archive")
	if err != nil {
		return nil, "", err
	}
	f, err := sys.CreateNew(tmp, 0o600)
	if err != nil {
		return nil, "", err
	}
	src := &readErrors{r: r}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		_ = sys.Unlink(tmp)
		if src.err != nil {
			return nil, "", damagedInput(what, err, src.err, false)
		}
		return nil, "", fmt.Errorf("decompress %s into %s: %w", what, tmp, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		_ = sys.Unlink(tmp)
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
			if len(t.members) == 0 {
				return fmt.Errorf("no files in it")
			}
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

// readJSON decodes the archive member name into v, once checked against
// the digest in its name, if any (verify.go); 16 MB is far more than any
// manifest or config needs.
func readJSON(a archive, name string, v any) error {
	b, err := readVerified(a, a.label(), name, 16<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: read %s: %w", a.label(), name, err)
	}
	return nil
}

// archiveImage is one image an archive holds: where its config and
// layers are inside the archive, and the names it suggests.
type archiveImage struct {
	names  []string
	config string
	layers []string // bottom first
}

// archiveImages finds the images in a docker save archive (manifest.json)
// or an OCI image layout (index.json). Docker 25 and later write both;
// manifest.json is preferred for its names.
func archiveImages(a archive, what string) ([]archiveImage, error) {
	if a.has("manifest.json") {
		return dockerImages(a)
	}
	if a.has("index.json") {
		return ociImages(a)
	}
	return nil, fmt.Errorf("%s is neither a docker save archive (no manifest.json) nor an OCI image layout (no index.json)", what)
}
