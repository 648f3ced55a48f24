package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/PID/mountinfo (proc(5)).
type mountEntry struct {
	line       string
	device     string // major:minor
	root       string // the path inside the filesystem that is mounted
	mountPoint string
	fsType     string
}

// parseMountinfo reads mountinfo text: "36 35 98:0 /root /mnt opts
// optional... - fstype source superopts", paths with octal escapes.
func parseMountinfo(text string) []mountEntry {
	var entries []mountEntry
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		e := mountEntry{line: line, device: fields[2], root: unescapeOctal(fields[3]), mountPoint: unescapeOctal(fields[4])}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				e.fsType = fields[i+1]
				break
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// unescapeOctal undoes the \040-style escapes the kernel writes for space,
// tab, newline and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isUnder tells whether path is dir or below it.
func isUnder(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// readHostMounts reads the mount table of the test process, which is the
// host's: the harness never leaves the initial mount namespace.
func readHostMounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read host mountinfo: %w", err)
	}
	return parseMountinfo(string(b)), nil
}

// hostMountinfo is the host's mount table, normalized for comparing a
// before with an after: sorted lines, without mounts that other programs
// make under the host's temp dir (other test runs on this machine); ours
// all live under the harness root, so they stay.
func hostMountinfo(t testing.TB) []string {
	t.Helper()
	entries, err := readHostMounts()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range entries {
		if harness.hostTmp != "/" && isUnder(e.mountPoint, harness.hostTmp) && !isUnder(e.mountPoint, harness.root) {
			continue
		}
		lines = append(lines, e.line)
	}
	sort.Strings(lines)
	return lines
}

// mountsUnder lists the host's mount points at or below dir.
func mountsUnder(dir string) []string {
	entries, err := readHostMounts()
	if err != nil {
		return nil
	}
	var points []string
	for _, e := range entries {
		if isUnder(e.mountPoint, dir) {
			points = append(points, e.mountPoint)
		}
	}
	return points
}

// unmountUnder detaches every host mount at or below dir, deepest first,
// and returns what it unmounted. Early steps have no mount namespace, so a
// test that mounts inside them mounts on the host.
func unmountUnder(dir string) ([]string, error) {
	var done []string
	for round := 0; round < 8; round++ {
		points := mountsUnder(dir)
		if len(points) == 0 {
			return done, nil
		}
		sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				return done, fmt.Errorf("umount %s: %w", p, err)
			}
			done = append(done, p)
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		return done, fmt.Errorf("still mounted: %s", strings.Join(left, ", "))
	}
	return done, nil
}

// hostMounts keeps tests that compare the host's mount table from running
// while another test's container changes it (early steps mount on the
// host). Every container run takes it shared; a test that compares takes it
// exclusive with holdHostMounts, and its own runs go through unhindered.
var hostMounts = newMountGate()

type mountGate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	readers int
	owner   string // name of the test holding it exclusive, "" if none
}

func newMountGate() *mountGate {
	g := &mountGate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// ownedBy tells whether t or a test above it holds the gate exclusive.
func (g *mountGate) ownedBy(t testing.TB) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.owner != "" && isUnder(t.Name(), g.owner)
}

// share marks a run that may change the host's mounts; it never waits for
// a writer that is only waiting, so shares may nest.
func (g *mountGate) share(t testing.TB) (release func()) {
	if g.ownedBy(t) {
		return func() {}
	}
	g.mu.Lock()
	for g.owner != "" {
		g.cond.Wait()
	}
	g.readers++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.readers--
			g.cond.Broadcast()
			g.mu.Unlock()
		})
	}
}

// holdHostMounts makes the host's mount table steady for the rest of t:
// no other test's container runs until t ends.
func holdHostMounts(t testing.TB) {
	t.Helper()
	g := hostMounts
	g.mu.Lock()
	for g.owner != "" || g.readers > 0 {
		g.cond.Wait()
	}
	g.owner = t.Name()
	g.mu.Unlock()
	t.Cleanup(func() {
		g.mu.Lock()
		g.owner = ""
		g.cond.Broadcast()
		g.mu.Unlock()
	})
}

// rootfsCopy gives t a private copy of the shared rootfs, for tests that
// write to it or mount on it. Cleanup unmounts whatever is left on it and
// removes it, but never removes across a mount.
func rootfsCopy(t testing.TB) string {
	t.Helper()
	src := sharedRootfs(t)
	parent := safeTempDir(t, "rootfs-copy-", 0o755)
	dst := filepath.Join(parent, "rootfs")
	// -x: stay on the rootfs's filesystem. Early steps mount /proc on the
	// shared rootfs on the host while they run; cp must not copy into it.
	// Still, cp may find /proc unmounted, then list it mounted, then stat
	// its entries after the unmount: that race fails the copy, so it is
	// made again, from nothing. Anything else fails every attempt.
	var out []byte
	var err error
	for attempt := 0; attempt < rootfsCopyAttempts; attempt++ {
		if out, err = exec.Command("cp", "-a", "-x", src, dst).CombinedOutput(); err == nil {
			return dst
		}
		if err := os.RemoveAll(dst); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("copy rootfs: %v\n%s", err, out)
	return ""
}

// rootfsCopyAttempts is how many times rootfsCopy tries the copy.
const rootfsCopyAttempts = 3

// safeTempDir makes a directory below the harness root with mode perm,
// which t's Cleanup removes, after unmounting what a test left mounted on
// the host below it; it never removes across a mount.
func safeTempDir(t testing.TB, pattern string, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp(harness.root, pattern)
	if err != nil {
		t.Fatal(err)
	}
	// MkdirTemp makes 0700, which a user namespace's root cannot enter.
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmounted, err := unmountUnder(dir)
		if len(unmounted) > 0 {
			t.Logf("unmounted on the host after the test: %s", strings.Join(unmounted, ", "))
		}
		if err != nil {
			t.Errorf("clean up %s: %v; not removing it", dir, err)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// hostDir makes a directory on the host outside every rootfs, for volumes
// and marker files, holding files (name -> content). Anyone may write to
// it, so that a volume works the same for a container root that a user
// namespace maps to an unprivileged user.
func hostDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := safeTempDir(t, "host-", 0o777)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
