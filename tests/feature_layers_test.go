package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Features of image layers: an image is a stack of read-only layers named
// by the sha256 of their tars, the container's root is an overlay of them
// under an upper dir of its own, mounted inside the container's user
// namespace on layers given to its ids, whiteouts and opaque dirs hide
// what is below, and the runtime shows what the container changed. The
// tests build their own images with archive/tar (final loads them in
// docker save and OCI layout form; a step imports the bottom layer and
// commits the others from containers): no Docker, no network.

const layersStep = "07-layers"

func init() {
	addFeatures(
		feature{name: "root is an overlay of the image's layers", since: layersStep, check: rootIsOverlay},
		feature{name: "image whiteouts and opaque dirs hide lower files", since: layersStep, check: whiteoutsHonored},
		feature{name: "writes land in the upper dir and layers stay untouched", since: layersStep, check: copyOnWrite},
	)
}

// layerSteps are the steps with images and run --image; final only if its
// run has --image.
func layerSteps(t testing.TB) []string {
	var steps []string
	for _, s := range harness.steps {
		if !stepAtLeast(s, layersStep) {
			continue
		}
		if s == finalStep {
			builds.once.Do(buildAll)
			if err := builds.errs[s]; err != nil {
				t.Logf("final does not build; not testing it here: %v", err)
				continue
			}
			help := run(t, s, "run", "--help")
			if !strings.Contains(help.stdout+help.stderr, "--image") {
				t.Logf("final has no run --image; not testing it here")
				continue
			}
		}
		steps = append(steps, s)
	}
	return steps
}

// tarEntry is one entry of a layer the tests write.
type tarEntry struct {
	name, body, link string
	typ              byte // tar.TypeReg when 0
	uid              int  // and gid: the owner
}

// The test image: three layers over a busybox rootfs. Layer 2 deletes,
// replaces and adds files of layer 1 and makes /opq opaque; layer 3 deletes
// what layer 2 added and brings back what layer 2 deleted.
var (
	imageLayer1 = []tarEntry{
		{name: "data/", typ: tar.TypeDir},
		{name: "data/keep", body: "keep v1\n"},
		{name: "data/replace", body: "replace v1\n"},
		{name: "data/delete", body: "delete me\n"},
		{name: "opq/", typ: tar.TypeDir},
		{name: "opq/old", body: "old\n"},
		{name: "opq/sub/", typ: tar.TypeDir},
		{name: "opq/sub/old2", body: "old2\n"},
		{name: "gone/", typ: tar.TypeDir},
		{name: "gone/file", body: "in a deleted dir\n"},
		{name: "home/", typ: tar.TypeDir},
		{name: "home/user/", typ: tar.TypeDir, uid: 1000},
		{name: "home/user/notes", body: "notes\n", uid: 1000},
	}
	imageLayer2 = []tarEntry{
		{name: "data/.wh.delete"},
		{name: "data/replace", body: "replace v2\n"},
		{name: "data/added", body: "added by layer 2\n"},
		{name: "opq/", typ: tar.TypeDir},
		{name: "opq/.wh..wh..opq"},
		{name: "opq/new", body: "new in opaque\n"},
		{name: ".wh.gone"},
	}
	imageLayer3 = []tarEntry{
		{name: "data/.wh.added"},
		{name: "data/delete", body: "reborn in layer 3\n"},
		{name: "etc/layer3", body: "3\n"},
		{name: "etc/far", body: "an owner past 65535\n", uid: 70000},
	}
	imageCreatedBy = []string{"ADD rootfs.tar /", "RUN edit /data /opq && rm -r /gone", "RUN fix /data"}
)

// imageView is what a container of the test image must see, file by file.
var imageView = []string{
	"/data/keep: keep v1",
	"/data/replace: replace v2",
	"/data/delete: reborn in layer 3",
	"/data/added: absent",
	"/opq/old: absent",
	"/opq/sub: absent",
	"/opq/new: new in opaque",
	"/gone: absent",
	"/gone/file: absent",
	"/etc/layer3: 3",
	"ls /opq: new",
}

// viewScript prints imageView's lines from inside a container.
const viewScript = `for f in /data/keep /data/replace /data/delete /data/added /opq/old /opq/sub /opq/new /gone /gone/file /etc/layer3; do
  if [ -f "$f" ]; then echo "$f: $(cat "$f")"; elif [ -e "$f" ]; then echo "$f: dir"; else echo "$f: absent"; fi
done
echo "ls /opq: $(ls -A /opq)"`

// testImageSet is the test image in every form the runtime loads.
type testImageSet struct {
	once       sync.Once
	err        error
	dockerSave string   // docker save archive, plain layer tars
	ociDir     string   // OCI image layout dir, gzipped layers, under a multi-platform index
	ociTar     string   // the OCI layout as a tar
	baseTar    string   // layer 1 alone: a rootfs tarball without whiteouts
	diffIDs    []string // sha256 of each uncompressed layer tar, bottom first
	sizes      []int64
}

// testImages is built once per test binary, on first use.
var testImages testImageSet

// images returns the test images, building them on first use.
func images(t testing.TB) *testImageSet {
	t.Helper()
	testImages.once.Do(func() { testImages.err = buildTestImages(sharedRootfs(t)) })
	if testImages.err != nil {
		t.Fatalf("build test images: %v", testImages.err)
	}
	return &testImages
}

