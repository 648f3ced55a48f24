package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Features of the mount namespace and pivot_root: the container's mounts
// are its own, the host's root is gone from its view, and volumes bind
// host directories in.

func init() {
	addFeatures(
		feature{name: "host mountinfo unchanged during and after run", since: "03-mount-ns", check: hostMountsUnchanged},
		feature{name: "old root unreachable", since: "03-mount-ns", check: oldRootUnreachable},
		feature{name: "host root unreachable by chroot escape", since: "03-mount-ns", check: escapeFails},
		feature{name: "volume binds a host directory", since: "03-mount-ns", check: volumeBinds},
		feature{name: "read-only volume gives EROFS", since: "03-mount-ns", check: readOnlyVolume},
		feature{name: "private /dev with only null zero full random urandom tty pts", since: "03-mount-ns", check: privateDev},
		feature{name: "/tmp is private and vanishes with the container", since: "03-mount-ns", check: privateTmp},
	)
}

// hostMountsUnchanged mounts a tmpfs inside and compares the host's
// mountinfo before, while the container runs, and after.
func hostMountsUnchanged(t *testing.T, step string) bool {
	holdHostMounts(t)
	rootfs := rootfsCopy(t) // early steps mount on the host, on this copy
	before := hostMountinfo(t)
	// The container mounts a tmpfs itself, to show where its mounts land;
	// a runtime that denies it mounting still has its own mounts compared.
	c := startContainer(t, step, runArgs(rootfs, nil, "sh", "-c",
		"mount -t tmpfs box-test /tmp && echo mounted; echo ready; read -r line; exit 0")...)
	mounted := c.readLine(t) == "mounted"
	if mounted {
		c.waitForLine(t, "ready")
	}
	t.Logf("the container could mount a tmpfs: %v", mounted)
	during := hostMountinfo(t)
	if code := c.wait(t); code != 0 {
		t.Fatalf("container exited %d:\n%s", code, c.stderr)
	}
	after := hostMountinfo(t)
	same := true
	if diff := cmp.Diff(before, during); diff != "" {
		t.Logf("host mountinfo while the container runs (-before +during):\n%s", diff)
		same = false
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Logf("host mountinfo after the run (-before +after):\n%s", diff)
		same = false
	}
	return same
}

// oldRootUnreachable enters the running container's mount namespace from
// the host with nsenter, which lands at that namespace's root, and looks
// for the host's root mount there.
func oldRootUnreachable(t *testing.T, step string) bool {
	nsenter := requireTool(t, "nsenter")
	c := startContainer(t, step, runArgs(sharedRootfs(t), nil, "sh", "-c", "echo ready; read -r line; exit 0")...)
	c.waitForLine(t, "ready")
	pid := c.waitForProcess(t, "sh")
	// Enter the PID namespace too, so that /proc/self exists in the
	// container's /proc; cat then shows the mounts seen from the root of
	// the container's mount namespace, which is where setns(2) puts us.
	ns := "/proc/" + strconv.Itoa(pid) + "/ns/"
	out, err := exec.Command(nsenter, "--mount="+ns+"mnt", "--pid="+ns+"pid", "--", "/bin/cat", "/proc/self/mountinfo").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter into the container's mount namespace: %v\n%s", err, out)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("container exited %d:\n%s", code, c.stderr)
	}
	host, err := readHostMounts()
	if err != nil {
		t.Fatal(err)
	}
	var hostRoot mountEntry
	for _, e := range host {
		if e.mountPoint == "/" {
			hostRoot = e // the last one is on top
		}
	}
	inside := parseMountinfo(string(out))
	for _, e := range inside {
		if e.device == hostRoot.device && e.root == hostRoot.root {
			t.Logf("the container's mount namespace still holds the host's root: %s", e.line)
			return false
		}
	}
	t.Logf("the container's mount namespace holds %d mounts, none of them the host's root (%s %s)", len(inside), hostRoot.device, hostRoot.root)
	return true
}

