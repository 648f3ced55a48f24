package tests

// final_durability_test.go checks what the final runtime keeps when its
// state is lost or its disk is full: cleanup finds an image container's
// root and overlay without any state, and a full state dir loses neither
// an exit status nor the fact that output was dropped.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFinalCleanupLostState clears the state dir under a running image
// container, as a cleared /run would (or a reboot, for what is on disk):
// cleanup must find its root by the store's paths and its processes by
// the overlay in their mount table, thaw (it is paused) and kill them, and leave no mount, no store dir, no cgroup
// and no process, saying what it removed.
func TestFinalCleanupLostState(t *testing.T) {
	finalImages(t)
	d := newFimgDirs(t).loaded(t)
	r := d.mustBox(t, "run", "-d", "--name", "lost-state", "layers-test:docker", "sh", "-c", "exec sleep 4757")
	id := strings.TrimSpace(r.stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want an ID", r.stdout)
	}
	t.Cleanup(func() { d.box(t, "rm", "-f", id) })
	// The container stands on its own copy of its root: the host's goes
	// once the command runs, and cleanup must find its processes by the
	// overlay in their own mount table.
	requireHostRootUnmounted(t, filepath.Join(d.store, "containers"))
	// Paused, too: a frozen process cannot die of SIGKILL until thawed.
	d.mustBox(t, "pause", "lost-state")
	if err := os.RemoveAll(d.state); err != nil {
		t.Fatal(err)
	}
	r = d.mustBox(t, "cleanup")
	lines := nonEmptyLines(r.stdout)
	var rootLines []string
	for _, l := range lines {
		if strings.Contains(l, "container root "+d.store+"/containers/") {
			rootLines = append(rootLines, l)
		}
	}
	if len(rootLines) != 1 || !strings.Contains(rootLines[0], "killed the") || !strings.Contains(rootLines[0], "state") {
		t.Errorf("cleanup does not say, in one line, that it killed what ran in the orphaned root and removed it:\n%s", r)
	}
	if pids := processesWithArg("4757"); len(pids) > 0 {
		t.Errorf("the orphaned container still runs after cleanup: %v", pids)
	}
	d.noLeftovers(t)
	requireCgroupGone(t, id)
	if r := d.mustBox(t, "cleanup"); strings.TrimSpace(r.stdout) != "nothing to clean up" {
		t.Errorf("a second cleanup found more:\n%s", r)
	}
}

// TestFinalStateDirFull fills the state dir (a small tmpfs of the test's,
// in a mount namespace of its own) while a detached container runs: its
// exit status must still reach ps and wait, the output it wrote meanwhile
// must be reported as dropped, and a new run must refuse in one line.
//
// The container's last output and its exit come in the same moment, and
// the monitor must keep the exit whichever it sees first: a few rounds make
// a race between them show (a monitor that lost it recorded 125).
func TestFinalStateDirFull(t *testing.T) {
	newFinal(t)
	unshare := requireTool(t, "unshare")
	for round := 1; round <= 4; round++ {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) { stateDirFullRound(t, unshare) })
	}
}

// stateDirFullRound is one round of TestFinalStateDirFull.
func stateDirFullRound(t *testing.T, unshare string) {
	dir := safeTempDir(t, "state-full-", 0o755)
	for _, sub := range []string{"state", "go"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `set -u
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$DIR/state" || exit 90
box() { "$BIN" --quiet --state-dir "$DIR/state" "$@"; }
box run -d --name full-exit --rootfs "$ROOTFS" -v "$DIR/go:/go" sh -c 'echo before; while [ ! -e /go/now ]; do sleep 0.1; done; i=0; while [ $i -lt 400 ]; do echo "line $i, written when the state dir is full"; i=$((i+1)); done; exit 7' >/dev/null || exit 91
until box logs full-exit 2>/dev/null | grep -q before; do sleep 0.1; done
dd if=/dev/zero of="$DIR/state/fill" bs=4k 2>/dev/null
echo "free: $(stat -f -c %a "$DIR/state")"
touch "$DIR/go/now"
echo "wait: $(box wait full-exit 2>&1)"
echo "ps: $(box ps -a | grep full-exit | grep -o 'exited ([0-9]*)')"
box run --rootfs "$ROOTFS" true 2>"$DIR/full.err"; echo "run on a full state dir: $?"
echo "containers: $(ls "$DIR/state/containers" | wc -l)"
box logs full-exit >"$DIR/logs.out" 2>"$DIR/logs.err"; echo "logs: $?"
box rm full-exit >/dev/null
`
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "DIR="+dir, "BIN="+binary(t, finalStep), "ROOTFS="+rootfsCopy(t))
	out, err := cmd.CombinedOutput()
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	want := []string{
		"free: 0",
		"wait: 7",
		"ps: exited (7)",
		"run on a full state dir: 125",
		"containers: 1",
		"logs: 0",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")); diff != "" {
		t.Errorf("script output (-want +got):\n%s", diff)
	}
	if e := read("full.err"); len(nonEmptyLines(e)) != 1 || !strings.Contains(e, "is full") || !strings.Contains(e, "--state-dir") {
		t.Errorf("run on a full state dir: want one line saying it is full and what to do, got %q", e)
	}
	logs := read("logs.out")
	// Space can come back while the command still writes (the monitor
	// frees its reserve for the marker): the log may then go on, after a
	// line counting what was dropped.
	resumed := strings.Index(logs, "line 399,")
	counted := strings.Index(logs, "bytes of output were dropped")
	if !strings.HasPrefix(logs, "before\n") || !strings.Contains(logs, "output is dropped from here") || (resumed >= 0 && (counted < 0 || counted > resumed)) {
		t.Errorf("the log should hold what was written before the disk filled, then a line saying output was dropped; got %q", logs)
	}
	if e := read("logs.err"); len(nonEmptyLines(e)) != 1 || !strings.Contains(e, "dropped") {
		t.Errorf("logs should say on stderr, in one line, that output was dropped; got %q", e)
	}
}