func buildTestImages(rootfs string) error {
	dir, err := os.MkdirTemp(harness.root, "images-")
	if err != nil {
		return err
	}
	base, err := rootfsLayer(rootfs, imageLayer1)
	if err != nil {
		return err
	}
	layers := [][]byte{base, layerTar(imageLayer2), layerTar(imageLayer3)}
	for _, l := range layers {
		testImages.diffIDs = append(testImages.diffIDs, digestOf(l))
		testImages.sizes = append(testImages.sizes, int64(len(l)))
	}
	testImages.baseTar = filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(testImages.baseTar, base, 0o644); err != nil {
		return err
	}
	history := []map[string]any{
		{"created_by": imageCreatedBy[0]},
		{"created_by": "ENV GREETING=hello", "empty_layer": true},
		{"created_by": imageCreatedBy[1]},
		{"created_by": imageCreatedBy[2]},
	}
	config := imageConfig(testImages.diffIDs, history, testImageRunConfig)
	testImages.dockerSave = filepath.Join(dir, "docker-save.tar")
	if err := os.WriteFile(testImages.dockerSave, dockerSaveArchive([]string{"layers-test:docker"}, config, layers), 0o644); err != nil {
		return err
	}
	testImages.ociDir = filepath.Join(dir, "oci")
	if err := writeOCILayout(testImages.ociDir, "layers-test:oci", config, layers); err != nil {
		return err
	}
	testImages.ociTar = filepath.Join(dir, "oci.tar")
	return tarDir(testImages.ociDir, testImages.ociTar)
}

// layerTar writes entries as an uncompressed layer tar.
func layerTar(entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	writeEntries(tw, entries)
	tw.Close()
	return buf.Bytes()
}

func writeEntries(tw *tar.Writer, entries []tarEntry) {
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Uid: e.uid, Gid: e.uid}
		if e.typ == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		tw.WriteHeader(hdr)
		io.WriteString(tw, e.body)
	}
}

// rootfsLayer is the rootfs as a layer tar, with extra entries after it.
func rootfsLayer(rootfs string, extra []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == rootfs {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = strings.TrimPrefix(p, rootfs+"/")
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	writeEntries(tw, extra)
	return buf.Bytes(), tw.Close()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only for the test's own literal values
	}
	return b
}

// testImageRunConfig is the run config of the steps' test images.
var testImageRunConfig = map[string]any{"Env": []string{"PATH=/usr/bin:/bin", "GREETING=hello"}, "Cmd": []string{"/bin/sh"}}

// imageConfig is the image config JSON docker and OCI share.
func imageConfig(diffIDs []string, history []map[string]any, config map[string]any) []byte {
	return mustJSON(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       config,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history":      history,
	})
}

// dockerSaveArchive is what docker save writes (the format before docker
// 25): ID/layer.tar per layer, the config as HEX.json, manifest.json last.
func dockerSaveArchive(tags []string, config []byte, layers [][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var paths []string
	for i, l := range layers {
		id := strings.TrimPrefix(digestOf(append([]byte(strconv.Itoa(i)), l...)), "sha256:")
		paths = append(paths, id+"/layer.tar")
		tw.WriteHeader(&tar.Header{Name: id + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: id + "/layer.tar", Mode: 0o644, Size: int64(len(l))})
		tw.Write(l)
	}
	configName := strings.TrimPrefix(digestOf(config), "sha256:") + ".json"
	tw.WriteHeader(&tar.Header{Name: configName, Mode: 0o644, Size: int64(len(config))})
	tw.Write(config)
	manifest := mustJSON([]map[string]any{{"Config": configName, "RepoTags": tags, "Layers": paths}})
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))})
	tw.Write(manifest)
	tw.Close()
	return buf.Bytes()
}

// writeOCILayout writes an OCI image layout: gzipped layer blobs, the
// config, a manifest, and index.json pointing at an image index with a
// manifest for another platform first, which must not be chosen.
func writeOCILayout(dir, name string, config []byte, layers [][]byte) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	put := func(b []byte) (map[string]any, error) {
		d := digestOf(b)
		return map[string]any{"digest": d, "size": len(b)}, os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(d, "sha256:")), b, 0o644)
	}
	var layerDescs []map[string]any
	for _, l := range layers {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(l)
		zw.Close()
		desc, err := put(gz.Bytes())
		if err != nil {
			return err
		}
		desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
		layerDescs = append(layerDescs, desc)
	}
	configDesc, err := put(config)
	if err != nil {
		return err
	}
	configDesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
	manifestDesc, err := put(mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": configDesc, "layers": layerDescs,
	}))
	if err != nil {
		return err
	}
	manifestDesc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
	manifestDesc["platform"] = map[string]string{"os": "linux", "architecture": runtime.GOARCH}
	other := map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 2,
		"digest":   "sha256:" + strings.Repeat("0", 64), // not in blobs/: choosing it fails
		"platform": map[string]string{"os": "linux", "architecture": "not-" + runtime.GOARCH},
	}
	indexDesc, err := put(mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{other, manifestDesc},
	}))
	if err != nil {
		return err
	}
	indexDesc["mediaType"] = "application/vnd.oci.image.index.v1+json"
	indexDesc["annotations"] = map[string]string{"org.opencontainers.image.ref.name": name}
	index := mustJSON(map[string]any{"schemaVersion": 2, "manifests": []any{indexDesc}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// tarDir writes the files below dir into a tar file.
func tarDir(dir, file string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, dir+"/"), Mode: 0o644, Size: int64(len(b))})
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(file, buf.Bytes(), 0o644)
}

