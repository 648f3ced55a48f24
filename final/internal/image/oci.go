package image

// oci.go reads an OCI image layout (image-spec image-layout.md): an
// oci-layout file, index.json, and blobs/sha256/HEX for everything else,
// each named by its digest. index.json points at image manifests, or at
// image indexes that point at one manifest per platform; a manifest points
// at the image's config and its layers.

import (
	"fmt"
	"runtime"
	"strings"
)

// ociDescriptor points at a blob (image-spec descriptor.md).
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform"`
}

// ociIndex is index.json, or an image index blob (image-spec image-index.md).
type ociIndex struct {
	MediaType string          `json:"mediaType"`
	Manifests []ociDescriptor `json:"manifests"`
}

// ociManifest is one image's manifest (image-spec manifest.md).
type ociManifest struct {
	Config ociDescriptor   `json:"config"`
	Layers []ociDescriptor `json:"layers"`
}

// ociImages follows index.json to each image manifest, choosing this
// machine's platform from a multi-platform index.
func ociImages(a archive) ([]archiveImage, error) {
	var index ociIndex
	if err := readJSON(a, "index.json", &index); err != nil {
		return nil, err
	}
	var imgs []archiveImage
	for _, d := range index.Manifests {
		var names []string
		if name := d.Annotations["io.containerd.image.name"]; name != "" {
			names = append(names, name)
		} else if ref := d.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(ref, ":/") {
			names = append(names, ref) // a bare "latest" is only a tag
		}
		manifest, err := ociManifestFor(a, d, 0)
		if err != nil {
			return nil, err
		}
		if !ValidDigest(manifest.Config.Digest) {
			return nil, fmt.Errorf("image manifest: config digest %q is not sha256:<64 hex digits>", manifest.Config.Digest)
		}
		img := archiveImage{names: names, config: blobPath(manifest.Config.Digest)}
		for _, l := range manifest.Layers {
			if !ValidDigest(l.Digest) {
				return nil, fmt.Errorf("image manifest: layer digest %q is not sha256:<64 hex digits>", l.Digest)
			}
			img.layers = append(img.layers, blobPath(l.Digest))
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// ociManifestFor reads the manifest d points at, descending through image
// indexes to the one for this machine.
func ociManifestFor(a archive, d ociDescriptor, depth int) (ociManifest, error) {
	if !ValidDigest(d.Digest) {
		return ociManifest{}, fmt.Errorf("descriptor digest %q is not sha256:<64 hex digits>", d.Digest)
	}
	isIndex := strings.Contains(d.MediaType, "image.index") || strings.Contains(d.MediaType, "manifest.list")
	if !isIndex {
		var m ociManifest
		return m, readJSON(a, blobPath(d.Digest), &m)
	}
	var index ociIndex
	if err := readJSON(a, blobPath(d.Digest), &index); err != nil {
		return ociManifest{}, err
	}
	if depth > 4 || len(index.Manifests) == 0 {
		return ociManifest{}, fmt.Errorf("image index %s holds no usable manifest", d.Digest)
	}
	chosen := index.Manifests[0]
	for _, m := range index.Manifests {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			chosen = m
			break
		}
	}
	return ociManifestFor(a, chosen, depth+1)
}

// blobPath is where an OCI layout keeps the blob with this digest.
func blobPath(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}
