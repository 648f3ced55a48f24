package registry

// pull.go brings an image from a registry into the store: the manifest
// (through an index, for the platform wanted), the config, then the layers
// the store lacks, downloaded side by side, each verified against its
// digest, then extracted in order. The image is listed only once all of
// its layers are stored: an interrupted pull leaves no half image.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"box/final/internal/image"
	"box/final/internal/narrate"
)

// parallel is how many layers download at once, as docker's default
// max-concurrent-downloads (3).
const parallel = 3

// configFile is the part of an image config that a pull keeps.
type configFile struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Variant      string          `json:"variant"`
	Config       image.Config    `json:"config"`
	Created      time.Time       `json:"created"`
	History      []image.History `json:"history"`
	RootFS       struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// Pull stores the image ref names, as ref.Familiar(). progress and
// terminal say where and how to show the downloads.
func Pull(ctx context.Context, s *image.Store, ref image.Reference, opts Options, progress *os.File, terminal bool) (image.Image, error) {
	c, err := New(ref, opts)
	if err != nil {
		return image.Image{}, err
	}
	what := "pull " + ref.Familiar()
	narrate.Explain(narrate.Layers, "Pull %s from %s (distribution API v2): first its manifest, named by %s.", ref, c.Describe(), ref.Object())
	m, digest, err := c.FetchManifest(ctx, ref.Object())
	if err != nil {
		return image.Image{}, err
	}
	if isIndex(m.MediaType) {
		d, err := c.ChoosePlatform(m, opts.Platform)
		if err != nil {
			return image.Image{}, err
		}
		narrate.Explain(narrate.Layers, "That is an index of %d platforms: take the manifest for %s, by its digest, so the registry cannot swap it.", len(m.Manifests), d.Platform)
		if m, digest, err = c.FetchManifest(ctx, d.Digest); err != nil {
			return image.Image{}, err
		}
		if !isManifest(m.MediaType) {
			return image.Image{}, fmt.Errorf("%s: the index points at another index (%s), not at an image manifest", what, m.MediaType)
		}
	}
	if err := checkMediaTypes(m, what); err != nil {
		return image.Image{}, err
	}
	narrate.Explain(narrate.Layers, "The manifest %s names a config and %s; fetch the config, which lists each layer's diff_id.", image.ShortDigest(digest), image.Plural(len(m.Layers), "layer"))
	raw, err := c.FetchBlob(ctx, m.Config, "config")
	if err != nil {
		return image.Image{}, fmt.Errorf("%s: %w", what, err)
	}
	var cfg configFile
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&cfg); err != nil {
		return image.Image{}, fmt.Errorf("%s: its config is not JSON: %w", what, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return image.Image{}, fmt.Errorf("%s: the config lists %d layers, the manifest %d", what, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	for _, d := range cfg.RootFS.DiffIDs {
		if !image.ValidDigest(d) {
			return image.Image{}, fmt.Errorf("%s: layer digest %q in the config is not sha256:<64 hex digits>", what, d)
		}
	}
	img := image.Image{Name: ref.Familiar(), ID: m.Config.Digest, Config: cfg.Config, History: cfg.History, Created: cfg.Created}
	err = s.Add(func(added *[]string) error {
		downloads := filepath.Join(s.Dir(), "downloads")
		if err := os.MkdirAll(downloads, 0o700); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		files, err := c.downloadLayers(ctx, s, m, cfg, downloads, progress, terminal)
		if err != nil {
			return err
		}
		for i, d := range m.Layers {
			lwhat := fmt.Sprintf("layer %d of %d of %s", i+1, len(m.Layers), ref.Familiar())
			// A pull of the same image at the same time may have
			// extracted the layer and removed its download already.
			if _, err := os.Stat(files[i]); files[i] != "" && err != nil && s.HasLayer(cfg.RootFS.DiffIDs[i]) {
				files[i] = ""
			}
			if files[i] == "" {
				l, _, err := s.AddLayer(strings.NewReader(""), cfg.RootFS.DiffIDs[i], lwhat)
				if err != nil {
					return err
				}
				img.Layers = append(img.Layers, l)
				continue
			}
			f, err := os.Open(files[i])
			if err != nil {
				return fmt.Errorf("%s: %w", lwhat, err)
			}
			l, isNew, err := s.AddLayer(f, cfg.RootFS.DiffIDs[i], lwhat+" ("+image.ShortDigest(d.Digest)+")")
			f.Close()
			if err != nil {
				return err
			}
			if isNew {
				*added = append(*added, l.Digest)
			}
			img.Layers = append(img.Layers, l)
		}
		narrate.Explain(narrate.Layers, "Every layer is stored: list the image as %s, with one atomic write.", img.Name)
		if err := s.SaveImage(img); err != nil {
			return err
		}
		// The downloads served their purpose: the layers are extracted.
		for _, f := range files {
			if f != "" {
				_ = removeIfExists(f)
			}
		}
		return nil
	})
	return img, err
}

// checkMediaTypes refuses, before anything is downloaded, an image whose
// config or layers box cannot use.
func checkMediaTypes(m Manifest, what string) error {
	switch m.Config.MediaType {
	case MediaOCIConfig, MediaDockerConfig:
	default:
		return fmt.Errorf("%s: its config has media type %q: not a container image (an artifact, a chart, a signature?); box runs OCI and docker images", what, m.Config.MediaType)
	}
	for i, l := range m.Layers {
		switch {
		case l.MediaType == MediaOCILayerGzip, l.MediaType == MediaDockerLayer, l.MediaType == MediaOCILayer:
		case strings.HasSuffix(l.MediaType, "+zstd") || strings.HasSuffix(l.MediaType, ".zstd"):
			return fmt.Errorf("%s: layer %d is zstd-compressed (%s), which box does not unpack; pull a gzip variant of the image (copy it with skopeo copy --dest-compress-format gzip)", what, i+1, l.MediaType)
		default:
			return fmt.Errorf("%s: layer %d has media type %q, which box does not unpack; it reads tar and tar+gzip layers", what, i+1, l.MediaType)
		}
		if !image.ValidDigest(l.Digest) {
			return fmt.Errorf("%s: layer %d's digest %q is not sha256:<64 hex digits>", what, i+1, l.Digest)
		}
		if l.Size < 0 {
			return fmt.Errorf("%s: layer %d has a negative size", what, i+1)
		}
	}
	return nil
}

// downloadLayers downloads the layers the store lacks, parallel at a
// time, into downloads/HEX; it returns the files, "" for a layer stored
// already. The first failure stops the others.
func (c *Client) downloadLayers(ctx context.Context, s *image.Store, m Manifest, cfg configFile, downloads string, out *os.File, terminal bool) ([]string, error) {
	files := make([]string, len(m.Layers))
	var ids []string
	for i, d := range m.Layers {
		if s.HasLayer(cfg.RootFS.DiffIDs[i]) {
			continue
		}
		files[i] = filepath.Join(downloads, strings.TrimPrefix(d.Digest, "sha256:"))
		ids = append(ids, image.ShortDigest(d.Digest))
	}
	p := NewProgress(out, terminal && !narrate.Enabled(), ids)
	defer Stop(p)
	for i, d := range m.Layers {
		if files[i] == "" {
			narrate.Explain(narrate.Layers, "Layer %d (diff_id %s) is in the store already: not fetched.", i+1, image.ShortDigest(cfg.RootFS.DiffIDs[i]))
			p.Done(image.ShortDigest(d.Digest), "already stored")
		}
	}
	if len(ids) > 0 {
		narrate.Explain(narrate.Layers, "Fetch %s, %d at a time, into %s; each is hashed as it streams and checked before it is used.", image.Plural(len(ids), "layer"), parallel, downloads)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(m.Layers))
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, d := range m.Layers {
		if files[i] == "" {
			continue
		}
		wg.Add(1)
		go func(i int, d Descriptor) {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-slots }()
			what := fmt.Sprintf("layer %d of %d (%s)", i+1, len(m.Layers), image.ShortDigest(d.Digest))
			if errs[i] = c.DownloadBlob(ctx, d, files[i], what, p); errs[i] != nil {
				cancel()
			}
		}(i, d)
	}
	wg.Wait()
	// The first real failure, not the cancellations it caused.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || strings.Contains(first.Error(), "context canceled")) {
			first = err
		}
	}
	if first != nil {
		// A download cut short stays for the next pull to resume; after
		// a corrupt blob nothing of this pull is kept.
		var corrupt corruptError
		if errors.As(first, &corrupt) {
			for _, f := range files {
				if f != "" {
					_ = removeIfExists(f)
					_ = removeIfExists(f + ".partial")
				}
			}
		}
		return nil, fmt.Errorf("pull %s: %w", c.ref.Familiar(), first)
	}
	return files, nil
}