// newStore is a new, empty store dir. The root of a container's user
// namespace, an ordinary user on the host, must be able to pass through
// every dir on the way to it; t.TempDir's are 0700.
func newStore(t testing.TB) string {
	t.Helper()
	return safeTempDir(t, "store-", 0o711)
}

// loadedStore is a new store with the test image layers-test:docker, or ""
// when step cannot make it. final loads it from its docker save archive.
// A step imports layer 1 (the rootfs with imageLayer1) and makes layers 2
// and 3 as an image builder does: it runs each one's changes in a
// container and commits its upper dir, where overlayfs itself makes the
// whiteouts and the opaque dir.
func loadedStore(t *testing.T, step string) string {
	t.Helper()
	imgs := images(t)
	store := newStore(t)
	if step == finalStep {
		if r := run(t, step, "--quiet", "load", "--store", store, imgs.dockerSave); r.code != 0 {
			t.Logf("load: %s", r)
			return ""
		}
		return store
	}
	if r := run(t, step, "--quiet", "import", "--store", store, imgs.baseTar, "layers-test:1"); r.code != 0 {
		t.Logf("import: %s", r)
		return ""
	}
	for i, script := range []string{imageScript2, imageScript3} {
		from, to := fmt.Sprintf("layers-test:%d", i+1), fmt.Sprintf("layers-test:%d", i+2)
		if i == 1 {
			to = "layers-test:docker"
		}
		if r := run(t, step, "--quiet", "run", "--store", store, "--image", from, "--commit", to, "--", "sh", "-c", script); r.code != 0 {
			t.Logf("commit %s: %s", to, r)
			return ""
		}
	}
	return store
}

// imageScript2 and imageScript3 make, in a container, the changes of
// imageLayer2 and imageLayer3. An opaque dir is a dir deleted and made
// again; an owner past 65535 cannot be given inside, so /etc/far is
// nobody's.
const (
	imageScript2 = `set -e; rm /data/delete; echo 'replace v2' > /data/replace; echo 'added by layer 2' > /data/added
rm -r /opq; mkdir /opq; echo 'new in opaque' > /opq/new; rm -r /gone`
	imageScript3 = `set -e; rm /data/added; echo 'reborn in layer 3' > /data/delete; echo 3 > /etc/layer3
echo 'an owner past 65535' > /etc/far; chown 65534:65534 /etc/far`
)

