package tests

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The image store of the final runtime: images, import, load (docker save
// archives and OCI layouts, which the tests write themselves with
// archive/tar), history, rmi and run IMAGE, checked for real as root: the
// container's view of the layers, copy-on-write, the overlayfs fallback,
// and that nothing is left mounted or on disk, even after a SIGKILL.

// finalImages checks that final has the image commands, and returns what
// every test of the image store needs.
func finalImages(t *testing.T) {
	t.Helper()
	requireRoot(t)
	builds.once.Do(buildAll)
	if err := builds.errs[finalStep]; err != nil {
		t.Fatalf("final does not build: %v", err)
	}
	if r := run(t, finalStep, "images", "--help"); r.code != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("final has no images command, and CI=true:\n%s", r)
		}
		t.Skipf("final has no images command yet (main.go's cli must embed ImageCommands):\n%s", r)
	}
}

// fimgDirs is a store and a state dir of one test's own, so tests can run
// side by side and see only their own images and containers.
type fimgDirs struct{ store, state string }

func newFimgDirs(t *testing.T) fimgDirs {
	t.Helper()
	// 0755 up to the store: root of a user namespace must reach the
	// container roots below it.
	dir := safeTempDir(t, "image-store-", 0o755)
	return fimgDirs{store: filepath.Join(dir, "store"), state: filepath.Join(dir, "state")}
}

// box runs final with d's store and state dir, quietly unless args ask
// for --explain.
func (d fimgDirs) box(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, finalStep, d.args(args...)...)
}

func (d fimgDirs) args(args ...string) []string {
	out := []string{"--store", d.store, "--state-dir", d.state}
	if len(args) == 0 || args[0] != "--explain" {
		out = append(out, "--quiet")
	}
	return append(out, args...)
}

