package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Images from registries: box pull, run --pull and push against a real
// registry (docker-registry, distribution 2.8) that each test starts on
// 127.0.0.1 with its own config and storage, filled with skopeo from OCI
// layouts the test writes itself over the busybox rootfs. Behind basic
// auth (htpasswd) and behind token auth (a token server of the test's
// own), and through small proxies that corrupt or cut a blob. Everything
// talks to loopback only.

// regTools checks for what these tests need and returns the final runtime
// ready to run.
func regTools(t *testing.T) {
	t.Helper()
	finalImages(t)
	requireTool(t, "docker-registry")
	requireTool(t, "skopeo")
}

// regHost is a registry the test started: its host:port.
type regHost string

// startRegistry starts docker-registry on a free loopback port with its
// own storage dir and auth (a YAML block under "auth:", or ""), and stops
// it when the test ends.
func startRegistry(t *testing.T, auth string) regHost {
	t.Helper()
	return startRegistryHTTP(t, "", auth)
}

// startRegistryHTTP is startRegistry with more settings under "http:"
// (indented by four spaces), like tls.
func startRegistryHTTP(t *testing.T, httpExtra, auth string) regHost {
	t.Helper()
	dir := t.TempDir()
	host := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: box-registry-test
%s%s`, filepath.Join(dir, "data"), host, httpExtra, auth)
	file := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command("docker-registry", "serve", file)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// A test binary killed before its cleanup takes the registry along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait until it answers (any answer, even a TLS one); a registry that
	// never does fails the test.
	for i := 0; ; i++ {
		conn, err := net.Dial("tcp", host)
		if err == nil {
			conn.Close()
			return regHost(host)
		}
		if i == 300 {
			t.Fatalf("docker-registry on %s does not answer: %v\n%s", host, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// regImage is one platform's image of a test OCI layout.
type regImage struct {
	platform string   // os/arch[/variant]
	layers   [][]byte // uncompressed layer tars, bottom first
	config   map[string]any
}

// gzipped compresses b (no name, no time: the same bytes each time).
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// writeRegLayout writes an OCI image layout whose index.json names ref:
// one image manifest, or with several images an image index of them.
func writeRegLayout(t *testing.T, ref string, imgs ...regImage) string {
	t.Helper()
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(mediaType string, b []byte) map[string]any {
		d := digestOf(b)
		if err := os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(d, "sha256:")), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	var manifests []any
	for _, img := range imgs {
		parts := strings.Split(img.platform, "/")
		platform := map[string]string{"os": parts[0], "architecture": parts[1]}
		if len(parts) == 3 {
			platform["variant"] = parts[2]
		}
		var layers []any
		var diffIDs []string
		for _, l := range img.layers {
			layers = append(layers, put("application/vnd.oci.image.layer.v1.tar+gzip", gzipped(l)))
			diffIDs = append(diffIDs, digestOf(l))
		}
		cfg := map[string]any{"architecture": platform["architecture"], "os": platform["os"], "config": img.config,
			"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}}
		if v := platform["variant"]; v != "" {
			cfg["variant"] = v
		}
		m := put("application/vnd.oci.image.manifest.v1+json", mustJSON(map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": put("application/vnd.oci.image.config.v1+json", mustJSON(cfg)), "layers": layers,
		}))
		m["platform"] = platform
		manifests = append(manifests, m)
	}
	top := manifests[0].(map[string]any)
	if len(imgs) > 1 {
		top = put("application/vnd.oci.image.index.v1+json", mustJSON(map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests,
		}))
	}
	delete(top, "platform")
	top["annotations"] = map[string]string{"org.opencontainers.image.ref.name": ref}
	index := mustJSON(map[string]any{"schemaVersion": 2, "manifests": []any{top}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// skopeo copies an image with skopeo, without TLS to the test's registry.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	full := append([]string{"--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--src-tls-verify=false"}, args...)
	if out, err := exec.Command("skopeo", full...).CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}

// hostPlatform is this machine's platform as an index names it.
func hostPlatform() string {
	if runtime.GOARCH == "arm64" {
		return "linux/arm64/v8"
	}
	return "linux/" + runtime.GOARCH
}

// regSet is the test images, as layer tars.
type regSet struct {
	base   []byte // the busybox rootfs
	top    []byte // /etc/platform, /etc/image
	runCfg map[string]any
}

func newRegSet(t *testing.T, name string) regSet {
	t.Helper()
	base, err := rootfsLayer(sharedRootfs(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return regSet{base: base, top: regTop(hostPlatform(), name),
		runCfg: map[string]any{"Env": []string{"PATH=/usr/bin:/bin"}, "Cmd": []string{"cat", "/etc/image"}}}
}

// regTop is a small layer naming its platform and image.
func regTop(platform, name string) []byte {
	return layerTar([]tarEntry{{name: "etc/", typ: tar.TypeDir}, {name: "etc/platform", body: platform + "\n"}, {name: "etc/image", body: name + "\n"}})
}

// regDirs are a store and a state dir, and an empty credentials file so
// that root's own ~/.docker/config.json plays no part.
type regDirs struct {
	fimgDirs
	auth string
}

func newRegDirs(t *testing.T) regDirs {
	t.Helper()
	d := regDirs{fimgDirs: newFimgDirs(t), auth: filepath.Join(t.TempDir(), "config.json")}
	if err := os.WriteFile(d.auth, []byte(`{"auths": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// pull runs box pull (with --explain when explain) with the test's
// credentials file.
func (d regDirs) pull(t *testing.T, explain bool, args ...string) result {
	t.Helper()
	full := append([]string{"pull", "--auth-file", d.auth}, args...)
	if explain {
		full = append([]string{"--explain"}, full...)
	}
	return d.box(t, full...)
}

// imageNames lists the names box images shows.
func (d regDirs) imageNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for i, row := range tableOf(d.mustBox(t, "images").stdout) {
		if i > 0 {
			names = append(names, row[0])
		}
	}
	return names
}

// storedNothing checks that a failed pull left no image, no layer and no
// work in progress; downloads are allowed when resumable, for a later
// pull to resume.
func (d regDirs) storedNothing(t *testing.T, resumable bool) {
	t.Helper()
	if names := d.imageNames(t); len(names) > 0 {
		t.Errorf("box images lists %v after a failed pull", names)
	}
	if layers := d.layerDirs(t); len(layers) > 0 {
		t.Errorf("layers stored after a failed pull: %v", layers)
	}
	for _, sub := range []string{"images", "tmp", "downloads"} {
		entries, _ := os.ReadDir(filepath.Join(d.store, sub))
		for _, e := range entries {
			if sub == "downloads" && resumable {
				continue
			}
			t.Errorf("left in the store after a failed pull: %s/%s", sub, e.Name())
		}
	}
}

// oneLine checks a failure: exit 125 and one line on stderr with want.
func oneLine(t *testing.T, r result, want string) {
	t.Helper()
	lines := nonEmptyLines(r.stderr)
	if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("want exit 125 and one line with %q:\n%s", want, r)
	}
}

