package image

// verify.go checks an archive's content against the digests that name
// it, before any of it is used: an OCI layout names every blob (index,
// manifest, config, layer) by the sha256 of its bytes, docker save names
// the config HEX.json by its own, and an image's config names each layer
// by the sha256 of its uncompressed tar (diff_id). A blob edited after the
// fact, or damaged, must not load, even when the store holds a layer with
// the same diff_id already and would not need to extract it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// digestInName returns the digest a member's name promises, if any: an
// OCI blob's, blobs/sha256/HEX, or docker save's config, HEX.json.
func digestInName(name string) (string, bool) {
	hexPart, ok := strings.CutPrefix(name, "blobs/sha256/")
	if !ok {
		if hexPart, ok = strings.CutSuffix(name, ".json"); !ok {
			return "", false
		}
	}
	if !ValidDigest("sha256:" + hexPart) {
		return "", false
	}
	return "sha256:" + hexPart, true
}

// corrupt is the one line for content that does not match its digest.
func corrupt(file, member, got, want string) error {
	return fmt.Errorf("%s is corrupt or was edited: %s has digest %s, not %s as its name says; nothing was loaded", file, member, ShortDigest(got), ShortDigest(want))
}

// readVerified reads the archive member name whole (at most limit bytes)
// and checks it against the digest in its name, if it has one.
func readVerified(a archive, file, name string, limit int64) ([]byte, error) {
	r, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if want, ok := digestInName(name); ok {
		if got := digestOf(b); got != want {
			return nil, corrupt(file, name, got, want)
		}
	}
	return b, nil
}

// verifyMember hashes the archive member name, streaming, against the
// digest in its name, if it has one.
func verifyMember(a archive, file, name string) error {
	want, ok := digestInName(name)
	if !ok {
		return nil
	}
	r, err := a.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != want {
		return corrupt(file, name, got, want)
	}
	return nil
}

// verifyDiffID decompresses the layer member name and hashes its tar
// against diffID, without extracting it: for a layer the store has, whose
// copy in the archive must still be what the config says.
func verifyDiffID(a archive, file, name, diffID string) error {
	r, err := a.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	plain, err := decompress(r)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", file, name, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, plain); err != nil {
		return fmt.Errorf("%s is corrupt: %s cannot be read whole (%v); nothing was loaded", file, name, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return fmt.Errorf("%s is corrupt or was edited: %s unpacks to content with digest %s, but the image's config says %s; nothing was loaded",
			file, name, ShortDigest(got), ShortDigest(diffID))
	}
	return nil
}

// verifyImage checks everything of one image of the archive before the
// store takes any of it: the config against its name, each layer blob
// against its name, and each layer the store has already against the
// config's diff_id.
func (s *Store) verifyImage(a archive, file string, ai archiveImage) error {
	raw, err := readVerified(a, file, ai.config, 16<<20)
	if err != nil {
		return err
	}
	var cfg imageConfigFile
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&cfg); err != nil {
		return fmt.Errorf("%s: its config %s: %w", file, ai.config, err)
	}
	for i, member := range ai.layers {
		if err := verifyMember(a, file, member); err != nil {
			return err
		}
		if i >= len(cfg.RootFS.DiffIDs) || !ValidDigest(cfg.RootFS.DiffIDs[i]) {
			continue // loadImage says what is wrong
		}
		if _, err := s.layer(cfg.RootFS.DiffIDs[i]); err == nil {
			if err := verifyDiffID(a, file, member, cfg.RootFS.DiffIDs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
