package image

// imported.go remembers which layer each imported file became, by the
// sha256 of the file as it is (compressed or not), so importing a tarball
// the store has already takes one read of it and no space: without this,
// the store would learn the layer's digest only by unpacking it all into
// its tmp dir, which needs the layer's whole size free. The same bytes
// always unpack to the same layer, so a record is never wrong; one whose
// layer was removed since (rmi) is only not used.
//
//	STORE/layers/imported/HEX   the digest of the layer the file HEX became

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
)

func (s *Store) importedDir() string { return filepath.Join(s.dir, "layers", "imported") }

// importedBefore hashes the regular file f and looks for the layer it
// became before; f is back at its start afterwards. fileDigest is "" for
// what cannot be read twice (a pipe): then it always unpacks.
func (s *Store) importedBefore(f *os.File, info fs.FileInfo, what string) (l Layer, found bool, fileDigest string, err error) {
	if !info.Mode().IsRegular() {
		return Layer{}, false, "", nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Layer{}, false, "", fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Layer{}, false, "", fmt.Errorf("read %s: %w", f.Name(), err)
	}
	fileDigest = hex.EncodeToString(h.Sum(nil))
	b, err := os.ReadFile(filepath.Join(s.importedDir(), fileDigest))
	if err != nil {
		return Layer{}, false, fileDigest, nil
	}
	digest := strings.TrimSpace(string(b))
	if !ValidDigest(digest) {
		return Layer{}, false, fileDigest, nil
	}
	if l, err = s.layer(digest); err != nil {
		return Layer{}, false, fileDigest, nil
	}
	narrate.Explain(narrate.Layers, "%s (sha256:%s) was imported before as layer %s, which is in the store: nothing to unpack.", what, fileDigest[:12], ShortDigest(digest))
	return l, true, fileDigest, nil
}

// recordImported remembers that the file with this digest became layer.
func (s *Store) recordImported(fileDigest, layer string) error {
	if fileDigest == "" {
		return nil
	}
	if err := mkdirAll(s.importedDir(), 0o700); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return s.writeFileAtomic(filepath.Join(s.importedDir(), fileDigest), []byte(layer+"\n"))
}