// TestFinalRegistryPull pulls OCI and docker v2 images and a
// multi-platform index from a registry, runs them, pulls by digest, runs
// an image that is pulled because it is missing, loads a skopeo archive
// named docker.io/..., and pushes an image and pulls it back.
func TestFinalRegistryPull(t *testing.T) {
	regTools(t)
	reg := startRegistry(t, "")
	set := newRegSet(t, "bb")
	layout := writeRegLayout(t, "bb", regImage{platform: hostPlatform(), layers: [][]byte{set.base, set.top}, config: set.runCfg})
	skopeo(t, "oci:"+layout+":bb", fmt.Sprintf("docker://%s/test/bb:oci", reg))
	skopeo(t, "--format", "v2s2", "oci:"+layout+":bb", fmt.Sprintf("docker://%s/test/bb:docker", reg))
	multi := writeRegLayout(t, "multi",
		regImage{platform: "linux/arm/v7", layers: [][]byte{regTop("linux/arm/v7", "multi")}, config: set.runCfg},
		regImage{platform: "linux/arm64/v8", layers: [][]byte{regTop("linux/arm64/v8", "multi")}, config: set.runCfg},
		regImage{platform: "linux/amd64", layers: [][]byte{regTop("linux/amd64", "multi")}, config: set.runCfg},
		regImage{platform: "linux/riscv64", layers: [][]byte{regTop("linux/riscv64", "multi")}, config: set.runCfg},
	)
	skopeo(t, "--all", "oci:"+multi+":multi", fmt.Sprintf("docker://%s/test/multi:1", reg))
	skopeo(t, "--all", "--format", "v2s2", "oci:"+multi+":multi", fmt.Sprintf("docker://%s/test/multi:list", reg))

	d := newRegDirs(t)
	oci := fmt.Sprintf("%s/test/bb:oci", reg)
	r := d.pull(t, true, oci)
	if r.code != 0 {
		t.Fatalf("pull %s: %s", oci, r)
	}
	for _, want := range []string{
		"GET /v2/test/bb/manifests/oci Accept: application/vnd.oci.image.index.v1+json",
		"-> 200 (manifest, 2 layers)",
		"sha256(config) = " + digestOf(mustJSONConfig(t, layout)) + " matches the manifest",
		"sha256(blob) = " + digestOf(gzipped(set.top)) + " matches the manifest",
		"sha256(blob) = " + digestOf(gzipped(set.base)) + " matches the manifest",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("pull --explain does not narrate %q:\n%s", want, r.stderr)
		}
	}
	if want := "Pulled " + oci + ": 2 layers"; !strings.Contains(r.stdout, want) {
		t.Errorf("pull printed %q, want %q", r.stdout, want)
	}
	if r := d.mustBox(t, "run", oci); r.stdout != "bb\n" {
		t.Errorf("run %s printed %q, want the image's CMD output bb", oci, r.stdout)
	}
	if entries, _ := os.ReadDir(filepath.Join(d.store, "downloads")); len(entries) > 0 {
		t.Errorf("downloads left after the pull: %v", entries)
	}

	t.Run("docker v2 manifest, layers stored once", func(t *testing.T) {
		ref := fmt.Sprintf("%s/test/bb:docker", reg)
		r := d.pull(t, true, ref)
		if r.code != 0 {
			t.Fatalf("pull %s: %s", ref, r)
		}
		if !strings.Contains(r.stderr, "-> 200 (manifest, 2 layers)") || strings.Contains(r.stderr, "/blobs/"+digestOf(gzipped(set.base))) {
			t.Errorf("pull of the docker v2 manifest should read it and fetch no stored layer:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "is in the store already: not fetched") {
			t.Errorf("pull does not say the layers are stored already:\n%s", r.stderr)
		}
		if got := d.mustBox(t, "run", ref, "cat", "/etc/platform").stdout; got != hostPlatform()+"\n" {
			t.Errorf("run %s: /etc/platform is %q", ref, got)
		}
	})

	t.Run("multi-platform index", func(t *testing.T) {
		ref := fmt.Sprintf("%s/test/multi:1", reg)
		r := d.pull(t, true, ref)
		if r.code != 0 {
			t.Fatalf("pull %s: %s", ref, r)
		}
		if !strings.Contains(r.stderr, "-> 200 (index, 4 platforms)") || !strings.Contains(r.stderr, "take the manifest for "+hostPlatform()) {
			t.Errorf("pull does not narrate the index and the platform chosen:\n%s", r.stderr)
		}
		if got := readStoredFile(t, d, ref, "etc/platform"); got != hostPlatform()+"\n" {
			t.Errorf("pull %s took %q, want this machine's %s", ref, got, hostPlatform())
		}
		for platform, want := range map[string]string{"linux/arm64": "linux/arm64/v8", "linux/arm/v7": "linux/arm/v7"} {
			other := newRegDirs(t)
			if r := other.pull(t, false, "--platform", platform, ref); r.code != 0 {
				t.Fatalf("pull --platform %s: %s", platform, r)
			}
			if got := readStoredFile(t, other, ref, "etc/platform"); got != want+"\n" {
				t.Errorf("pull --platform %s took %q, want %s", platform, got, want)
			}
		}
		// The same as docker's manifest list.
		list := fmt.Sprintf("%s/test/multi:list", reg)
		other := newRegDirs(t)
		r = other.pull(t, true, "--platform", "linux/arm64/v8", list)
		if r.code != 0 || !strings.Contains(r.stderr, "-> 200 (index, 4 platforms)") {
			t.Fatalf("pull of a docker manifest list:\n%s", r)
		}
		if got := readStoredFile(t, other, list, "etc/platform"); got != "linux/arm64/v8\n" {
			t.Errorf("pull --platform linux/arm64/v8 of the manifest list took %q", got)
		}
		other = newRegDirs(t)
		oneLine(t, other.pull(t, false, "--platform", "linux/s390x", ref), "no image for linux/s390x; the index has linux/arm/v7, linux/arm64/v8, linux/amd64, linux/riscv64")
		other.storedNothing(t, false)
	})

	t.Run("by digest", func(t *testing.T) {
		digest := manifestDigest(t, reg, "test/bb", "oci")
		ref := fmt.Sprintf("%s/test/bb@%s", reg, digest)
		r := d.pull(t, true, ref)
		if r.code != 0 {
			t.Fatalf("pull %s: %s", ref, r)
		}
		if !strings.Contains(r.stderr, "sha256(manifest) = "+digest+" matches the digest asked for") {
			t.Errorf("pull by digest does not check the manifest's digest:\n%s", r.stderr)
		}
		if got := d.mustBox(t, "run", ref).stdout; got != "bb\n" {
			t.Errorf("run %s printed %q", ref, got)
		}
	})

	t.Run("two pulls at once", func(t *testing.T) {
		fresh := newRegDirs(t)
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = fresh.pull(t, false, oci)
			}(i)
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 {
				t.Errorf("one of two pulls at once failed:\n%s", r)
			}
		}
		if names := fresh.imageNames(t); len(names) != 1 || names[0] != oci {
			t.Errorf("images after two pulls at once: %v", names)
		}
		if entries, _ := os.ReadDir(filepath.Join(fresh.store, "downloads")); len(entries) > 0 {
			t.Errorf("downloads left after two pulls at once: %v", entries)
		}
	})

	t.Run("run pulls a missing image", func(t *testing.T) {
		fresh := newRegDirs(t)
		r := fresh.box(t, "run", "--pull", "never", oci)
		oneLine(t, r, "is not in the store")
		r = fresh.box(t, "run", "--auth-file", fresh.auth, oci)
		if r.code != 0 || r.stdout != "bb\n" || !strings.Contains(r.stderr, "pulling it from "+string(reg)) {
			t.Errorf("run of a missing image should pull it, then run it:\n%s", r)
		}
		r = fresh.box(t, "--explain", "run", "--pull", "always", "--auth-file", fresh.auth, oci)
		if r.code != 0 || !strings.Contains(r.stderr, "GET /v2/test/bb/manifests/oci") || !strings.Contains(r.stderr, "in the store already: not fetched") {
			t.Errorf("run --pull always should ask the registry again, and fetch no stored layer:\n%s", r)
		}
		if names := fresh.imageNames(t); len(names) != 1 || names[0] != oci {
			t.Errorf("images after run: %v, want [%s]", names, oci)
		}
	})

	t.Run("docker.io names", func(t *testing.T) {
		archive := filepath.Join(t.TempDir(), "sk.tar")
		skopeo(t, "oci:"+layout+":bb", "docker-archive:"+archive+":docker.io/sk/img:2")
		fresh := newRegDirs(t)
		fresh.mustBox(t, "load", archive)
		if names := fresh.imageNames(t); len(names) != 1 || names[0] != "sk/img:2" {
			t.Errorf("load of docker.io/sk/img:2 lists %v, want [sk/img:2]", names)
		}
		for _, name := range []string{"sk/img:2", "docker.io/sk/img:2", "index.docker.io/sk/img:2"} {
			if got := fresh.mustBox(t, "run", "--pull", "never", name).stdout; got != "bb\n" {
				t.Errorf("run %s printed %q", name, got)
			}
		}
	})

	t.Run("push", func(t *testing.T) {
		src := newRegDirs(t)
		ref := fmt.Sprintf("%s/test/pushed:1", reg)
		src.mustBox(t, "load", writeDockerSave(t, ref, set), ref)
		r := src.box(t, "--explain", "push", "--auth-file", src.auth, ref)
		if r.code != 0 || !strings.Contains(r.stdout, "Pushed "+ref+": 2 layers, manifest sha256:") || !strings.Contains(r.stderr, "PUT /v2/test/pushed/manifests/1") {
			t.Fatalf("push %s:\n%s", ref, r)
		}
		r = src.box(t, "--explain", "push", "--auth-file", src.auth, ref)
		if r.code != 0 || strings.Contains(r.stderr, "POST ") || !strings.Contains(r.stderr, "the registry has it: not uploaded again") {
			t.Errorf("a second push should upload no blob again:\n%s", r)
		}
		if out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "docker://"+ref).CombinedOutput(); err != nil {
			t.Errorf("skopeo inspect of the pushed image: %v\n%s", err, out)
		}
		back := newRegDirs(t)
		if r := back.pull(t, false, ref); r.code != 0 {
			t.Fatalf("pull back %s: %s", ref, r)
		}
		if got := back.mustBox(t, "run", ref).stdout; got != "bb\n" {
			t.Errorf("run of the image pushed and pulled back printed %q", got)
		}
	})
}

