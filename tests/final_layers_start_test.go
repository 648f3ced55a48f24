package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A container's start must cost the same on an image of 1 layer and of 64
// (issue 14): the short names an overlay of many layers is mounted by are
// made once per layer in the store, when the layer or its copy for a user
// namespace is stored, and no layer is looked at before the mount. The
// check counts system calls under strace, not time.

// startFamilies are the calls a start could make per layer: links made
// and removed, records opened, layers looked at, dirs made.
var startFamilies = []string{
	"symlink", "symlinkat", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "open", "openat",
	"rename", "renameat", "renameat2", "link", "linkat", "mount", "umount2", "chdir",
	"stat", "lstat", "newfstatat", "statx", "readlink", "readlinkat", "fchownat", "fchmodat", "close", "getdents64",
}

// callCounts runs box with args under strace -f and returns how many
// times each of startFamilies was called, by the runtime and everything
// it started, leaving out the calls on cgroup files: how often the
// removal of a cgroup must wait for its last process to leave is the
// scheduler's doing, not the layers'.
func callCounts(t *testing.T, strace string, d fimgDirs, args ...string) map[string]int {
	t.Helper()
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, append([]string{"-f", "-qq", "-y", "-o", out, "-e", "signal=none", "-e", "trace=" + strings.Join(startFamilies, ","), binary(t, finalStep)}, d.args(args...)...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace box %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		// PID name(args) = result, or PID name(args <unfinished ...>,
		// whose "<... name resumed>" end is not a call of its own.
		_, call, ok := strings.Cut(line, " ")
		call = strings.TrimSpace(call)
		name, _, found := strings.Cut(call, "(")
		if !ok || !found || strings.HasPrefix(call, "<...") || strings.Contains(call, "/sys/fs/cgroup") {
			continue
		}
		counts[name]++
	}
	return counts
}

// TestFinalImageLayersStartFlat runs images of 1 and 64 layers, with the
// default user namespace and without one: the 64-layer container sees
// every layer, its start narrates what strace sees, and no family of
// calls grows with the layers by more than the few calls of mounting from
// the dir of short links (a chdir there and back, the stats of getwd). The
// first run of each image in each id range, which copies the layers for
// it, is not counted.
func TestFinalImageLayersStartFlat(t *testing.T) {
	finalImages(t)
	strace := requireTool(t, "strace")
	d := newFimgDirs(t)
	for _, n := range []int{1, 64} {
		d.mustBox(t, "load", stackArchive(t, n))
	}
	for _, userns := range [][]string{nil, {"--userns", "host"}} {
		userns := userns
		t.Run(fmt.Sprintf("userns=%v", userns), func(t *testing.T) {
			runArgs := func(n int, cmd ...string) []string {
				return append(append(append([]string{"run", "--rm"}, userns...), "stack:"+strconv.Itoa(n)), cmd...)
			}
			r := d.mustBox(t, runArgs(64, "sh", "-c", "cat /stack/top; ls /stack | wc -l")...)
			if lines := nonEmptyLines(r.stdout); len(lines) != 2 || lines[0] != "63" || strings.TrimSpace(lines[1]) != "64" {
				t.Fatalf("want the top layer's /stack/top (63) and 64 files in /stack:\n%s", r)
			}
			d.mustBox(t, runArgs(1, "true")...)
			startTraced(t, strace, finalStep, d.args(append([]string{"--explain"}, runArgs(64, "true")...)...), traceOptions{roots: []string{d.store}}).wait()

			one, many := callCounts(t, strace, d, runArgs(1, "true")...), callCounts(t, strace, d, runArgs(64, "true")...)
			var names []string
			for name := range many {
				names = append(names, name)
			}
			sort.Strings(names)
			var report []string
			for _, name := range names {
				report = append(report, fmt.Sprintf("%s %d -> %d", name, one[name], many[name]))
				if many[name]-one[name] > 4 {
					t.Errorf("%s: %d calls on 1 layer, %d on 64: the start grows with the layers", name, one[name], many[name])
				}
			}
			t.Logf("calls of one start, 1 layer -> 64 layers: %s", strings.Join(report, ", "))
		})
	}
	d.noLeftovers(t)
}