// imageLayers are the digests of the test image's layers, bottom first.
func imageLayers(t testing.TB, step, store string) []string {
	if step == finalStep {
		return images(t).diffIDs
	}
	b, err := os.ReadFile(filepath.Join(store, "images", "layers-test:docker"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// runImage runs cmd quietly in a container of the test image.
func runImage(t testing.TB, step, store string, extra []string, cmd ...string) result {
	t.Helper()
	if step == finalStep {
		// final takes the image as run's first argument, as docker does.
		args := append(append([]string{"--quiet", "run", "--store", store}, extra...), "layers-test:docker")
		return run(t, step, append(args, cmd...)...)
	}
	args := append([]string{"--quiet", "run", "--store", store, "--image", "layers-test:docker"}, extra...)
	return run(t, step, append(append(args, "--"), cmd...)...)
}

// rootIsOverlay reads the container's own mountinfo: / must be overlayfs
// with the image's layers as lower dirs, mounted with userxattr from
// inside the user namespace.
func rootIsOverlay(t *testing.T, step string) bool {
	store := loadedStore(t, step)
	if store == "" {
		return false
	}
	r := runImage(t, step, store, nil, "cat", "/proc/self/mountinfo")
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	for _, e := range parseMountinfo(r.stdout) {
		if e.mountPoint == "/" {
			t.Logf("root: %s", e.line)
			// The steps mount the overlay inside the user namespace, which
			// takes userxattr; final mounts it from the host side.
			mountedRight := step == finalStep || strings.Contains(e.line, "userxattr")
			return e.fsType == "overlay" && strings.Contains(e.line, strings.TrimPrefix(imageLayers(t, step, store)[2], "sha256:")) && mountedRight
		}
	}
	t.Fatalf("no root in the container's mountinfo:\n%s", r.stdout)
	return false
}

// whiteoutsHonored reads, from inside, every file the layers added,
// replaced, deleted and brought back.
func whiteoutsHonored(t *testing.T, step string) bool {
	store := loadedStore(t, step)
	if store == "" {
		return false
	}
	r := runImage(t, step, store, nil, "sh", "-c", viewScript)
	diff := cmp.Diff(imageView, nonEmptyLines(r.stdout))
	if diff != "" {
		t.Logf("the container's view of the layers (-want +got):\n%s\n%s", diff, r)
	}
	return r.code == 0 && diff == ""
}

// copyOnWrite writes, replaces and deletes in a container, then checks the
// layers did not change and a second container sees the image as it was.
func copyOnWrite(t *testing.T, step string) bool {
	store := loadedStore(t, step)
	if store == "" {
		return false
	}
	before := firstRunHash(t, step, store)
	r := runImage(t, step, store, nil, "sh", "-c", "echo changed > /data/keep && rm /data/replace && echo new > /data/fresh && cat /data/keep")
	if r.code != 0 || r.stdout != "changed\n" {
		t.Fatalf("writing container: %s", r)
	}
	after := hashTree(t, filepath.Join(store, "layers"))
	again := runImage(t, step, store, nil, "sh", "-c", viewScript)
	ok := true
	if diff := cmp.Diff(before, after); diff != "" {
		t.Logf("the layers changed (-before +after):\n%s", diff)
		ok = false
	}
	if diff := cmp.Diff(imageView, nonEmptyLines(again.stdout)); diff != "" {
		t.Logf("a second container does not see the image as it was (-want +got):\n%s", diff)
		ok = false
	}
	return ok && noContainerLeftovers(t, store)
}

// firstRunHash runs a first container, then hashes the layers for later
// runs to compare with.
func firstRunHash(t *testing.T, step, store string) map[string]string {
	t.Helper()
	if r := runImage(t, step, store, nil, "true"); r.code != 0 {
		t.Fatalf("first run: %s", r)
	}
	return hashTree(t, filepath.Join(store, "layers"))
}

// hashTree hashes every path below dir with its type, mode, owner, device
// number, overlay xattrs and content, so any change shows.
func hashTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		h := sha256.New()
		fmt.Fprintf(h, "%v %d:%d rdev=%d mtime=%d\n", info.Mode(), st.Uid, st.Gid, st.Rdev, info.ModTime().UnixNano())
		for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
			buf := make([]byte, 64)
			if n, err := unix.Lgetxattr(p, attr, buf); err == nil {
				fmt.Fprintf(h, "%s=%s\n", attr, buf[:n])
			}
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		sums[strings.TrimPrefix(p, dir)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// noContainerLeftovers checks that the store holds no container dirs and
// no work in progress.
func noContainerLeftovers(t testing.TB, store string) bool {
	t.Helper()
	ok := true
	for _, sub := range []string{"containers", "tmp"} {
		entries, err := os.ReadDir(filepath.Join(store, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Errorf("read %s: %v", sub, err)
			return false
		}
		for _, e := range entries {
			t.Errorf("left behind in the store: %s/%s", sub, e.Name())
			ok = false
		}
	}
	if left := mountsUnder(store); len(left) > 0 {
		t.Errorf("mounts left under the store: %v", left)
		ok = false
	}
	return ok
}

// TestLayersImport imports one rootfs tarball under two names: the layer
// is named by the sha256 of the tar, stored once, owned by the user
// namespace's host ids, and each image lists its digest.
func TestLayersImport(t *testing.T) {
	requireRoot(t)
	imgs := images(t)
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			store := newStore(t)
			for i, name := range []string{"one", "two:v2"} {
				r := run(t, step, "import", "--store", store, imgs.baseTar, name)
				want := fmt.Sprintf("Imported %s: 1 layer, %s\n", name, imgs.diffIDs[0])
				if r.code != 0 || r.stdout != want {
					t.Fatalf("import %s: want stdout %q\n%s", name, want, r)
				}
				if stored := strings.Contains(r.stderr, "is in the store already"); stored != (i == 1) {
					t.Errorf("import %s: the narration should say the layer is stored already only the second time:\n%s", name, r.stderr)
				}
				b, err := os.ReadFile(filepath.Join(store, "images", name))
				if err != nil || string(b) != imgs.diffIDs[0]+"\n" {
					t.Errorf("images/%s = %q, %v; want the layer's digest", name, b, err)
				}
			}
			entries, _ := os.ReadDir(filepath.Join(store, "layers", "100000"))
			if len(entries) != 1 || entries[0].Name() != strings.TrimPrefix(imgs.diffIDs[0], "sha256:") {
				t.Errorf("layers/100000 should hold one layer named by the tar's sha256: %v", entries)
			}
			noContainerLeftovers(t, store)
		})
	}
}

// TestLayersCopyOnWrite changes the image in a container and checks the
// report of the changes and the layers untouched; then commits the same
// changes: the new layer holds the upper dir, whiteout and opaque mark
// included, and a container of the new image sees the changes.
func TestLayersCopyOnWrite(t *testing.T) {
	requireRoot(t)
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			store := loadedStore(t, step)
			if store == "" {
				t.Fatal("cannot load the test image")
			}
			before := hashTree(t, filepath.Join(store, "layers"))
			script := "echo changed > /data/keep && rm /data/replace && echo new > /data/fresh && rm -r /opq && mkdir /opq && echo again > /opq/again"
			r := run(t, step, "run", "--store", store, "--image", "layers-test:docker", "--", "sh", "-c", script)
			if r.code != 0 {
				t.Fatalf("run: %s", r)
			}
			var changes []string
			for _, line := range strings.Split(r.stderr, "\n") {
				if regexp.MustCompile(`^  /(data|opq)`).MatchString(line) {
					changes = append(changes, strings.TrimSpace(line))
				}
			}
			want := []string{
				"/data",
				"/data/fresh",
				"/data/keep",
				"/data/replace (whiteout: deleted)",
				"/opq (opaque: hides the layers' dir)",
				"/opq/again",
			}
			if diff := cmp.Diff(want, changes); diff != "" {
				t.Errorf("reported changes (-want +got):\n%s\n%s", diff, r.stderr)
			}
			if diff := cmp.Diff(before, hashTree(t, filepath.Join(store, "layers"))); diff != "" {
				t.Errorf("the layers changed (-before +after):\n%s", diff)
			}
			again := runImage(t, step, store, nil, "sh", "-c", viewScript)
			if diff := cmp.Diff(imageView, nonEmptyLines(again.stdout)); diff != "" {
				t.Errorf("a new container does not see the image as it was (-want +got):\n%s", diff)
			}

			c := run(t, step, "--quiet", "run", "--store", store, "--image", "layers-test:docker", "--commit", "changed", "--", "sh", "-c", script)
			if c.code != 0 {
				t.Fatalf("run --commit: %s", c)
			}
			layers := strings.Fields(readFile(t, filepath.Join(store, "images", "changed")))
			if diff := cmp.Diff(imageLayers(t, step, store), layers[:len(layers)-1]); diff != "" || len(layers) != 4 {
				t.Fatalf("image changed: want the 3 layers and one more on top (-want +got):\n%s", diff)
			}
			top := filepath.Join(store, "layers", "100000", strings.TrimPrefix(layers[3], "sha256:"))
			if info, err := os.Lstat(filepath.Join(top, "data", "replace")); err != nil || !isWhiteoutInfo(info) {
				t.Errorf("the committed layer has no whiteout at /data/replace: %v, %v", info, err)
			}
			buf := make([]byte, 8)
			if n, err := unix.Lgetxattr(filepath.Join(top, "opq"), "user.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
				t.Errorf("the committed layer has no user.overlay.opaque=y on /opq: %q, %v", buf[:n], err)
			}
			view := run(t, step, "--quiet", "run", "--store", store, "--image", "changed", "--", "sh", "-c", "cat /data/keep; ls /data/replace; ls -A /opq")
			if view.stdout != "changed\nagain\n" || !strings.Contains(view.stderr, "/data/replace") {
				t.Errorf("a container of the committed image does not see the changes:\n%s", view)
			}
			failed := run(t, step, "--quiet", "run", "--store", store, "--image", "layers-test:docker", "--commit", "failed", "--", "false")
			if _, err := os.Stat(filepath.Join(store, "images", "failed")); failed.code != 1 || err == nil {
				t.Errorf("a failed command must not be committed: %v\n%s", err, failed)
			}
			noContainerLeftovers(t, store)
		})
	}
}