// mustJSONConfig reads the config blob of the one image of a layout.
func mustJSONConfig(t *testing.T, layout string) []byte {
	t.Helper()
	read := func(digest string) []byte {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var index, manifest struct {
		Manifests []struct{ Digest string } `json:"manifests"`
		Config    struct{ Digest string }   `json:"config"`
	}
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &index)
	json.Unmarshal(read(index.Manifests[0].Digest), &manifest)
	return read(manifest.Config.Digest)
}

// manifestDigest asks the registry for a tag's manifest digest.
func manifestDigest(t *testing.T, reg regHost, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("registry gave no digest for %s:%s (%s)", repo, tag, resp.Status)
	}
	return d
}

// readStoredFile reads a file of the top layer of a stored image.
func readStoredFile(t *testing.T, d regDirs, name, file string) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(d.store, "images"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var img struct {
			Name   string
			Layers []struct{ Digest string }
		}
		b, _ := os.ReadFile(filepath.Join(d.store, "images", e.Name()))
		if json.Unmarshal(b, &img) != nil || img.Name != name || len(img.Layers) == 0 {
			continue
		}
		top := strings.TrimPrefix(img.Layers[len(img.Layers)-1].Digest, "sha256:")
		b, err := os.ReadFile(filepath.Join(d.store, "layers", "sha256", top, file))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Fatalf("image %s is not in the store %s", name, d.store)
	return ""
}

