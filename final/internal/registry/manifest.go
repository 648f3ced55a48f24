package registry

// manifest.go fetches manifests: an image index (a manifest list, in
// docker's words) that points at one manifest per platform, or an image
// manifest that points at a config and layers. Docker's v2 types and the
// OCI ones have the same shape; only their media types differ.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"

	"box/final/internal/narrate"
)

// Media types of the distribution API and the image spec.
const (
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaOCIConfig      = "application/vnd.oci.image.config.v1+json"
	MediaDockerConfig   = "application/vnd.docker.container.image.v1+json"
	MediaOCILayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaOCILayer       = "application/vnd.oci.image.layer.v1.tar"
	MediaDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// manifestAccept is what box asks for: indexes first, so the platform
// is chosen here, then single manifests, OCI and docker's.
var manifestAccept = strings.Join([]string{MediaOCIIndex, MediaDockerList, MediaOCIManifest, MediaDockerManifest}, ", ")

// Descriptor points at a blob by digest (image-spec descriptor.md).
type Descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *Platform `json:"platform,omitempty"`
}

// Platform is an OS, an architecture and maybe a variant: linux/arm64/v8.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// HostPlatform is this machine's platform, as docker names it.
func HostPlatform() Platform {
	p := Platform{OS: "linux", Architecture: runtime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// ParsePlatform reads OS/ARCH[/VARIANT]; "" is this machine's.
func ParsePlatform(s string) (Platform, error) {
	if s == "" {
		return HostPlatform(), nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("--platform %q: give OS/ARCH or OS/ARCH/VARIANT, like linux/amd64 or linux/arm64/v8", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	} else if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p, nil
}

// matches tells whether an index entry for have serves want. An arm64
// entry without a variant is v8, as docker reads it.
func (want Platform) matches(have Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	return have.Variant == "" && want.Architecture == "arm64" && want.Variant == "v8"
}

// Manifest is an image manifest or an index; which one, MediaType says.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
	Manifests     []Descriptor `json:"manifests,omitempty"`
}

func isIndex(mediaType string) bool {
	return mediaType == MediaOCIIndex || mediaType == MediaDockerList
}

func isManifest(mediaType string) bool {
	return mediaType == MediaOCIManifest || mediaType == MediaDockerManifest
}

// maxManifest bounds what is read of a manifest: real ones are a few kB.
const maxManifest = 4 << 20

// FetchManifest fetches the manifest named by object (a tag or a digest)
// and returns it, its raw bytes' digest and its media type. When object is
// a digest, the bytes must hash to it.
func (c *Client) FetchManifest(ctx context.Context, object string) (Manifest, string, error) {
	r := request{method: http.MethodGet, url: c.url("manifests/" + object), headers: map[string]string{"Accept": manifestAccept}}
	what := fmt.Sprintf("pull %s", c.ref.Familiar())
	resp, err := c.do(ctx, r)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.narrateAnswer(r, resp, "")
		return Manifest{}, "", c.apiError(resp, what)
	}
	defer drain(resp)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return Manifest{}, "", fmt.Errorf("%s: read the manifest: %w", what, c.netError(err))
	}
	if len(raw) > maxManifest {
		return Manifest{}, "", fmt.Errorf("%s: the manifest is over %d bytes; refused", what, maxManifest)
	}
	sum := sha256.Sum256(raw)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	var m Manifest
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&m); err != nil {
		c.narrateAnswer(r, resp, "not JSON")
		return Manifest{}, "", fmt.Errorf("%s: the manifest is not JSON: %w", what, err)
	}
	mediaType, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	if m.MediaType != "" {
		mediaType = m.MediaType // the body's word wins: it is what the digest covers
	}
	if mediaType == "" || mediaType == "application/json" {
		if len(m.Manifests) > 0 {
			mediaType = MediaOCIIndex
		} else if m.SchemaVersion == 2 {
			mediaType = MediaOCIManifest
		}
	}
	switch {
	case isIndex(mediaType):
		c.narrateAnswer(r, resp, "index, "+plural(len(m.Manifests), "platform"))
	case isManifest(mediaType):
		c.narrateAnswer(r, resp, "manifest, "+plural(len(m.Layers), "layer"))
	default:
		c.narrateAnswer(r, resp, mediaType)
	}
	if strings.HasPrefix(object, "sha256:") {
		if digest != object {
			return Manifest{}, "", fmt.Errorf("%s: the manifest's content has digest %s, not %s as asked; the registry or something on the way altered it", what, digest, object)
		}
		narrate.Line(fmt.Sprintf("sha256(manifest) = %s matches the digest asked for", digest))
	} else if d := resp.Header.Get("Docker-Content-Digest"); d != "" && d != digest {
		return Manifest{}, "", fmt.Errorf("%s: the manifest's content has digest %s, but the registry says %s; refused", what, digest, d)
	}
	switch {
	case isIndex(mediaType), isManifest(mediaType):
	case strings.Contains(mediaType, "manifest.v1"):
		return Manifest{}, "", fmt.Errorf("%s: the registry has only a schema 1 manifest (%s), which docker retired; push the image again with a current tool", what, mediaType)
	default:
		return Manifest{}, "", fmt.Errorf("%s: unsupported manifest media type %q; box reads OCI and docker v2 images", what, mediaType)
	}
	m.MediaType = mediaType
	return m, digest, nil
}

// ChoosePlatform picks the entry of an index for the wanted platform.
func (c *Client) ChoosePlatform(index Manifest, want Platform) (Descriptor, error) {
	var have []string
	for _, d := range index.Manifests {
		if d.Platform == nil {
			continue
		}
		// Attestations (buildkit's provenance) are listed as unknown/unknown.
		if d.Platform.OS == "unknown" {
			continue
		}
		have = append(have, d.Platform.String())
		if want.matches(*d.Platform) {
			return d, nil
		}
	}
	if len(have) == 0 {
		return Descriptor{}, fmt.Errorf("pull %s: its index names no platform", c.ref.Familiar())
	}
	return Descriptor{}, fmt.Errorf("pull %s: no image for %s; the index has %s (choose with --platform)", c.ref.Familiar(), want, strings.Join(have, ", "))
}