// TestFinalImageShortLinks follows the short links through a store's
// life: load makes one per layer, the first run in an id range one per
// copy; a run repairs what a killed runtime can leave (a layer without its
// link, a copy missing) and refuses, in one line naming the fix, a layer
// gone from the store, which a new load brings back; cleanup removes a
// link whose layer is gone; rmi removes the links with the layers.
func TestFinalImageShortLinks(t *testing.T) {
	finalImages(t)
	d := newFimgDirs(t)
	d.mustBox(t, "load", stackArchive(t, 40)) // 40 full paths do not fit in a page of options
	links := func(set string) map[string]string {
		t.Helper()
		got := map[string]string{}
		entries, _ := os.ReadDir(filepath.Join(d.store, "l", set))
		for _, e := range entries {
			target, err := os.Readlink(filepath.Join(d.store, "l", set, e.Name()))
			if err != nil {
				t.Errorf("l/%s/%s: %v", set, e.Name(), err)
			}
			got[e.Name()] = target
		}
		return got
	}
	layers := d.layerDirs(t)
	if len(layers) != 40 {
		t.Fatalf("want 40 layers stored, found %d", len(layers))
	}
	wantBase, wantCopies := map[string]string{}, map[string]string{}
	for _, hex := range layers {
		wantBase[hex[:16]] = "../../layers/sha256/" + hex
		wantCopies[hex[:16]] = "../../shifted/100000-65536/" + hex
	}
	if diff := cmp.Diff(wantBase, links("sha256")); diff != "" {
		t.Errorf("load: one short link per layer (-want +got):\n%s", diff)
	}
	top := func(r result) string { return strings.TrimSpace(r.stdout) }
	if r := d.mustBox(t, "run", "--rm", "stack:40", "cat", "/stack/top"); top(r) != "39" {
		t.Errorf("stack:40 reads /stack/top %q, want 39", top(r))
	}
	if diff := cmp.Diff(wantCopies, links("100000-65536")); diff != "" {
		t.Errorf("first run in the default user namespace: one short link per copy (-want +got):\n%s", diff)
	}

	// What a killed runtime can leave: a layer stored but not linked, a
	// copy not made (the top one is there: the run tries the mount first).
	if err := os.Remove(filepath.Join(d.store, "l", "sha256", layers[3][:16])); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d.store, "l", "100000-65536", layers[5][:16])); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(d.store, "shifted", "100000-65536", layers[7])); err != nil {
		t.Fatal(err)
	}
	for _, userns := range [][]string{{"--userns", "host"}, nil} {
		r := d.mustBox(t, append(append([]string{"--explain", "run", "--rm"}, userns...), "stack:40", "cat", "/stack/top")...)
		if top(r) != "39" || !strings.Contains(r.stderr, "-1 ENOENT") || !strings.Contains(r.stderr, "Mount the container's root again") {
			t.Errorf("run %v after a killed runtime: want /stack/top 39 after a mount that failed with ENOENT and one made again:\n%s", userns, r)
		}
	}
	if diff := cmp.Diff(wantBase, links("sha256")); diff != "" {
		t.Errorf("the run does not make the missing link again (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCopies, links("100000-65536")); diff != "" {
		t.Errorf("the run does not make the missing copy and link again (-want +got):\n%s", diff)
	}

	// A layer gone from the store: one line, the fix, nothing left.
	gone := filepath.Join(d.store, "layers", "sha256", layers[9])
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	r := d.box(t, "run", "--rm", "--userns", "host", "stack:40", "true")
	if lines := nonEmptyLines(r.stderr); r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], "sha256:"+layers[9]+" of the image is missing from the store") || !strings.Contains(lines[0], "load the image again") {
		t.Errorf("run with a layer gone: want exit 125 and one line naming the layer and the fix:\n%s", r)
	}
	d.noLeftovers(t)
	d.mustBox(t, "load", stackArchive(t, 40))
	if r := d.mustBox(t, "run", "--rm", "--userns", "host", "stack:40", "cat", "/stack/top"); top(r) != "39" {
		t.Errorf("after a new load: /stack/top %q, want 39", top(r))
	}

	// A link whose layer is gone, as a layer deleted by hand leaves it.
	stale := filepath.Join(d.store, "l", "sha256", strings.Repeat("f", 16))
	if err := os.Symlink("../../layers/sha256/"+strings.Repeat("f", 64), stale); err != nil {
		t.Fatal(err)
	}
	if r := d.mustBox(t, "cleanup"); !strings.Contains(r.stdout, "removed short link "+stale) {
		t.Errorf("cleanup does not remove the link of a gone layer:\n%s", r)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Errorf("%s is still there after cleanup", stale)
	}

	d.mustBox(t, "rmi", "stack:40")
	if left, _ := filepath.Glob(filepath.Join(d.store, "l", "*", "*")); len(left) != 0 {
		t.Errorf("short links left after rmi: %v", left)
	}
	d.noLeftovers(t)
}
