package image

// export.go gives an image back as files, for push: each layer as a tar
// written from its extracted dir, and a config naming those tars.

import (
	"fmt"
	"io"
)

// WriteLayerTar writes the stored layer with this digest as a tar to w:
// overlayfs whiteouts and opaque dirs become OCI ones again. The tar is
// written the way build writes layers (path order, numeric owners, epoch
// times), so it is the same each time, but not byte for byte the tar the
// layer came from: its digest is what the config of a pushed image names.
func (s *Store) WriteLayerTar(digest string, w io.Writer) error {
	if !s.HasLayer(digest) {
		return fmt.Errorf("layer %s is not in the store %s", digest, s.dir)
	}
	lw := newLayerWriter(w, nil)
	if err := lw.addUpper(s.LayerDir(digest)); err != nil {
		return fmt.Errorf("write layer %s as a tar: %w", digest, err)
	}
	return lw.Close()
}

// ConfigWith is the config JSON of img with these layer digests (the
// diff_ids of the tars WriteLayerTar wrote), and its digest.
func (img Image) ConfigWith(diffIDs []string) (data []byte, digest string, err error) {
	if len(diffIDs) != len(img.Layers) {
		return nil, "", fmt.Errorf("image %s has %d layers, not %d", img.Name, len(img.Layers), len(diffIDs))
	}
	c := img
	c.Layers = make([]Layer, len(diffIDs))
	for i, d := range diffIDs {
		c.Layers[i] = Layer{Digest: d, Size: img.Layers[i].Size}
	}
	if data, err = c.configJSON(); err != nil {
		return nil, "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	return data, digestOf(data), nil
}