// readFile is the content of a file the test needs.
func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLayersNarrationMatchesStrace runs an image under strace: the overlay
// mount, with its whole option string, must be narrated as made.
func TestLayersNarrationMatchesStrace(t *testing.T) {
	requireRoot(t)
	strace := requireTool(t, "strace")
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			store := loadedStore(t, step)
			if store == "" {
				t.Fatal("cannot load the test image")
			}
			checkNarration(t, strace, step, []string{"run", "--store", store, "--image", "layers-test:docker", "--", "true"})
			checkNarration(t, strace, step, []string{"run", "--store", store, "--image", "layers-test:docker", "--commit", "narrated", "--", "sh", "-c", "rm /data/keep; rm -r /opq; mkdir /opq"})
			noContainerLeftovers(t, store)
		})
	}
}

// TestLayersManyLayers runs an image of 70 layers, more than fit by full
// path in the page of options mount(2) takes, so the runtime names them
// by short links.
func TestLayersManyLayers(t *testing.T) {
	requireRoot(t)
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			store := newStore(t)
			loadStack(t, step, store, 70)
			r := run(t, step, "run", "--store", store, "--image", "stack:70", "--", "sh", "-c", "cat /stack/top; ls /stack | wc -l")
			if r.code != 0 || nonEmptyLines(r.stdout)[0] != "69" || strings.TrimSpace(nonEmptyLines(r.stdout)[1]) != "70" {
				t.Fatalf("want the top layer's /stack/top (69) and 70 files in /stack:\n%s", r)
			}
			if !strings.Contains(r.stderr, `"lowerdir=l/0:l/1:l/2:`) {
				t.Errorf("the overlay mount does not use short links:\n%s", r.stderr)
			}
			noContainerLeftovers(t, store)
		})
	}
}

