package registry

// push.go sends a stored image to a registry: each layer written back
// into a tar from its extracted dir and gzipped, then the config that
// names those tars, then an OCI manifest under the tag. Blobs the
// registry has already are not uploaded again.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"box/final/internal/image"
	"box/final/internal/narrate"
)

// pushedLayer is a layer ready to upload: a gzipped tar in a temp file.
type pushedLayer struct {
	file   string
	digest string // of the gzipped bytes: the blob
	size   int64
	diffID string // of the tar
}

// Push uploads img to the repository and tag of ref, and returns the
// manifest's digest.
func Push(ctx context.Context, s *image.Store, img image.Image, ref image.Reference, opts Options) (string, error) {
	if ref.Digest != "" {
		return "", fmt.Errorf("push %s: a push names a tag, not a digest: the registry computes the digest", ref.Familiar())
	}
	c, err := New(ref, opts)
	if err != nil {
		return "", err
	}
	what := "push " + ref.Familiar()
	var layers []pushedLayer
	defer func() {
		for _, l := range layers {
			os.Remove(l.file)
		}
	}()
	// Hold the store's lock shared while the layers are read: rmi waits.
	err = s.Add(func(*[]string) error {
		for i, l := range img.Layers {
			narrate.Explain(narrate.Layers, "Write layer %d of %d (%s) back into a tar, gzipped, hashing both.", i+1, len(img.Layers), image.ShortDigest(l.Digest))
			pl, err := gzipLayer(s, l.Digest)
			if pl.file != "" {
				layers = append(layers, pl)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			narrate.Line(fmt.Sprintf("sha256(tar) = %s, sha256(tar.gz) = %s, %s", pl.diffID, pl.digest, image.HumanSize(pl.size)))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.diffID
	}
	config, configDigest, err := img.ConfigWith(diffIDs)
	if err != nil {
		return "", err
	}
	narrate.Explain(narrate.Layers, "Push to %s: each blob unless the registry has it (HEAD), then the manifest under the tag %s.", c.Describe(), ref.Tag)
	manifest := Manifest{SchemaVersion: 2, MediaType: MediaOCIManifest,
		Config: Descriptor{MediaType: MediaOCIConfig, Digest: configDigest, Size: int64(len(config))}}
	for _, l := range layers {
		manifest.Layers = append(manifest.Layers, Descriptor{MediaType: MediaOCILayerGzip, Digest: l.digest, Size: l.size})
		if err := c.pushBlob(ctx, l.digest, l.size, func() (io.ReadCloser, error) { return os.Open(l.file) }); err != nil {
			return "", err
		}
	}
	if err := c.pushBlob(ctx, configDigest, int64(len(config)), func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(config)), nil
	}); err != nil {
		return "", err
	}
	data, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	if err := c.PutManifest(ctx, ref.Tag, MediaOCIManifest, data); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// pushBlob uploads a blob the registry lacks.
func (c *Client) pushBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) error {
	has, err := c.HasBlob(ctx, digest)
	if err != nil || has {
		return err
	}
	return c.UploadBlob(ctx, digest, size, open)
}

// gzipLayer writes a stored layer as a gzipped tar into a temp file.
// gzip's header carries no name or time here, so the same layer gives the
// same blob each time and a second push uploads nothing.
func gzipLayer(s *image.Store, digest string) (pushedLayer, error) {
	f, err := os.CreateTemp("", "box-push-*.tar.gz")
	if err != nil {
		return pushedLayer{}, err
	}
	defer f.Close()
	pl := pushedLayer{file: f.Name()}
	blobHash, tarHash := sha256.New(), sha256.New()
	counted := &counter{w: io.MultiWriter(f, blobHash)}
	zw := gzip.NewWriter(counted)
	if err := s.WriteLayerTar(digest, io.MultiWriter(zw, tarHash)); err != nil {
		return pl, err
	}
	if err := zw.Close(); err != nil {
		return pl, err
	}
	if err := f.Close(); err != nil {
		return pl, err
	}
	pl.digest = "sha256:" + hex.EncodeToString(blobHash.Sum(nil))
	pl.diffID = "sha256:" + hex.EncodeToString(tarHash.Sum(nil))
	pl.size = counted.n
	return pl, nil
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