// writeDockerSave writes the test image as a docker save archive.
func writeDockerSave(t *testing.T, name string, set regSet) string {
	t.Helper()
	layers := [][]byte{set.base, set.top}
	config := imageConfig([]string{digestOf(set.base), digestOf(set.top)}, nil, set.runCfg)
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(file, dockerSaveArchive([]string{name}, config, layers), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestFinalRegistryAuth pulls from a registry behind basic auth (an
// htpasswd file), with credentials from a docker config.json, and from
// one behind token auth, where a token server of the test's own hands
// out tokens signed with a key whose certificate the registry trusts.
func TestFinalRegistryAuth(t *testing.T) {
	regTools(t)
	htpasswd := requireTool(t, "htpasswd")
	set := newRegSet(t, "auth")
	layout := writeRegLayout(t, "auth", regImage{platform: hostPlatform(), layers: [][]byte{set.base, set.top}, config: set.runCfg})

	t.Run("basic", func(t *testing.T) {
		dir := t.TempDir()
		out, err := exec.Command(htpasswd, "-Bbn", "learner", "s3cret").Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		users := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(users, out, 0o600); err != nil {
			t.Fatal(err)
		}
		reg := startRegistry(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: box-test\n    path: %s\n", users))
		ref := fmt.Sprintf("%s/class/auth:1", reg)
		skopeo(t, "--dest-creds", "learner:s3cret", "oci:"+layout+":auth", "docker://"+ref)

		d := newRegDirs(t)
		oneLine(t, d.pull(t, false, ref), "asks for a user name and password; put them in "+d.auth)
		d.storedNothing(t, false)

		writeAuth(t, d.auth, string(reg), "learner", "wrong")
		oneLine(t, d.pull(t, false, ref), "refuses access")
		d.storedNothing(t, false)

		writeAuth(t, d.auth, string(reg), "learner", "s3cret")
		r := d.pull(t, true, ref)
		if r.code != 0 || !strings.Contains(r.stderr, "-> 401 (WWW-Authenticate: Basic") || !strings.Contains(r.stderr, "Authorization: Basic ...") {
			t.Fatalf("pull with credentials should answer the 401 with basic auth:\n%s", r)
		}
		if got := d.mustBox(t, "run", ref).stdout; got != "auth\n" {
			t.Errorf("run %s printed %q", ref, got)
		}
	})

	t.Run("token", func(t *testing.T) {
		ts := startTokenServer(t)
		reg := startRegistry(t, fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: box-test-registry\n    issuer: box-test-issuer\n    rootcertbundle: %s\n", ts.realm, ts.certFile))
		ref := fmt.Sprintf("%s/class/token:1", reg)
		skopeo(t, "oci:"+layout+":auth", "docker://"+ref)

		d := newRegDirs(t)
		before := ts.issued.Load()
		r := d.pull(t, true, ref)
		if r.code != 0 {
			t.Fatalf("pull %s: %s", ref, r)
		}
		for _, want := range []string{
			`-> 401 (WWW-Authenticate: Bearer realm="` + ts.realm + `"`,
			"ask its token service " + realmHost(t, ts.realm) + " for one, anonymously, for repository:class/token:pull",
			"scope=repository%3Aclass%2Ftoken%3Apull",
			"(a token for 300s)",
			"Authorization: Bearer ...",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("pull --explain does not narrate %q:\n%s", want, r.stderr)
			}
		}
		if ts.issued.Load() == before {
			t.Errorf("the token server issued no token to box")
		}
		if got := d.mustBox(t, "run", ref).stdout; got != "auth\n" {
			t.Errorf("run %s printed %q", ref, got)
		}
		// A push needs a token with push in its scope.
		pushed := fmt.Sprintf("%s/class/pushed:1", reg)
		d.mustBox(t, "load", writeDockerSave(t, pushed, set), pushed)
		r = d.box(t, "--explain", "push", "--auth-file", d.auth, pushed)
		if r.code != 0 || !strings.Contains(r.stderr, "repository:class/pushed:pull,push") {
			t.Errorf("push through token auth:\n%s", r)
		}
	})
}

// realmHost is the host:port of a token service's URL.
func realmHost(t *testing.T, realm string) string {
	u, err := url.Parse(realm)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// boxEnv runs box with d's dirs and extra environment variables.
func (d regDirs) boxEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t, finalStep), d.args(args...)...)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestFinalRegistryHTTPS pushes to and pulls from a registry that speaks
// HTTPS, with a certificate for 127.0.0.1 made here: trusted through
// SSL_CERT_FILE it works, and untrusted it fails in one line. HTTPS comes
// first even on loopback.
func TestFinalRegistryHTTPS(t *testing.T) {
	regTools(t)
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	reg := startRegistryHTTP(t, fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile), "")
	trust := []string{"SSL_CERT_FILE=" + certFile}

	set := newRegSet(t, "tls")
	ref := fmt.Sprintf("%s/test/tls:1", reg)
	src := newRegDirs(t)
	src.mustBox(t, "load", writeDockerSave(t, ref, set), ref)
	oneLine(t, src.boxEnv(t, nil, "push", "--auth-file", src.auth, ref), "certificate")
	if r := src.boxEnv(t, trust, "--explain", "push", "--auth-file", src.auth, ref); r.code != 0 || !strings.Contains(r.stderr, "to https://"+string(reg)) {
		t.Fatalf("push over HTTPS:\n%s", r)
	}

	d := newRegDirs(t)
	oneLine(t, d.boxEnv(t, nil, "pull", "--auth-file", d.auth, ref), "certificate")
	d.storedNothing(t, false)
	r := d.boxEnv(t, trust, "--explain", "pull", "--auth-file", d.auth, ref)
	if r.code != 0 || !strings.Contains(r.stderr, "from https://"+string(reg)) || strings.Contains(r.stderr, "plain HTTP") {
		t.Fatalf("pull over HTTPS:\n%s", r)
	}
	if got := d.mustBox(t, "run", ref).stdout; got != "tls\n" {
		t.Errorf("run %s printed %q", ref, got)
	}
}

// writeAuth writes a docker config.json with one registry's credentials.
func writeAuth(t *testing.T, file, host, user, password string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if err := os.WriteFile(file, mustJSON(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tokenServer hands out registry tokens (docker's token authentication):
// JWTs signed RS256 with a key whose self-signed certificate the registry
// trusts (rootcertbundle), sent along in the x5c header.
type tokenServer struct {
	realm    string
	certFile string
	issued   atomic.Int64
}

func startTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "box-test-token-issuer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{certFile: filepath.Join(t.TempDir(), "token-cert.pem")}
	if err := os.WriteFile(ts.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.realm = "http://" + l.Addr().String() + "/token"
	b64 := base64.RawURLEncoding.EncodeToString
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var access []map[string]any
		for _, scope := range r.URL.Query()["scope"] {
			parts := strings.Split(scope, ":")
			if len(parts) == 3 && parts[0] == "repository" {
				access = append(access, map[string]any{"type": "repository", "name": parts[1], "actions": strings.Split(parts[2], ",")})
			}
		}
		now := time.Now().Unix()
		header := mustJSON(map[string]any{"typ": "JWT", "alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(der)}})
		claims := mustJSON(map[string]any{"iss": "box-test-issuer", "sub": "", "aud": r.URL.Query().Get("service"),
			"exp": now + 300, "nbf": now - 10, "iat": now, "jti": fmt.Sprint(ts.issued.Add(1)), "access": access})
		signed := b64(header) + "." + b64(claims)
		sum := sha256.Sum256([]byte(signed))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		token := signed + "." + b64(sig)
		w.Header().Set("Content-Type", "application/json")
		w.Write(mustJSON(map[string]any{"token": token, "access_token": token, "expires_in": 300}))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ts
}

// TestFinalRegistryBadInput: an unknown image or tag, a blob whose content
// does not match its digest, a download cut short, a registry that is
// down, and media types box does not read each fail with one line, and
// leave no image, no layer and no work in progress in the store. The cut
// download is resumed by the next pull.
func TestFinalRegistryBadInput(t *testing.T) {
	regTools(t)
	reg := startRegistry(t, "")
	set := newRegSet(t, "bad")
	layout := writeRegLayout(t, "bad", regImage{platform: hostPlatform(), layers: [][]byte{set.base, set.top}, config: set.runCfg})
	skopeo(t, "oci:"+layout+":bad", fmt.Sprintf("docker://%s/test/bad:1", reg))
	baseBlob := digestOf(gzipped(set.base))
	pushRaw(t, reg, "test/zstd", "1", "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+zstd")
	pushRaw(t, reg, "test/chart", "1", "application/vnd.cncf.helm.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
	corrupt := startBlobProxy(t, reg, baseBlob, "corrupt")
	configDigest := digestOf(mustJSONConfig(t, layout))
	corruptConfig := startBlobProxy(t, reg, configDigest, "corrupt")
	down := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))

	tests := []struct {
		name, ref, want string
	}{
		{"unknown image", fmt.Sprintf("%s/test/nothing:1", reg), "has no image test/nothing:1"},
		{"unknown tag", fmt.Sprintf("%s/test/bad:nope", reg), "registry " + string(reg) + " has no image test/bad:nope (MANIFEST_UNKNOWN"},
		{"blob does not match its digest", fmt.Sprintf("%s/test/bad:1", corrupt), "but the manifest says " + baseBlob},
		{"config does not match its digest", fmt.Sprintf("%s/test/bad:1", corruptConfig), "config: its content has digest sha256:"},
		{"registry down", down + "/test/bad:1", "cannot reach registry " + down + ": connection refused"},
		{"zstd layer", fmt.Sprintf("%s/test/zstd:1", reg), "layer 1 is zstd-compressed"},
		{"not a container image", fmt.Sprintf("%s/test/chart:1", reg), `its config has media type "application/vnd.cncf.helm.config.v1+json": not a container image`},
		{"bad name", "127.0.0.1:5000/Test/bad:1", "image name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRegDirs(t)
			oneLine(t, d.pull(t, false, tt.ref), tt.want)
			d.storedNothing(t, false)
		})
	}

	t.Run("pull killed halfway, then resumed", func(t *testing.T) {
		halfway := make(chan struct{})
		stall := startBlobProxyNotify(t, reg, baseBlob, "stall", halfway)
		ref := fmt.Sprintf("%s/test/bad:1", stall)
		d := newRegDirs(t)
		cmd := exec.Command(binary(t, finalStep), d.args("pull", "--auth-file", d.auth, ref)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-halfway:
		case <-time.After(runTimeout):
			t.Fatal("the pull never reached the middle of the layer")
		}
		// Kill it once the bytes sent are on disk, in the .partial file.
		partial := filepath.Join(d.store, "downloads", strings.TrimPrefix(baseBlob, "sha256:")+".partial")
		for deadline := time.Now().Add(runTimeout); ; time.Sleep(10 * time.Millisecond) {
			if info, err := os.Stat(partial); err == nil && info.Size() > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no bytes in %s", partial)
			}
		}
		cmd.Process.Kill() // SIGKILL: nothing of box's runs after this
		cmd.Wait()
		d.storedNothing(t, true)
		r := d.pull(t, true, ref)
		if r.code != 0 || !strings.Contains(r.stderr, "-> 206 (resume at byte") {
			t.Fatalf("the pull after a killed one should resume its download:\n%s", r)
		}
		if names := d.imageNames(t); len(names) != 1 || names[0] != ref {
			t.Errorf("images after the resumed pull: %v", names)
		}
	})

	t.Run("truncated download, then resumed", func(t *testing.T) {
		cut := startBlobProxy(t, reg, baseBlob, "truncate")
		ref := fmt.Sprintf("%s/test/bad:1", cut)
		d := newRegDirs(t)
		oneLine(t, d.pull(t, false, ref), "the download broke off after")
		d.storedNothing(t, true)
		r := d.pull(t, true, ref)
		if r.code != 0 {
			t.Fatalf("the pull after a cut download: %s", r)
		}
		if !strings.Contains(r.stderr, "Range: bytes=") || !strings.Contains(r.stderr, "-> 206 (resume at byte") {
			t.Errorf("the pull after a cut download should resume it with a Range request:\n%s", r.stderr)
		}
		if got := d.mustBox(t, "run", ref).stdout; got != "bad\n" {
			t.Errorf("run of the resumed image printed %q", got)
		}
	})
}

// pushRaw puts an image with the given config and layer media types into
// the registry with plain API calls, as no tool would make one.
func pushRaw(t *testing.T, reg regHost, repo, tag, configType, layerType string) {
	t.Helper()
	layer := gzipped(layerTar([]tarEntry{{name: "f", body: "x"}}))
	config := imageConfig([]string{digestOf(layerTar([]tarEntry{{name: "f", body: "x"}}))}, nil, map[string]any{})
	for _, blob := range [][]byte{layer, config} {
		resp, err := http.Post(fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", reg, repo), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("open an upload: %s %v", resp.Status, err)
		}
		q := loc.Query()
		q.Set("digest", digestOf(blob))
		loc.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(blob))
		req.Header.Set("Content-Type", "application/octet-stream")
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload a blob: %s", resp.Status)
		}
	}
	manifest := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": configType, "digest": digestOf(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": layerType, "digest": digestOf(layer), "size": len(layer)}},
	})
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg, repo, tag), bytes.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put the manifest of %s:%s: %s %s", repo, tag, resp.Status, body)
	}
}

