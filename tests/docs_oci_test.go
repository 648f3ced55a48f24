package tests

// docs_oci_test.go reruns the podman blocks of docs/oci.md. TestDocs runs
// the chapter's box-runc blocks on a bare bundle; a podman block needs a
// podman store of its own, so it is marked <!-- podman: COMMANDS --> (the
// same form as <!-- output: -->) and run here, in a private mount
// namespace, with podman's configuration in the environment, where a
// learner has it in /etc/containers. What the commands print is compared
// whole, with TestDocs's normalization, and the test's podman store
// spelled as podman's default one (podmanPaths); -update rewrites the
// blocks.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ociChapter is the chapter with podman blocks.
const ociChapter = "oci.md"

// podmanBlocks finds the <!-- podman: --> blocks of text. The marker is as
// long as "<!-- output:", so parseOutputBlocks reads them at their offsets
// once the output blocks are hidden.
func podmanBlocks(text string) ([]outputBlock, error) {
	hidden := strings.ReplaceAll(text, "<!-- output:", "<!-- hidden:")
	return parseOutputBlocks(strings.ReplaceAll(hidden, "<!-- podman:", "<!-- output:"))
}

// docsPodmanEnv writes podman's configuration into dir and returns the
// environment that points podman at it: a store in dir (vfs: no mounts to
// undo), no network setup, cgroupfs, and local images only.
func docsPodmanEnv(t *testing.T, dir string) []string {
	t.Helper()
	files := map[string]string{
		"containers.conf": "[containers]\nnetns = \"none\"\n" +
			"default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n" +
			fmt.Sprintf("[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\ntmp_dir = %q\n", filepath.Join(dir, "tmp")) +
			fmt.Sprintf("[network]\nnetwork_config_dir = %q\n", filepath.Join(dir, "net")),
		// podman refuses a runroot path longer than 50 characters: "r".
		"storage.conf": fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n",
			filepath.Join(dir, "r"), filepath.Join(dir, "root")),
		"registries.conf": "unqualified-search-registries = []\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf"),
	}
}

// TestDocsOCIPodman runs docs/oci.md's podman blocks and compares them
// with the chapter. start's narration and the container's come from two
// processes at once, so a run whose lines came in the other order is run
// again, as TestDocs does.
func TestDocsOCIPodman(t *testing.T) {
	path := filepath.Join(harness.repo, docsDir, ociChapter)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	blocks, err := podmanBlocks(text)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(blocks) == 0 {
		t.Fatalf("%s has no <!-- podman: --> block", path)
	}
	requireRoot(t)
	requireBusyboxRootfs(t)
	requireTool(t, "podman")
	binary(t, finalStep)
	var got []string
	for attempt := 1; attempt <= chapterAttempts; attempt++ {
		got = runPodmanBlocks(t, blocks)
		if *update {
			break
		}
		differs := ""
		for i, b := range blocks {
			if b.start < 0 || maskFDs(b.output) != maskFDs(got[i]) {
				differs = fmt.Sprintf("docs/%s:%d: block %d (%s) does not match a real run (-doc +run):\n%s",
					ociChapter, b.line, i+1, firstLine(b.commands[0]), cmp.Diff(maskFDs(b.output), maskFDs(got[i])))
				break
			}
		}
		if differs == "" {
			return
		}
		if attempt == chapterAttempts {
			t.Fatalf("%s\nIf the new output is right: sudo go test ./tests -run TestDocsOCIPodman -update", differs)
		}
		t.Logf("attempt %d: %s; running the blocks again", attempt, differs)
	}
	if err := os.WriteFile(path, []byte(rewriteBlocks(text, blocks, got)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runPodmanBlocks runs the blocks' commands in one bash, as TestDocs runs
// a chapter, in a fresh directory with bin/ and a podman store of its own,
// and returns each block's output, normalized.
func runPodmanBlocks(t *testing.T, blocks []outputBlock) []string {
	t.Helper()
	w := newDocsWorkdir(t)
	store := safeTempDir(t, "docs-podman-", 0o755)
	env := docsPodmanEnv(t, store)
	ns := newEngineNS(t)
	var commands [][]string
	for _, b := range blocks {
		commands = append(commands, b.commands)
	}
	script := filepath.Join(t.TempDir(), "podman.sh")
	// nsenter leaves the working directory at the namespace's root.
	prologue := "cd " + shellQuote(w.dir) + " || exit 1\n"
	if err := os.WriteFile(script, []byte(prologue+chapterScript(commands)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever a failed block left: its containers, and the store.
		_ = ns.command(context.Background(), env, "podman", "rm", "--all", "--force", "--time", "0").Run()
		_ = ns.command(context.Background(), env, "podman", "rmi", "--all", "--force").Run()
		removePodmanCgroups()
	})
	ctx, cancel := context.WithTimeout(context.Background(), chapterTimeout)
	defer cancel()
	cmd := ns.command(ctx, append(env,
		"PATH="+w.bin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME="+w.dir, "ROOTFS="+w.rootfs, "TERM=xterm", "NO_COLOR=1", "LC_ALL=C"),
		"bash", "--norc", "--noprofile", script)
	// chapterScript records $! on fd 3; no block here starts a job.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd.ExtraFiles = []*os.File{devnull}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("still running after %v, killed; output so far:\n%s", chapterTimeout, out.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	text := normalizeOutput(podmanPaths(out.String(), store), outputPaths{pwd: w.dir, rootfs: w.rootfs, ownCgroups: docsCgroupDirs()}, nil)
	parts := strings.Split(text, blockSeparator+"\n")
	if len(parts) != len(blocks)+1 {
		t.Fatalf("the script printed %d block separators, want %d; output:\n%s", len(parts)-1, len(blocks), text)
	}
	outputs := parts[1:]
	for i := range outputs {
		outputs[i] = strings.TrimRight(outputs[i], "\n")
	}
	return outputs
}

// podmanShortID is a container's short id (its hostname), 12 hex digits.
var podmanShortID = regexp.MustCompile(`\b[0-9a-f]{12}\b`)

// podmanPaths spells the test's store as podman's defaults do, where a
// learner's podman keeps its containers (/var/lib/containers/storage, and
// /run/containers/storage for the runroot), and a container's short id
// as <id>, unpadded: in these blocks it is a hostname, not a table cell.
func podmanPaths(s, store string) string {
	s = strings.NewReplacer(filepath.Join(store, "root"), "/var/lib/containers/storage",
		filepath.Join(store, "r"), "/run/containers/storage").Replace(s)
	return podmanShortID.ReplaceAllString(s, "<id>")
}