// stackArchive is a docker save archive of image stack:N: the rootfs and
// N-1 small layers, layer i writing /stack/i and /stack/top.
func stackArchive(t testing.TB, n int) string {
	t.Helper()
	base, err := rootfsLayer(sharedRootfs(t), []tarEntry{{name: "stack/", typ: tar.TypeDir}, {name: "stack/top", body: "0\n"}})
	if err != nil {
		t.Fatal(err)
	}
	layers := [][]byte{base}
	for i := 1; i < n; i++ {
		layers = append(layers, layerTar([]tarEntry{
			{name: "stack/" + strconv.Itoa(i), body: strconv.Itoa(i) + "\n"},
			{name: "stack/top", body: strconv.Itoa(i) + "\n"},
		}))
	}
	var diffIDs []string
	var history []map[string]any
	for i, l := range layers {
		diffIDs = append(diffIDs, digestOf(l))
		history = append(history, map[string]any{"created_by": "layer " + strconv.Itoa(i)})
	}
	file := filepath.Join(t.TempDir(), "stack.tar")
	archive := dockerSaveArchive([]string{"stack:" + strconv.Itoa(n)}, imageConfig(diffIDs, history, testImageRunConfig), layers)
	if err := os.WriteFile(file, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// loadStack makes image stack:N in store: final loads stackArchive; a
// step imports the rootfs with /stack/top as stack:1 and commits stack:i,
// each on top of stack:i-1, from a container that writes /stack/i-1 and
// /stack/top.
func loadStack(t testing.TB, step, store string, n int) {
	t.Helper()
	if step == finalStep {
		if r := run(t, step, "--quiet", "load", "--store", store, stackArchive(t, n)); r.code != 0 {
			t.Fatalf("load stack:%d: %s", n, r)
		}
		return
	}
	base, err := rootfsLayer(sharedRootfs(t), []tarEntry{{name: "stack/", typ: tar.TypeDir}, {name: "stack/top", body: "0\n"}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "stack.tar")
	if err := os.WriteFile(file, base, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, step, "--quiet", "import", "--store", store, file, "stack:1"); r.code != 0 {
		t.Fatalf("import stack:1: %s", r)
	}
	for i := 2; i <= n; i++ {
		script := fmt.Sprintf("echo %d > /stack/%d && echo %d > /stack/top", i-1, i-1, i-1)
		r := run(t, step, "--quiet", "run", "--store", store, "--image", fmt.Sprintf("stack:%d", i-1), "--commit", fmt.Sprintf("stack:%d", i), "--", "sh", "-c", script)
		if r.code != 0 {
			t.Fatalf("commit stack:%d: %s", i, r)
		}
	}
}

// TestLayersOnOverlayfs runs the step where the store is on overlayfs, as
// the root filesystem is inside docker run --privileged: in a private mount
// namespace (unshare -m) the test mounts an overlay on an empty store. An
// upper dir cannot be on overlayfs, so the child must mount a tmpfs for
// upper and work in its own mount namespace, which nothing outlives, also
// not a SIGKILL. Whiteouts cannot be made on overlayfs: --commit must be
// refused with a clear message and leave nothing behind.
func TestLayersOnOverlayfs(t *testing.T) {
	requireRoot(t)
	unshare := requireTool(t, "unshare")
	imgs := images(t)
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			holdHostMounts(t)
			hostBefore := hostMountinfo(t)
			dir := safeTempDir(t, "overlayfs-store-", 0o711)
			store := filepath.Join(dir, "store")
			for _, d := range []string{"store", "lower", "upper", "work"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			script := `set -u
mount -t overlay overlay -o "lowerdir=$DIR/lower,upperdir=$DIR/upper,workdir=$DIR/work" "$STORE" || exit 90
echo "store fs: $(stat -f -c %T "$STORE")"
"$BIN" --quiet import --store "$STORE" "$BASE" base >/dev/null || exit 91
"$BIN" run --store "$STORE" --image base -- sh -c 'echo written > /data/keep && cat /data/keep && stat -f -c %t /' 2>"$DIR/run.err" || exit 92
echo "mounts under store after run: $(grep -c " $STORE/" /proc/self/mountinfo)"
echo "containers after run: $(ls -A "$STORE/containers")"
"$BIN" --quiet run --store "$STORE" --image base --commit two -- true 2>"$DIR/commit.err"; echo "commit on overlayfs exit: $?"
echo "images: $(ls -A "$STORE/images")"
"$BIN" --quiet run --store "$STORE" --image base -- sh -c 'echo ready; exec sleep 600' >"$DIR/fifo" &
read -r ready <"$DIR/fifo"; echo "killed run was: $ready"
kill -9 $!; wait $! 2>/dev/null
echo "mounts under store after kill: $(grep -c " $STORE/" /proc/self/mountinfo)"
echo "removed by cleanup: $("$BIN" cleanup --store "$STORE" 2>"$DIR/cleanup.err" | grep -c "^removed $STORE/containers/")"
echo "containers after cleanup: $(ls -A "$STORE/containers")"
`
			if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
			cmd.Env = append(os.Environ(), "NO_COLOR=1", "DIR="+dir, "STORE="+store, "BIN="+binary(t, step), "BASE="+imgs.baseTar)
			out, err := cmd.CombinedOutput()
			read := func(name string) string {
				b, _ := os.ReadFile(filepath.Join(dir, name))
				return string(b)
			}
			if err != nil {
				t.Fatalf("script: %v\n%s\nrun stderr:\n%s", err, out, read("run.err"))
			}
			want := []string{
				"store fs: overlayfs",
				"written",
				"794c7630", // OVERLAYFS_SUPER_MAGIC: the container's root
				"mounts under store after run: 0",
				"containers after run: ",
				"commit on overlayfs exit: 125",
				"images: base",
				"killed run was: ready",
				"mounts under store after kill: 0",
				"removed by cleanup: 1",
				"containers after cleanup: ",
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("script output (-want +got):\n%s", diff)
			}
			runErr := read("run.err")
			for _, s := range []string{
				"f_type=OVERLAYFS_SUPER_MAGIC",
				`"tmpfs", 0, "mode=0700") = 0`,
				`/upper,workdir=`,
			} {
				if !strings.Contains(runErr, s) {
					t.Errorf("the run's narration lacks %q:\n%s", s, runErr)
				}
			}
			if e := read("commit.err"); !strings.Contains(e, "put --store on another filesystem") || len(nonEmptyLines(e)) != 1 {
				t.Errorf("--commit on overlayfs, want one line with the fix: %q", e)
			}
			if diff := cmp.Diff(hostBefore, hostMountinfo(t)); diff != "" {
				t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestLayersKilledRuntime SIGKILLs a runtime: its container dies with it
// (parent-death signal) and its overlay with the container's mount
// namespace, but its dirs stay until cleanup, or the next run, removes them.
func TestLayersKilledRuntime(t *testing.T) {
	requireRoot(t)
	for _, step := range layerSteps(t) {
		for _, next := range []string{"cleanup", "next run"} {
			step, next := step, next
			t.Run(step+"/"+next, func(t *testing.T) {
				t.Parallel()
				store := storeAfterKilledRun(t, step)
				if entries, _ := os.ReadDir(filepath.Join(store, "containers")); len(entries) != 1 {
					t.Fatalf("want the killed run's container dir in the store, found %d entries", len(entries))
				}
				var r result
				if next == "cleanup" {
					r = run(t, step, "--quiet", "cleanup", "--store", store)
				} else {
					r = runImage(t, step, store, nil, "true")
				}
				if r.code != 0 {
					t.Fatalf("%s: %s", next, r)
				}
				noContainerLeftovers(t, store)
			})
		}
	}
}

// TestLayersBadInput gives the image commands input they must refuse:
// each fails with one line naming the problem, and leaves the store as
// empty as it was.
func TestLayersBadInput(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	layer := func(t *testing.T, entries ...tarEntry) string {
		file := filepath.Join(t.TempDir(), "layer.tar")
		if err := os.WriteFile(file, layerTar(entries), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	tests := []struct {
		name     string
		preload  bool // import the base layer as image "base" first
		args     func(t *testing.T) []string
		wantErr  string
		wantCode int // 125, setup failed, unless set
	}{
		{name: "unknown image", wantErr: "is not in the store", args: func(t *testing.T) []string {
			return []string{"run", "--image", "no-such-image", "--", "true"}
		}},
		{name: "command not in the image", preload: true, wantErr: "not found in image base", wantCode: 127, args: func(t *testing.T) []string {
			return []string{"run", "--image", "base", "--", "no-such-command"}
		}},
		{name: "dot-dot entry", wantErr: "points outside the rootfs", args: func(t *testing.T) []string {
			return []string{"import", layer(t, tarEntry{name: "../escaped", body: "x"}), "bad"}
		}},
		{name: "entry through a symlink", wantErr: "symlink", args: func(t *testing.T) []string {
			return []string{"import", layer(t, tarEntry{name: "lib", typ: tar.TypeSymlink, link: outside}, tarEntry{name: "lib/escaped", body: "x"}), "bad"}
		}},
		{name: "hard link outside", wantErr: "outside", args: func(t *testing.T) []string {
			return []string{"import", layer(t, tarEntry{name: "link", typ: tar.TypeLink, link: "../../outside"}), "bad"}
		}},
		{name: "not an archive", wantErr: "not a tar or tar.gz archive", args: func(t *testing.T) []string {
			file := filepath.Join(t.TempDir(), "notes.txt")
			if err := os.WriteFile(file, []byte("just text, no tar here\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"import", file, "bad"}
		}},
		{name: "user namespace map too small", preload: true, wantErr: "at least 65536 ids", args: func(t *testing.T) []string {
			return []string{"run", "--image", "base", "--userns-map", "100000:1000", "--", "true"}
		}},
		{name: "image of another id range", preload: true, wantErr: "import the image with this --userns-map", args: func(t *testing.T) []string {
			return []string{"run", "--image", "base", "--userns-map", "200000:65536", "--", "true"}
		}},
		{name: "bad image name", wantErr: "image name", args: func(t *testing.T) []string {
			return []string{"import", images(t).baseTar, "Not_A_Name"}
		}},
		{name: "bad commit name", preload: true, wantErr: "image name", args: func(t *testing.T) []string {
			return []string{"run", "--image", "base", "--commit", "../up", "--", "true"}
		}},
		{name: "commit without an image", wantErr: "--commit needs --image", args: func(t *testing.T) []string {
			return []string{"run", "--rootfs", sharedRootfs(t), "--commit", "x", "--", "true"}
		}},
	}
	for _, step := range layerSteps(t) {
		for _, tt := range tests {
			step, tt := step, tt
			t.Run(step+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				store := newStore(t)
				if tt.preload {
					if r := run(t, step, "--quiet", "import", "--store", store, images(t).baseTar, "base"); r.code != 0 {
						t.Fatalf("import: %s", r)
					}
				}
				args := tt.args(t)
				args = append([]string{"--quiet", args[0], "--store", store}, args[1:]...)
				r := run(t, step, args...)
				wantCode := tt.wantCode
				if wantCode == 0 {
					wantCode = 125
				}
				if r.code != wantCode {
					t.Errorf("exit %d, want %d\n%s", r.code, wantCode, r)
				}
				if lines := nonEmptyLines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], tt.wantErr) {
					t.Errorf("want one line on stderr containing %q:\n%s", tt.wantErr, r.stderr)
				}
				noContainerLeftovers(t, store)
				for _, sub := range []string{"images", "layers/100000"} {
					if entries, _ := os.ReadDir(filepath.Join(store, sub)); len(entries) != 0 && !tt.preload {
						t.Errorf("%s holds %d entries after a refused input", sub, len(entries))
					}
				}
				if entries, _ := os.ReadDir(outside); len(entries) != 0 {
					t.Errorf("something was written outside the store: %v", entries)
				}
			})
		}
	}
}

// containsLine tells whether s has line as one of its lines.
func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// TestLayersUserNamespace looks at the layers from both sides of the user
// namespace. Inside, the image's files are root's, user 1000's, and
// nobody's, and root may change them. On the host, import gave the
// layer's files to the namespace's ids, shifted by its first host id, and
// what root made inside, committed, belongs to host uid 100000. Another
// --userns-map needs an import of its own; a store that root of the
// namespace cannot reach is refused in one line.
func TestLayersUserNamespace(t *testing.T) {
	requireRoot(t)
	imgs := images(t)
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			store := loadedStore(t, step)
			if store == "" {
				t.Fatal("cannot load the test image")
			}
			script := `stat -c '%n %u:%g' /etc /home/user/notes /etc/far
echo changed > /data/keep && chown 1000:1000 /data/keep && stat -c '%n %u:%g' /data/keep
echo made > /made && stat -c '%n %u:%g' /made`
			r := run(t, step, "run", "--store", store, "--image", "layers-test:docker", "--commit", "owners", "--", "sh", "-c", script)
			want := []string{"/etc 0:0", "/home/user/notes 1000:1000", "/etc/far 65534:65534", "/data/keep 1000:1000", "/made 0:0"}
			if diff := cmp.Diff(want, nonEmptyLines(r.stdout)); diff != "" || r.code != 0 {
				t.Errorf("owners inside (-want +got):\n%s\n%s", diff, r)
			}
			if !strings.Contains(r.stderr, ",userxattr\") = 0") {
				t.Errorf("the overlay mount is not narrated with userxattr:\n%s", r.stderr)
			}
			layers := strings.Fields(readFile(t, filepath.Join(store, "images", "owners")))
			layer := func(base string, digest, rel string) string {
				return filepath.Join(store, "layers", base, strings.TrimPrefix(digest, "sha256:"), rel)
			}
			owners := []struct {
				path     string
				uid, gid uint32
			}{
				{layer("100000", layers[0], "home/user/notes"), 101000, 101000},
				{layer("100000", layers[0], "etc"), 100000, 100000},
				{layer("100000", layers[2], "etc/far"), 165534, 165534},
				{filepath.Join(store, "layers", "100000"), 0, 100000},
				{layer("100000", layers[3], "made"), 100000, 100000},
				{layer("100000", layers[3], "data/keep"), 101000, 101000},
			}
			for _, o := range owners {
				if uid, gid := ownerOf(t, o.path); uid != o.uid || gid != o.gid {
					t.Errorf("%s belongs to %d:%d on the host, want %d:%d", o.path, uid, gid, o.uid, o.gid)
				}
			}
			if info, err := os.Stat(filepath.Join(store, "layers", "100000")); err != nil || info.Mode().Perm() != 0o710 {
				t.Errorf("layers/100000 should be 0710, so only the namespace's root passes: %v, %v", info, err)
			}

			if r := run(t, step, "--quiet", "import", "--store", store, "--userns-map", "200000:65536", imgs.baseTar, "other"); r.code != 0 {
				t.Fatalf("import for 200000: %s", r)
			}
			other := run(t, step, "--quiet", "run", "--store", store, "--image", "other", "--userns-map", "200000:65536", "--", "stat", "-c", "%u:%g", "/home/user/notes")
			if other.code != 0 || other.stdout != "1000:1000\n" {
				t.Errorf("with --userns-map 200000:65536, want /home/user/notes 1000:1000 inside:\n%s", other)
			}
			if uid, _ := ownerOf(t, layer("200000", imgs.diffIDs[0], "home/user/notes")); uid != 201000 {
				t.Errorf("the layer for 200000 gives home/user/notes to host uid %d, want 201000", uid)
			}
			noContainerLeftovers(t, store)

			// t.TempDir is 0700: root of the namespace cannot pass.
			hidden := filepath.Join(t.TempDir(), "store")
			if r := run(t, step, "--quiet", "import", "--store", hidden, imgs.baseTar, "base"); r.code != 0 {
				t.Fatalf("import: %s", r)
			}
			r = run(t, step, "--quiet", "run", "--store", hidden, "--image", "base", "--", "true")
			if lines := nonEmptyLines(r.stderr); r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], "cannot enter") || !strings.Contains(lines[0], "chmod o+x") {
				t.Errorf("a store root of the namespace cannot reach: want exit 125 and one line with the fix:\n%s", r)
			}
			noContainerLeftovers(t, hidden)
		})
	}
}

// isWhiteoutInfo tells an overlayfs whiteout: a character device 0/0.
func isWhiteoutInfo(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// TestLayersRootless runs --image as a user who is not root: the store and
// its layers are root's, and only root may give a copy of them to other
// ids, so the run is refused in one line and leaves nothing behind.
func TestLayersRootless(t *testing.T) {
	requireRoot(t) // to become another user
	as := runOptions{credential: &syscall.Credential{Uid: rootlessUID, Gid: rootlessUID}}
	want := "run --image needs root"
	if refusal := rootlessRefusal(); refusal != "" {
		want = refusal
	}
	for _, step := range layerSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			store := loadedStore(t, step)
			if store == "" {
				t.Fatal("cannot load the test image")
			}
			r := runWith(t, step, as, "--quiet", "run", "--store", store, "--image", "layers-test:docker", "--", "true")
			if lines := nonEmptyLines(r.stderr); r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], want) {
				t.Errorf("run --image as uid %d: want exit 125 and one line containing %q:\n%s", rootlessUID, want, r)
			}
			noContainerLeftovers(t, store)
		})
	}
}

// storeAfterKilledRun is a store with the test image in which a run was
// killed by SIGKILL while its container ran: its container dir and cgroup
// are left for a cleanup or the next run to find.
func storeAfterKilledRun(t *testing.T, step string) string {
	t.Helper()
	store := loadedStore(t, step)
	if store == "" {
		t.Fatal("cannot load the test image")
	}
	c := startContainer(t, step, "--quiet", "run", "--store", store, "--image", "layers-test:docker", "--", "sh", "-c", "echo ready; read -r line")
	c.waitForLine(t, "ready")
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	return store
}