// startBlobProxy serves the registry through a proxy on loopback that
// spoils one blob: "corrupt" flips a byte in the middle of it each time;
// "truncate" sends half of it on the first whole request and then drops
// the connection, and serves later (Range) requests as they are.
func startBlobProxy(t *testing.T, reg regHost, digest, how string) regHost {
	t.Helper()
	return startBlobProxyNotify(t, reg, digest, how, nil)
}

// startBlobProxyNotify is startBlobProxy that can also "stall": send half
// of the blob once, close halfway, and hold the connection until the
// client goes away.
func startBlobProxyNotify(t *testing.T, reg regHost, digest, how string, halfway chan struct{}) regHost {
	t.Helper()
	target, _ := url.Parse("http://" + string(reg))
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+digest) || (how != "corrupt" && r.Header.Get("Range") != "") {
			proxy.ServeHTTP(w, r)
			return
		}
		resp, err := http.Get(target.String() + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(resp.StatusCode)
		switch how {
		case "corrupt":
			body[len(body)/2] ^= 0xff
			w.Write(body)
		case "stall":
			first := false
			once.Do(func() { first = true })
			if !first {
				w.Write(body)
				return
			}
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			close(halfway)
			<-r.Context().Done()
		case "truncate":
			cut := false
			once.Do(func() { cut = true })
			if !cut {
				w.Write(body)
				return
			}
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the server drops the connection
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ErrorLog: nil}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return regHost(l.Addr().String())
}