// mustBox is box that fails t unless the command succeeds.
func (d fimgDirs) mustBox(t *testing.T, args ...string) result {
	t.Helper()
	r := d.box(t, args...)
	if r.code != 0 {
		t.Fatalf("box %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// The test image: three layers over a busybox rootfs. Layer 2 deletes,
// replaces and adds files of layer 1, makes /opq opaque and deletes a whole
// directory; layer 3 deletes what layer 2 added and brings back what layer
// 2 deleted.
var (
	fimgLayer1 = []tarEntry{
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
		{name: "srv/", typ: tar.TypeDir},
	}
	fimgLayer2 = []tarEntry{
		{name: "data/.wh.delete"},
		{name: "data/replace", body: "replace v2\n"},
		{name: "data/added", body: "added by layer 2\n"},
		{name: "opq/", typ: tar.TypeDir},
		{name: "opq/.wh..wh..opq"},
		{name: "opq/new", body: "new in opaque\n"},
		{name: ".wh.gone"},
	}
	fimgLayer3 = []tarEntry{
		{name: "data/.wh.added"},
		{name: "data/delete", body: "reborn in layer 3\n"},
		{name: "etc/layer3", body: "3\n"},
	}
	fimgCreatedBy = []string{"ADD rootfs.tar /", "ENV GREETING=hello", "RUN edit /data /opq && rm -r /gone", "RUN fix /data"}
)

// fimgView is what a container of the test image must see, file by file.
var fimgView = []string{
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

// fimgViewScript prints fimgView's lines from inside a container.
const fimgViewScript = `for f in /data/keep /data/replace /data/delete /data/added /opq/old /opq/sub /opq/new /gone /gone/file /etc/layer3; do
  if [ -f "$f" ]; then echo "$f: $(cat "$f")"; elif [ -e "$f" ]; then echo "$f: dir"; else echo "$f: absent"; fi
done
echo "ls /opq: $(ls -A /opq)"`

// fimgSet is the test image in every form the runtime loads.
type fimgSet struct {
	dockerSave string   // docker save archive, plain layer tars
	ociDir     string   // OCI image layout dir, gzipped layers, under a multi-platform index
	ociTar     string   // the OCI layout as a tar
	baseTar    string   // layer 1 alone: a rootfs tarball without whiteouts
	diffIDs    []string // sha256 of each uncompressed layer tar, bottom first
	sizes      []int64
	configID   string // sha256 of the config JSON: the image ID
}

var fimgOnce struct {
	sync.Once
	set *fimgSet
	err error
}

// fimgImages returns the test images, writing them on first use.
func fimgImages(t *testing.T) *fimgSet {
	t.Helper()
	rootfs := sharedRootfs(t)
	fimgOnce.Do(func() { fimgOnce.set, fimgOnce.err = writeFimgImages(rootfs) })
	if fimgOnce.err != nil {
		t.Fatalf("write test images: %v", fimgOnce.err)
	}
	return fimgOnce.set
}

func writeFimgImages(rootfs string) (*fimgSet, error) {
	dir, err := os.MkdirTemp(harness.root, "final-images-")
	if err != nil {
		return nil, err
	}
	base, err := rootfsLayer(rootfs, fimgLayer1)
	if err != nil {
		return nil, err
	}
	set := &fimgSet{}
	layers := [][]byte{base, layerTar(fimgLayer2), layerTar(fimgLayer3)}
	for _, l := range layers {
		set.diffIDs = append(set.diffIDs, digestOf(l))
		set.sizes = append(set.sizes, int64(len(l)))
	}
	set.baseTar = filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(set.baseTar, base, 0o644); err != nil {
		return nil, err
	}
	history := []map[string]any{
		{"created_by": fimgCreatedBy[0], "created": "2024-01-01T00:00:00Z"},
		{"created_by": fimgCreatedBy[1], "empty_layer": true},
		{"created_by": fimgCreatedBy[2]},
		{"created_by": fimgCreatedBy[3]},
	}
	config := imageConfig(set.diffIDs, history, map[string]any{
		"Env": []string{"PATH=/usr/bin:/bin", "GREETING=hello"}, "Cmd": []string{"/bin/sh", "-c", "echo cmd of the image in $(pwd)"},
		"WorkingDir": "/srv",
	})
	set.configID = digestOf(config)
	set.dockerSave = filepath.Join(dir, "docker-save.tar")
	if err := os.WriteFile(set.dockerSave, dockerSaveArchive([]string{"layers-test:docker"}, config, layers), 0o644); err != nil {
		return nil, err
	}
	set.ociDir = filepath.Join(dir, "oci")
	if err := writeOCILayout(set.ociDir, "layers-test:oci", config, layers); err != nil {
		return nil, err
	}
	set.ociTar = filepath.Join(dir, "oci.tar")
	return set, tarDir(set.ociDir, set.ociTar)
}

// loaded is a new store with the test image loaded from its docker save
// archive as layers-test:docker.
func (d fimgDirs) loaded(t *testing.T) fimgDirs {
	t.Helper()
	d.mustBox(t, "load", fimgImages(t).dockerSave)
	return d
}

// noLeftovers checks that the store holds no container roots and no work
// in progress, that nothing is mounted below it, and that no container's
// state is left.
func (d fimgDirs) noLeftovers(t testing.TB) {
	t.Helper()
	for _, sub := range []string{filepath.Join(d.store, "containers"), filepath.Join(d.store, "tmp"), filepath.Join(d.state, "containers")} {
		entries, err := os.ReadDir(sub)
		if err != nil && !os.IsNotExist(err) {
			t.Errorf("read %s: %v", sub, err)
			continue
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") { // the state dir's .lock
				t.Errorf("left behind: %s/%s", sub, e.Name())
			}
		}
	}
	if left := mountsUnder(filepath.Dir(d.store)); len(left) > 0 {
		t.Errorf("mounts left under the store: %v", left)
	}
}

// layerDirs lists the extracted layers of the store by their hex digest.
func (d fimgDirs) layerDirs(t testing.TB) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(d.store, "layers", "sha256"))
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}

// tableOf splits a table's lines into columns, which are separated by at
// least two spaces (a column may hold single spaces: CREATED BY).
func tableOf(out string) [][]string {
	var rows [][]string
	for _, line := range nonEmptyLines(out) {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1))
	}
	return rows
}

// fimgSize is the decimal size docker prints: 4.26MB.
func fimgSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	digits := 3 - len(fmt.Sprint(int(v)))
	if digits < 0 {
		digits = 0
	}
	return fmt.Sprintf("%.*f%s", digits, v, units[i])
}

