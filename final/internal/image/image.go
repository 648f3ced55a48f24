// Package image keeps container images without Docker.
//
// An image is a stack of read-only layers plus a little config (Env, Cmd,
// WorkingDir) and the history of how it was made. Each layer is a tar
// archive, extracted once into a directory named by the sha256 of that
// uncompressed tar, what docker calls its diff_id (docker inspect
// .RootFS.Layers): images that share a layer share its files. A
// container's root is an overlay mount (overlayfs) of those directories
// under a writable upper dir of its own (rwlayer.go).
//
// Layers come from rootfs tarballs, docker save archives and OCI image
// layouts (load.go), or from build (builder.go). OCI marks deleted files
// with whiteout entries; they are translated into the whiteouts overlayfs
// understands (whiteout.go), and back when build turns a container's
// upper dir into a layer (layertar.go).
//
// Every system call that changes something goes through internal/sys,
// which narrates it with --explain.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Image is what the store keeps of an image, as STORE/images/NAME.json:
// small enough to read by eye.
type Image struct {
	Name string `json:"name"`
	// ID is the sha256 of the image's config JSON, as docker's image ID:
	// the config blob's digest for a loaded image, or that of the config
	// this store would write for one it made.
	ID      string    `json:"id"`
	Layers  []Layer   `json:"layers"` // bottom first, like docker's diff_ids
	Config  Config    `json:"config"`
	History []History `json:"history,omitempty"`
	Created time.Time `json:"created"`
}

// Layer is one layer of an image.
type Layer struct {
	Digest string `json:"digest"` // sha256 of the uncompressed tar: the diff_id
	Size   int64  `json:"size"`   // bytes of the uncompressed tar
}

// Config is the part of an image's config a runtime uses (the image-spec's
// config.md names them the same).
type Config struct {
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	User       string   `json:"User,omitempty"` // USER[:GROUP], as run --user takes it
}

// History is one step of how the image was made. A step that changed no
// file (ENV, CMD...) made no layer: EmptyLayer, as docker marks it.
type History struct {
	Created    string `json:"created,omitempty"`
	CreatedBy  string `json:"created_by,omitempty"`
	EmptyLayer bool   `json:"empty_layer,omitempty"`
}

// Digests are the image's layer digests, bottom first.
func (img Image) Digests() []string {
	digests := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		digests[i] = l.Digest
	}
	return digests
}

// Size is the sum of the layers' sizes.
func (img Image) Size() int64 {
	var n int64
	for _, l := range img.Layers {
		n += l.Size
	}
	return n
}

// HistoryRow is one line of the history command: a step, and the layer it
// made, if any.
type HistoryRow struct {
	Layer     string // the layer's digest, or "" for a step that made none
	Size      int64
	Created   string
	CreatedBy string
}

// HistoryRows pairs the history's steps with the layers, newest first, as
// docker history lists them. An image without history (an import) gets
// one row per layer.
func (img Image) HistoryRows() []HistoryRow {
	var rows []HistoryRow
	next := 0
	for _, h := range img.History {
		row := HistoryRow{Created: h.Created, CreatedBy: h.CreatedBy}
		if !h.EmptyLayer && next < len(img.Layers) {
			row.Layer, row.Size = img.Layers[next].Digest, img.Layers[next].Size
			next++
		}
		rows = append(rows, row)
	}
	for ; next < len(img.Layers); next++ {
		rows = append(rows, HistoryRow{Layer: img.Layers[next].Digest, Size: img.Layers[next].Size})
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// ociConfig is the image config JSON docker and OCI share
// (image-spec config.md), as this store writes it for an image it made.
type ociConfig struct {
	Created      string    `json:"created,omitempty"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       Config    `json:"config"`
	RootFS       ociRootFS `json:"rootfs"`
	History      []History `json:"history,omitempty"`
}

type ociRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// configJSON is the config JSON of img, whose digest is its ID.
func (img Image) configJSON() ([]byte, error) {
	cfg := ociConfig{Architecture: runtime.GOARCH, OS: "linux", Config: img.Config,
		RootFS: ociRootFS{Type: "layers", DiffIDs: img.Digests()}, History: img.History}
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []string{}
	}
	if !img.Created.IsZero() {
		cfg.Created = img.Created.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(cfg)
}

// setID sets the ID of an image this store made to its config's digest.
func (img *Image) setID() error {
	data, err := img.configJSON()
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name, err)
	}
	img.ID = digestOf(data)
	return nil
}

// digestOf is the OCI digest of data: "sha256:" and 64 hex digits.
func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NormalizeName is in reference.go: names are read as docker reads them.

// ValidDigest tells whether d is "sha256:" and 64 lower-case hex digits,
// the only form this store names layers by. It is checked by hand: as a
// regexp, {64} compiles to 64 copies of the class, which every box
// process, the container's init too, paid for at start.
func ValidDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	return ok && len(hexPart) == 64 && isLowerHex(hexPart)
}

// isLowerHex tells whether s is all lower-case hex digits.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ShortDigest is a digest cut to 12 hex digits, as docker shows IDs.
func ShortDigest(digest string) string {
	hexPart := strings.TrimPrefix(digest, "sha256:")
	if len(hexPart) > 12 {
		hexPart = hexPart[:12]
	}
	return hexPart
}

// HumanSize prints bytes with decimal units, as docker does: 4.26MB.
func HumanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v := float64(n)
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	digits := 3 - len(strconv.Itoa(int(v)))
	if digits < 0 {
		digits = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + units[i]
}

// Plural is "1 layer" or "3 layers".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