// escapeFails copies the step's binary into a rootfs and runs its escape
// demo inside: it chroots into a subdirectory, climbs "..", chroots there
// and reads a file that exists only on the host. (The marker's path has no
// quotes or spaces: it is made by hostDir.)
func escapeFails(t *testing.T, step string) bool {
	rootfs := rootfsCopy(t)
	bin, err := os.ReadFile(binary(t, step))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "escape"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := fmt.Sprintf("only on the host %d", time.Now().UnixNano())
	marker := filepath.Join(hostDir(t, map[string]string{"marker": secret}), "marker")
	// Start in /tmp: escape makes its subdirectory in the working
	// directory, and a user namespace's root may not write to /.
	r := runIn(t, step, rootfs, "sh", "-c", "cd /tmp && exec /escape --quiet escape /bin/sh -c 'cat "+marker+"; echo escape-ran'")
	if !strings.Contains(r.stdout, "escape-ran") {
		t.Fatalf("the escape demo did not get to run its command:\n%s", r)
	}
	if strings.Contains(r.stdout, secret) {
		t.Logf("the escape read %s on the host", marker)
		return false
	}
	t.Logf("the escape ended in the container's root: %s", strings.TrimSpace(r.stderr))
	return true
}

// volumeBinds reads a host file through -v and writes one back.
func volumeBinds(t *testing.T, step string) bool {
	rootfs := rootfsCopy(t)
	dir := hostDir(t, map[string]string{"in": "from the host\n"})
	r := run(t, step, runArgs(rootfs, []string{dir + ":/data"}, "sh", "-c", "cat /data/in && echo from the container > /data/out")...)
	out, err := os.ReadFile(filepath.Join(dir, "out"))
	t.Logf("run: %s; host sees out: %q (%v)", strings.TrimSpace(r.stderr), out, err)
	return r.code == 0 && r.stdout == "from the host\n" && string(out) == "from the container\n"
}

// readOnlyVolume reads through a :ro volume, then tries to write to it:
// the kernel must refuse with EROFS, and nothing may appear on the host.
func readOnlyVolume(t *testing.T, step string) bool {
	rootfs := rootfsCopy(t)
	dir := hostDir(t, map[string]string{"in": "from the host\n"})
	r := run(t, step, runArgs(rootfs, []string{dir + ":/data:ro"}, "sh", "-c", "cat /data/in && touch /data/new")...)
	_, statErr := os.Stat(filepath.Join(dir, "new"))
	created := statErr == nil
	erofs := strings.Contains(r.stderr, "Read-only file system")
	t.Logf("exit %d, read %q, EROFS: %v, file created on the host: %v; stderr: %s", r.code, r.stdout, erofs, created, strings.TrimSpace(r.stderr))
	return r.stdout == "from the host\n" && erofs && !created
}

// privateDev lists the character devices in /dev and the filesystem types
// of /dev and /dev/pts inside.
func privateDev(t *testing.T, step string) bool {
	r := runIn(t, step, sharedRootfs(t), "sh", "-c",
		`cd /dev && for f in *; do [ -c "$f" ] && [ ! -L "$f" ] && echo "$f"; done; echo ---; stat -f -c %T /dev /dev/pts`)
	devices, types, _ := strings.Cut(r.stdout, "---\n")
	got := strings.Fields(devices)
	want := []string{"full", "null", "random", "tty", "urandom", "zero"}
	t.Logf("character devices in /dev: %v; types of /dev and /dev/pts: %v", got, strings.Fields(types))
	return cmp.Equal(want, got) && cmp.Equal([]string{"tmpfs", "devpts"}, strings.Fields(types))
}

// privateTmp writes to /tmp inside; the file must not be in the rootfs's
// tmp directory on the host afterwards.
func privateTmp(t *testing.T, step string) bool {
	rootfs := rootfsCopy(t)
	r := runIn(t, step, rootfs, "sh", "-c", "echo hi > /tmp/box-test-file")
	if r.code != 0 {
		t.Fatalf("container could not write /tmp:\n%s", r)
	}
	_, err := os.Stat(filepath.Join(rootfs, "tmp", "box-test-file"))
	t.Logf("file written to /tmp inside is in the rootfs on the host: %v", err == nil)
	return err != nil
}