// TestFinalImageLoad loads the test image from a docker save archive, an
// OCI layout directory and a tar of one, and imports its base layer: each
// layer is stored once, in a dir named by its diff_id, and images and
// history list them with their digests and sizes.
func TestFinalImageLoad(t *testing.T) {
	finalImages(t)
	imgs := fimgImages(t)
	d := newFimgDirs(t)
	loads := []struct {
		args   []string
		stdout string
	}{
		{[]string{"load", imgs.dockerSave}, "Loaded layers-test:docker: 3 layers\n"},
		{[]string{"load", imgs.ociDir}, "Loaded layers-test:oci: 3 layers\n"},
		{[]string{"load", imgs.ociTar, "from-tar"}, "Loaded from-tar:latest: 3 layers\n"},
		{[]string{"import", imgs.baseTar, "base:1"}, "Imported base:1: 1 layer, " + imgs.diffIDs[0] + "\n"},
	}
	for _, l := range loads {
		if r := d.mustBox(t, l.args...); r.stdout != l.stdout {
			t.Errorf("%v: stdout %q, want %q", l.args, r.stdout, l.stdout)
		}
	}
	var want []string
	for _, id := range imgs.diffIDs {
		want = append(want, strings.TrimPrefix(id, "sha256:"))
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, d.layerDirs(t)); diff != "" {
		t.Errorf("layer dirs: one per diff_id, shared by the four images (-want +got):\n%s", diff)
	}

	var total int64
	for _, s := range imgs.sizes {
		total += s
	}
	r := d.mustBox(t, "images")
	wantImages := [][]string{{"NAME", "IMAGE ID", "LAYERS", "SIZE", "CREATED"}}
	for _, name := range []string{"base:1", "from-tar:latest", "layers-test:docker", "layers-test:oci"} {
		row := []string{name, imgs.configID[7:19], "3", fimgSize(total), "-"}
		if name == "base:1" {
			row = []string{name, "(its own)", "1", fimgSize(imgs.sizes[0]), "(now)"}
		}
		wantImages = append(wantImages, row)
	}
	got := tableOf(r.stdout)
	for _, row := range got {
		if len(row) == 5 && row[0] == "base:1" {
			row[1], row[4] = "(its own)", "(now)" // an import has an ID of its own, and was made now
		}
	}
	if diff := cmp.Diff(wantImages, got); diff != "" {
		t.Errorf("images (-want +got):\n%s\n%s", diff, r)
	}

	r = d.mustBox(t, "history", "layers-test:oci")
	wantHistory := [][]string{
		{"LAYER", "SIZE", "CREATED", "CREATED BY"},
		{imgs.diffIDs[2], fimgSize(imgs.sizes[2]), "-", fimgCreatedBy[3]},
		{imgs.diffIDs[1], fimgSize(imgs.sizes[1]), "-", fimgCreatedBy[2]},
		{"-", "0B", "-", fimgCreatedBy[1]},
		{imgs.diffIDs[0], fimgSize(imgs.sizes[0]), "2024-01-01T00:00:00Z", fimgCreatedBy[0]},
	}
	if diff := cmp.Diff(wantHistory, tableOf(r.stdout)); diff != "" {
		t.Errorf("history, newest first, with each layer's digest (-want +got):\n%s\n%s", diff, r)
	}

	// Loading again reads no layer: content addressing finds them stored.
	r = d.mustBox(t, "--explain", "load", imgs.dockerSave)
	if n := strings.Count(r.stderr, "is in the store already"); n != 3 {
		t.Errorf("a second load says %d layers are stored already, want 3:\n%s", n, r.stderr)
	}
	d.noLeftovers(t)
}

// TestFinalImageRun runs containers of the test image, with the default
// user namespace and without one: they see the layers as the image says
// (whiteouts, opaque dirs), with its environment, working directory and
// command; what they write lands in their upper dir, which --explain
// reports, and the layers stay untouched; nothing stays mounted.
func TestFinalImageRun(t *testing.T) {
	finalImages(t)
	d := newFimgDirs(t).loaded(t)
	holdHostMounts(t)
	hostBefore := hostMountinfo(t)
	layersBefore := hashTree(t, filepath.Join(d.store, "layers"))
	for _, userns := range [][]string{nil, {"--userns", "host"}} {
		userns := userns
		t.Run(fmt.Sprintf("userns=%v", userns), func(t *testing.T) {
			runArgs := func(args ...string) []string {
				return append(append([]string{"run"}, userns...), args...)
			}
			r := d.mustBox(t, runArgs("layers-test:docker", "sh", "-c", fimgViewScript)...)
			if diff := cmp.Diff(fimgView, nonEmptyLines(r.stdout)); diff != "" {
				t.Errorf("the container's view of the layers (-want +got):\n%s", diff)
			}
			r = d.mustBox(t, runArgs("layers-test:docker", "sh", "-c", `echo "$GREETING $PATH $(pwd) $(id -u) $(stat -c %u /data/keep)"; grep -c overlay /proc/self/mountinfo`)...)
			if want := "hello /usr/bin:/bin /srv 0 0\n1\n"; r.stdout != want {
				t.Errorf("env, workdir, ids and root mount: got %q, want %q", r.stdout, want)
			}
			r = d.mustBox(t, runArgs("layers-test:docker")...)
			if want := "cmd of the image in /srv\n"; r.stdout != want {
				t.Errorf("run IMAGE with no command runs the image's CMD: got %q, want %q", r.stdout, want)
			}
			script := `echo changed > /data/keep && rm /data/replace && echo new > /data/fresh && rm -r /opq && mkdir /opq && echo again > /opq/again && cat /data/keep`
			r = d.mustBox(t, append([]string{"--explain"}, runArgs("layers-test:docker", "sh", "-c", script)...)...)
			if r.stdout != "changed\n" {
				t.Errorf("writing container: stdout %q", r.stdout)
			}
			var changes []string
			for _, line := range strings.Split(r.stderr, "\n") {
				if regexp.MustCompile(`^  [ACD] /`).MatchString(line) {
					changes = append(changes, strings.TrimSpace(line))
				}
			}
			want := []string{
				"C /data",
				"A /data/fresh",
				"C /data/keep",
				"D /data/replace (whiteout)",
				"C /opq (opaque: hides the layers' /opq)",
				"A /opq/again",
			}
			if diff := cmp.Diff(want, changes); diff != "" {
				t.Errorf("reported changes (-want +got):\n%s\n%s", diff, r.stderr)
			}
			if !regexp.MustCompile(`mount\("overlay", "[^"]+/containers/[0-9a-f]{16}/rootfs", "overlay", 0, "lowerdir=[^",:]+/` + imagesHex(t, 2) + `:[^"]+/` + imagesHex(t, 0) + `,upperdir=`).MatchString(r.stderr) {
				t.Errorf("the overlay mount, top layer first, is not narrated:\n%s", r.stderr)
			}
			again := d.mustBox(t, runArgs("layers-test:docker", "sh", "-c", fimgViewScript)...)
			if diff := cmp.Diff(fimgView, nonEmptyLines(again.stdout)); diff != "" {
				t.Errorf("a new container does not see the image as it was (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(layersBefore, hashTree(t, filepath.Join(d.store, "layers"))); diff != "" {
		t.Errorf("the layers changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(hostBefore, hostMountinfo(t)); diff != "" {
		t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
	}
	shifted, _ := filepath.Glob(filepath.Join(d.store, "shifted", "100000-65536", "*"))
	if len(shifted) != 3 {
		t.Errorf("want 3 layer copies for the default user namespace, found %v", shifted)
	}
	d.noLeftovers(t)
}

// imagesHex is the hex digest of layer i of the test image.
func imagesHex(t *testing.T, i int) string {
	return strings.TrimPrefix(fimgImages(t).diffIDs[i], "sha256:")
}

// TestFinalImageOnOverlayfs runs final where the store is on overlayfs, as
// it is inside docker run --privileged: in a private mount namespace
// (unshare -m) the test mounts an overlay over an empty store. An upper
// dir cannot be on overlayfs, so the runtime must mount a tmpfs for upper
// and work, say so, and unmount it afterwards, also after a SIGKILL (by
// cleanup). Whiteouts cannot be made on overlayfs: loading an image with
// some must fail with one clear line and leave nothing behind.
func TestFinalImageOnOverlayfs(t *testing.T) {
	finalImages(t)
	unshare := requireTool(t, "unshare")
	imgs := fimgImages(t)
	holdHostMounts(t)
	hostBefore := hostMountinfo(t)
	dir := safeTempDir(t, "image-overlayfs-", 0o755)
	for _, sub := range []string{"store", "lower", "upper", "work", "state"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `set -u
mount -t overlay overlay -o "lowerdir=$DIR/lower,upperdir=$DIR/upper,workdir=$DIR/work" "$STORE" || exit 90
box() { "$BIN" --store "$STORE" --state-dir "$DIR/state" "$@"; }
echo "store fs: $(stat -f -c %t "$STORE")"
box --quiet import "$BASE" base >/dev/null || exit 91
box --explain run --rm base sh -c 'echo written > /data/keep && cat /data/keep && stat -f -c %t /' 2>"$DIR/run.err" || exit 92
echo "mounts under store after run: $(grep -c " $STORE/" /proc/self/mountinfo)"
echo "containers after run: $(ls -A "$STORE/containers")"
box --quiet load "$SAVE" 2>"$DIR/load.err"; echo "load with whiteouts exit: $?"
echo "images: $(ls -A "$STORE/images")"
"$BIN" --store "$STORE" --state-dir "$DIR/state" --quiet run --rm base sh -c 'echo ready; exec sleep 600' >"$DIR/fifo" &
read -r ready <"$DIR/fifo"; echo "killed run was: $ready"
for i in $(seq 100); do grep -q " $STORE/containers/[^ ]*/rootfs " /proc/self/mountinfo || break; sleep 0.05; done
echo "root mounted here while it runs: $(grep -c " $STORE/containers/[^ ]*/rootfs " /proc/self/mountinfo)"
kill -9 $!; wait $! 2>/dev/null
echo "mounts under store after kill: $(grep " $STORE/" /proc/self/mountinfo | grep -c -e rootfs -e /rw)"
box --explain cleanup >"$DIR/cleanup.out" 2>"$DIR/cleanup.err"; echo "cleanup exit: $?"
echo "mounts under store after cleanup: $(grep -c " $STORE/" /proc/self/mountinfo)"
echo "containers after cleanup: $(ls -A "$STORE/containers")"
echo "tmp after cleanup: $(ls -A "$STORE/tmp")"
`
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "DIR="+dir, "STORE="+filepath.Join(dir, "store"), "BIN="+binary(t, finalStep),
		"BASE="+imgs.baseTar, "SAVE="+imgs.dockerSave)
	out, err := cmd.CombinedOutput()
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	if err != nil {
		t.Fatalf("script: %v\n%s\nrun stderr:\n%s", err, out, read("run.err"))
	}
	want := []string{
		"store fs: 794c7630", // OVERLAYFS_SUPER_MAGIC
		"written",
		"794c7630", // the container's root is an overlay
		"mounts under store after run: 0",
		"containers after run: ",
		"load with whiteouts exit: 125",
		"images: base:latest.json",
		"killed run was: ready",
		// The container stands on its own copy of its root: the host's
		// goes once the command runs.
		"root mounted here while it runs: 0",
		"mounts under store after kill: 1", // the tmpfs that holds the upper dir
		"cleanup exit: 0",
		"mounts under store after cleanup: 0",
		"containers after cleanup: ",
		"tmp after cleanup: ",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")); diff != "" {
		t.Errorf("script output (-want +got):\n%s\nrun stderr:\n%s", diff, read("run.err"))
	}
	runErr := read("run.err")
	for _, s := range []string{
		"{f_type=OVERLAYFS_SUPER_MAGIC, ...}) = 0",
		"overlayfs cannot be an upper dir: mount a tmpfs",
		`"tmpfs", MS_NOSUID|MS_NODEV, "mode=0700") = 0`,
		`/rw/upper,workdir=`,
		`umount2("` + filepath.Join(dir, "store") + `/containers/`,
	} {
		if !strings.Contains(runErr, s) {
			t.Errorf("the run's narration lacks %q:\n%s", s, runErr)
		}
	}
	if e := read("load.err"); !strings.Contains(e, "put --store on another filesystem") || len(nonEmptyLines(e)) != 1 {
		t.Errorf("load with whiteouts on overlayfs: want one line with the fix, got %q", e)
	}
	if e := read("cleanup.err"); !strings.Contains(e, "umount2(") {
		t.Errorf("cleanup does not narrate unmounting the killed run's root:\n%s", e)
	}
	if diff := cmp.Diff(hostBefore, hostMountinfo(t)); diff != "" {
		t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
	}
}

// TestFinalImageKilledRuntime SIGKILLs a runtime whose container runs on
// an image. The host's copy of the container's root is unmounted once the
// command runs (the container stands on its own), so the kill leaves no
// mount behind; cleanup removes the container's dirs from the stored
// state alone.
func TestFinalImageKilledRuntime(t *testing.T) {
	finalImages(t)
	d := newFimgDirs(t).loaded(t)
	holdHostMounts(t)
	hostBefore := hostMountinfo(t)
	c := startContainer(t, finalStep, d.args("run", "layers-test:docker", "sh", "-c", "echo ready; read -r line")...)
	c.waitForLine(t, "ready")
	containers := filepath.Join(d.store, "containers")
	requireHostRootUnmounted(t, containers)
	if entries, _ := os.ReadDir(containers); len(entries) != 1 {
		t.Errorf("want the running container's dir in the store, found %d entries", len(entries))
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	if left := mountsUnder(containers); len(left) != 0 {
		t.Errorf("want no mount left by the killed run, found %v", left)
	}
	r := d.mustBox(t, "cleanup")
	if !strings.Contains(r.stdout, "removed") {
		t.Errorf("cleanup does not say it removed the container:\n%s", r)
	}
	d.noLeftovers(t)
	if diff := cmp.Diff(hostBefore, hostMountinfo(t)); diff != "" {
		t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
	}
}

// TestFinalImageRmi removes images: one no container uses goes with its
// own layers (a layer another image shares stays); one a running
// container uses is refused without -f, and with -f keeps the layers the
// container runs on.
func TestFinalImageRmi(t *testing.T) {
	finalImages(t)
	imgs := fimgImages(t)
	d := newFimgDirs(t).loaded(t)
	d.mustBox(t, "import", imgs.baseTar, "base")
	r := d.mustBox(t, "rmi", "layers-test:docker")
	wantOut := "Untagged: layers-test:docker\nDeleted: " + imgs.diffIDs[1] + "\nDeleted: " + imgs.diffIDs[2] + "\n"
	if r.stdout != wantOut && r.stdout != strings.Replace(wantOut, imgs.diffIDs[1]+"\nDeleted: "+imgs.diffIDs[2], imgs.diffIDs[2]+"\nDeleted: "+imgs.diffIDs[1], 1) {
		t.Errorf("rmi: got %q, want %q (the base layer stays: base:latest has it)", r.stdout, wantOut)
	}
	if diff := cmp.Diff([]string{imagesHex(t, 0)}, d.layerDirs(t)); diff != "" {
		t.Errorf("layers after rmi (-want +got):\n%s", diff)
	}

	c := startContainer(t, finalStep, d.args("run", "base", "sh", "-c", "echo ready; read -r line; cat /data/keep")...)
	c.waitForLine(t, "ready")
	r = d.box(t, "rmi", "base")
	if r.code != 125 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "is in use by container") {
		t.Errorf("rmi of an image in use: want exit 125 and one line saying so:\n%s", r)
	}
	r = d.mustBox(t, "rmi", "-f", "base")
	if r.stdout != "Untagged: base:latest\n" {
		t.Errorf("rmi -f of an image in use deletes no layer: got %q", r.stdout)
	}
	if _, err := io.WriteString(c.stdin, "go on\n"); err != nil {
		t.Fatal(err)
	}
	if line := c.readLine(t); line != "keep v1" {
		t.Errorf("the container lost its files to rmi -f: read %q", line)
	}
	if code := c.wait(t); code != 0 {
		t.Errorf("container exit %d:\n%s", code, c.stderr)
	}
	// The next rmi deletes what no image and no container needs any more.
	d.mustBox(t, "import", imgs.baseTar, "other")
	d.mustBox(t, "rmi", "other")
	if dirs := d.layerDirs(t); len(dirs) != 0 {
		t.Errorf("layers left after the last rmi: %v", dirs)
	}
	if shifted, _ := filepath.Glob(filepath.Join(d.store, "shifted", "*", "*")); len(shifted) != 0 {
		t.Errorf("shifted copies left after the last rmi: %v", shifted)
	}
	d.noLeftovers(t)
}

// TestFinalImageBadInput gives the image commands input they must refuse:
// each fails with one line naming the problem, and leaves the store as it
// was: no new image or layer, nothing mounted, nothing written outside.
func TestFinalImageBadInput(t *testing.T) {
	finalImages(t)
	imgs := fimgImages(t)
	outside := safeTempDir(t, "outside-", 0o755)
	archive := func(t *testing.T, name string, entries ...tarEntry) string {
		l := layerTar(entries)
		file := filepath.Join(t.TempDir(), name+".tar")
		b := dockerSaveArchive([]string{"bad:" + name}, imageConfig([]string{digestOf(l)}, nil, map[string]any{}), [][]byte{l})
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	file := func(t *testing.T, name string, content []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		wantErr  string
		wantCode int  // 125 unless set
		nobody   bool // run as uid 65534
	}{
		{name: "run unknown image", wantErr: "is not in the store", args: func(t *testing.T) []string {
			// --pull never: a missing image would be pulled from Docker Hub.
			return []string{"run", "--pull", "never", "no-such-image", "true"}
		}},
		{name: "run bad image name", wantErr: "image name", args: func(t *testing.T) []string {
			return []string{"run", "Not_A_Name", "true"}
		}},
		{name: "command not in the image", wantErr: `command "no-such-command" not found in image base:latest`, wantCode: 127, args: func(t *testing.T) []string {
			return []string{"run", "base", "no-such-command"}
		}},
		{name: "image without CMD and no command", wantErr: "has no ENTRYPOINT or CMD", args: func(t *testing.T) []string {
			return []string{"run", "base"}
		}},
		{name: "dot-dot entry", wantErr: "climbs out of the layer", args: func(t *testing.T) []string {
			return []string{"load", archive(t, "dotdot", tarEntry{name: "../escaped", body: "x"})}
		}},
		{name: "absolute entry", wantErr: "absolute path", args: func(t *testing.T) []string {
			return []string{"load", archive(t, "absolute", tarEntry{name: outside + "/escaped", body: "x"})}
		}},
		{name: "entry through a symlink", wantErr: "is a symlink; refusing to write through it", args: func(t *testing.T) []string {
			return []string{"load", archive(t, "symlink", tarEntry{name: "lib", typ: tar.TypeSymlink, link: outside}, tarEntry{name: "lib/escaped", body: "x"})}
		}},
		{name: "hard link outside", wantErr: "outside the layer", args: func(t *testing.T) []string {
			return []string{"load", archive(t, "hardlink", tarEntry{name: "link", typ: tar.TypeLink, link: "../../outside"})}
		}},
		{name: "device 0/0 in a layer", wantErr: "overlayfs reads as a whiteout", args: func(t *testing.T) []string {
			return []string{"load", archive(t, "chardev", tarEntry{name: "dev0", typ: tar.TypeChar})}
		}},
		{name: "corrupt layer digest", wantErr: "the archive is corrupt", args: func(t *testing.T) []string {
			l := layerTar([]tarEntry{{name: "a", body: "a"}})
			b := dockerSaveArchive([]string{"bad:corrupt"}, imageConfig([]string{digestOf([]byte("other"))}, nil, map[string]any{}), [][]byte{l})
			return []string{"load", file(t, "corrupt.tar", b)}
		}},
		{name: "second layer corrupt", wantErr: "the archive is corrupt", args: func(t *testing.T) []string {
			good, bad := layerTar([]tarEntry{{name: "good", body: "good"}}), layerTar([]tarEntry{{name: "b", body: "b"}})
			b := dockerSaveArchive([]string{"bad:second"}, imageConfig([]string{digestOf(good), digestOf([]byte("x"))}, nil, map[string]any{}), [][]byte{good, bad})
			return []string{"load", file(t, "second.tar", b)}
		}},
		{name: "not an archive", wantErr: "is not a tar archive", args: func(t *testing.T) []string {
			return []string{"load", file(t, "notes.txt", []byte("just text, no tar here\n"))}
		}},
		{name: "xz archive", wantErr: "xz-compressed", args: func(t *testing.T) []string {
			return []string{"load", file(t, "image.tar.xz", []byte("\xfd7zXZ\x00rest of it"))}
		}},
		{name: "neither layout", wantErr: "neither a docker save archive", args: func(t *testing.T) []string {
			return []string{"load", t.TempDir()}
		}},
		{name: "config and manifest disagree", wantErr: "the config lists 2 layers, the manifest 1", args: func(t *testing.T) []string {
			l := layerTar([]tarEntry{{name: "a", body: "a"}})
			b := dockerSaveArchive([]string{"bad:count"}, imageConfig([]string{digestOf(l), digestOf(l)}, nil, map[string]any{}), [][]byte{l})
			return []string{"load", file(t, "count.tar", b)}
		}},
		{name: "archive without a name", wantErr: "names no image; give it a name", args: func(t *testing.T) []string {
			l := layerTar([]tarEntry{{name: "a", body: "a"}})
			return []string{"load", file(t, "noname.tar", dockerSaveArchive(nil, imageConfig([]string{digestOf(l)}, nil, map[string]any{}), [][]byte{l}))}
		}},
		{name: "import bad name", wantErr: "image name", args: func(t *testing.T) []string {
			return []string{"import", imgs.baseTar, "Not_A_Name"}
		}},
		{name: "import not a tar", wantErr: "not a tar archive", args: func(t *testing.T) []string {
			return []string{"import", file(t, "notes.txt", []byte("no tar\n")), "notes"}
		}},
		{name: "rmi as nobody", wantErr: "rmi needs root", nobody: true, args: func(t *testing.T) []string {
			return []string{"rmi", "base"}
		}},
		{name: "history unknown image", wantErr: "is not in the store", args: func(t *testing.T) []string {
			return []string{"history", "nope"}
		}},
		{name: "rmi unknown image", wantErr: "is not in the store", args: func(t *testing.T) []string {
			return []string{"rmi", "nope"}
		}},
		{name: "relative store", wantErr: "must be an absolute path", args: func(t *testing.T) []string {
			return []string{"--store", "relative/store", "images"}
		}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newFimgDirs(t)
			d.mustBox(t, "import", imgs.baseTar, "base")
			imagesBefore, layersBefore := d.mustBox(t, "images").stdout, d.layerDirs(t)
			hostBefore := hostMountinfo(t)
			var o runOptions
			if tt.nobody {
				o.credential = &syscall.Credential{Uid: 65534, Gid: 65534}
			}
			r := runWith(t, finalStep, o, d.args(tt.args(t)...)...)
			wantCode := tt.wantCode
			if wantCode == 0 {
				wantCode = 125
			}
			if r.code != wantCode {
				t.Errorf("exit %d, want %d\n%s", r.code, wantCode, r)
			}
			if lines := nonEmptyLines(r.stderr); len(lines) != 1 || !strings.Contains(lines[0], tt.wantErr) {
				t.Errorf("want one line on stderr containing %q:\n%s", tt.wantErr, r.stderr)
			} else {
				t.Logf("exit %d: %s", r.code, lines[0])
			}
			if after := d.mustBox(t, "images").stdout; after != imagesBefore {
				t.Errorf("images changed:\n%s\nthen:\n%s", imagesBefore, after)
			}
			if diff := cmp.Diff(layersBefore, d.layerDirs(t)); diff != "" {
				t.Errorf("layers changed (-before +after):\n%s", diff)
			}
			d.noLeftovers(t)
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("something was written outside the store: %v", entries)
			}
			// Other tests' containers may come and go meanwhile; ours are gone.
			for _, line := range hostMountinfo(t) {
				if strings.Contains(line, d.store) && !fimgContains(hostBefore, line) {
					t.Errorf("left mounted: %s", line)
				}
			}
		})
	}
}

// fimgContains tells whether list holds s.
func fimgContains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestFinalImageNarrationMatchesStrace runs an image under strace: the
// overlay mount, with its whole option string, its unmount, and every
// file the store makes and removes must be narrated as made, with the
// default user namespace and without, the second run on the copies the
// first made. What is made in the state dir is not checked here, as in
// the matrix (narration_matrix_test.go).
func TestFinalImageNarrationMatchesStrace(t *testing.T) {
	finalImages(t)
	strace := requireTool(t, "strace")
	d := newFimgDirs(t).loaded(t)
	for _, userns := range [][]string{nil, {"--userns", "host"}, nil} {
		args := append(append([]string{"--explain", "run", "--rm"}, userns...), "layers-test:docker", "true")
		startTraced(t, strace, finalStep, d.args(args...), traceOptions{roots: []string{d.store}}).wait()
	}
	d.noLeftovers(t)
}

// requireHostRootUnmounted waits up to 5 s until no mount is left below
// containers (a store's containers dir), as the host's copy of a running
// container's root is unmounted once its command runs, and says so if
// one stays.
func requireHostRootUnmounted(t *testing.T, containers string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(mountsUnder(containers)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := mountsUnder(containers); len(left) != 0 {
		t.Errorf("want the host's copy of the running container's root unmounted, found %v", left)
	}
}
