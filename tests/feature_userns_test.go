package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Features of the user namespace: root in the container is an ordinary
// user on the host, so its files belong to that user, and the host's root
// keeps what root inside may not touch.

// userNSStep is the step that brings the user namespace.
const userNSStep = "05-user-ns"

func init() {
	addFeatures(
		feature{name: "container root is an unprivileged host uid", since: userNSStep, check: rootIsUnprivileged},
		feature{name: "files made inside belong to the mapped host uid", since: userNSStep, check: filesBelongToMappedUID},
		feature{name: "root inside cannot write a root-owned host file", since: userNSStep, check: rootCannotWriteHostFile},
		feature{name: "root inside cannot make device nodes", since: userNSStep, check: rootCannotMknod},
	)
}

// rootIsUnprivileged asks the kernel, from the host, how the container's
// first process's ids map (/proc/PID/uid_map and gid_map), and asks id
// inside who it is: uid 0 inside must be another uid outside.
func rootIsUnprivileged(t *testing.T, step string) bool {
	c := startContainer(t, step, runArgs(sharedRootfs(t), nil, "sh", "-c", "echo ready; read -r line; id -u; id -g")...)
	c.waitForLine(t, "ready")
	pid := c.waitForProcess(t, "sh")
	uidMap, uidErr := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	gidMap, gidErr := os.ReadFile(fmt.Sprintf("/proc/%d/gid_map", pid))
	if uidErr != nil || gidErr != nil {
		t.Fatalf("read the container's id maps: %v, %v", uidErr, gidErr)
	}
	if _, err := c.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	ids := remainingLines(c)
	if code := c.wait(t); code != 0 {
		t.Fatalf("container exited %d:\n%s", code, c.stderr)
	}
	uid0, gid0 := hostIDOfZero(t, string(uidMap)), hostIDOfZero(t, string(gidMap))
	t.Logf("inside: id -u, id -g = %v; uid 0 is host uid %d, gid 0 host gid %d", ids, uid0, gid0)
	if !cmp.Equal([]string{"0", "0"}, ids) {
		t.Fatalf("id inside printed %v, want uid and gid 0", ids)
	}
	return uid0 != 0 && gid0 != 0
}

// remainingLines reads a container's stdout to the end, as non-empty lines.
func remainingLines(c *container) []string {
	var b strings.Builder
	for {
		line, err := c.stdout.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return nonEmptyLines(b.String())
		}
	}
}

// hostIDOfZero reads a uid_map or gid_map ("inside outside count" lines)
// and returns the host id that id 0 inside is.
func hostIDOfZero(t *testing.T, idMap string) int {
	for _, line := range nonEmptyLines(idMap) {
		var inside, outside, count int
		if _, err := fmt.Sscan(line, &inside, &outside, &count); err != nil {
			t.Fatalf("parse id map line %q: %v", line, err)
		}
		if inside == 0 && count > 0 {
			return outside
		}
	}
	t.Fatalf("id 0 is not mapped:\n%s", idMap)
	return -1
}

// ownerOf is the uid and gid that own path on the host.
func ownerOf(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// filesBelongToMappedUID creates a file through a volume (on /home, which
// every rootfs has, so the shared rootfs is not changed) and looks at its
// owner on the host.
func filesBelongToMappedUID(t *testing.T, step string) bool {
	dir := hostDir(t, nil)
	r := run(t, step, runArgs(sharedRootfs(t), []string{dir + ":/home"}, "sh", "-c", "echo made inside > /home/made")...)
	if r.code != 0 {
		t.Logf("the container could not make a file on a volume (volumes come with 03-mount-ns):\n%s", r)
		return false
	}
	uid, gid := ownerOf(t, filepath.Join(dir, "made"))
	t.Logf("a file made inside as root belongs to %d:%d on the host", uid, gid)
	return uid != 0 && gid != 0
}

// rootCannotWriteHostFile exposes a root-owned 0644 file through a volume
// and appends to it from inside as root; the file on the host tells.
func rootCannotWriteHostFile(t *testing.T, step string) bool {
	dir := hostDir(t, map[string]string{"hosts-file": "root's\n"})
	file := filepath.Join(dir, "hosts-file")
	if uid, _ := ownerOf(t, file); uid != 0 {
		t.Fatalf("%s belongs to uid %d, want root", file, uid)
	}
	r := run(t, step, runArgs(sharedRootfs(t), []string{dir + ":/home"}, "sh", "-c", "id -u; echo appended >> /home/hosts-file")...)
	if strings.TrimSpace(strings.Split(r.stdout, "\n")[0]) != "0" {
		t.Logf("the container did not run as root with a volume (volumes come with 03-mount-ns):\n%s", r)
		return false
	}
	content, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exit %d, %s; the file now holds %q", r.code, strings.TrimSpace(r.stderr), content)
	return r.code != 0 && string(content) == "root's\n"
}

// rootCannotMknod makes a device node inside: CAP_MKNOD counts only in the
// host's user namespace, so root in another one gets EPERM.
func rootCannotMknod(t *testing.T, step string) bool {
	r := runIn(t, step, rootfsCopy(t), "sh", "-c", "id -u; mknod /tmp/box-null c 1 3 && echo made")
	lines := nonEmptyLines(r.stdout)
	if len(lines) == 0 || lines[0] != "0" {
		t.Fatalf("container did not run as root:\n%s", r)
	}
	made := len(lines) > 1 && lines[1] == "made"
	t.Logf("mknod inside as root: made %v; %s", made, strings.TrimSpace(r.stderr))
	if !made && !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("mknod failed, but not with EPERM:\n%s", r)
	}
	return !made
}

// numberedUserNSSteps are userNSSteps without final, which needs root and
// whose images take the place of shift-rootfs.
func numberedUserNSSteps(t *testing.T) []string {
	var steps []string
	for _, s := range userNSSteps(t) {
		if s != finalStep {
			steps = append(steps, s)
		}
	}
	return steps
}

// userNSSteps are the steps with a user namespace and its run flags.
func userNSSteps(t *testing.T) []string {
	var steps []string
	for _, s := range netSteps(t) {
		if s == finalStep {
			help := run(t, s, "run", "--help")
			if !strings.Contains(help.stdout+help.stderr, "--userns-map") {
				t.Logf("final has no run --userns-map; not testing it here")
				continue
			}
		}
		if stepAtLeast(s, userNSStep) {
			steps = append(steps, s)
		}
	}
	return steps
}

// TestUsernsMap chooses the range with --userns-map and reads the maps
// inside, where the kernel shows them from the container's side.
func TestUsernsMap(t *testing.T) {
	requireRoot(t)
	for _, step := range userNSSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			for _, tt := range []struct {
				args []string
				want string
			}{
				{nil, "0 100000 65536"},
				{[]string{"--userns-map", "200000:1000"}, "0 200000 1000"},
			} {
				args := append([]string{"--quiet", "run", "--rootfs", sharedRootfs(t)}, tt.args...)
				r := run(t, step, append(args, "--", "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map")...)
				if r.code != 0 {
					t.Fatalf("run %v:\n%s", tt.args, r)
				}
				var got []string
				for _, line := range nonEmptyLines(r.stdout) {
					got = append(got, strings.Join(strings.Fields(line), " "))
				}
				if diff := cmp.Diff([]string{tt.want, tt.want}, got); diff != "" {
					t.Errorf("run %v: uid_map and gid_map inside (-want +got):\n%s", tt.args, diff)
				}
			}
		})
	}
}

// TestUsernsBadInput gives maps and paths a run with a user namespace must
// refuse: exit 125 and one line.
func TestUsernsBadInput(t *testing.T) {
	requireRoot(t)
	for _, step := range userNSSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			// A rootfs below a 0700 directory: host root may enter it, but
			// root of the user namespace, host uid 100000, may not.
			hidden := safeTempDir(t, "hidden-", 0o700)
			tests := []struct {
				name   string
				rootfs string
				args   []string
				want   string
			}{
				{"map from host root", sharedRootfs(t), []string{"--userns-map", "0:65536"}, "root on the host"},
				{"map without size", sharedRootfs(t), []string{"--userns-map", "100000"}, "HOSTID:SIZE"},
				{"map past the last id", sharedRootfs(t), []string{"--userns-map", "4294967290:10"}, "past the last id"},
				{"empty map", sharedRootfs(t), []string{"--userns-map", "100000:0"}, "at least one id"},
				{"rootfs out of reach", filepath.Join(hidden, "rootfs"), nil, "cannot enter " + hidden},
			}
			if err := os.Mkdir(filepath.Join(hidden, "rootfs"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				args := append([]string{"--quiet", "run", "--rootfs", tt.rootfs}, tt.args...)
				r := run(t, step, append(args, "--", "true")...)
				lines := nonEmptyLines(r.stderr)
				if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
					t.Errorf("%s: want exit 125 and one line containing %q, got\n%s", tt.name, tt.want, r)
				}
			}
		})
	}
}

// rootlessUID is the made-up user the rootless test runs as; it needs no
// entry in /etc/passwd, only a uid.
const rootlessUID = 12345

// TestRootless runs the step as a user who is not root, for real. The
// kernel lets that user map only their own uid, to 0 inside, after denying
// setgroups; where the kernel refuses user namespaces to such users, the
// run must say so in one line.
func TestRootless(t *testing.T) {
	requireRoot(t) // to become another user
	as := runOptions{credential: &syscall.Credential{Uid: rootlessUID, Gid: rootlessUID}}
	refusal := rootlessRefusal()
	for _, step := range numberedUserNSSteps(t) {
		step := step
		t.Run(step+"/run", func(t *testing.T) {
			t.Parallel()
			// The binary and the shared rootfs sit below a 0755 harness
			// root, so that user can reach them; it uses the rootfs read-only.
			r := runWith(t, step, as, "--quiet", "run", "--rootfs", sharedRootfs(t), "--hostname", "rootless", "--",
				"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; hostname")
			if refusal != "" {
				lines := nonEmptyLines(r.stderr)
				if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], refusal) {
					t.Errorf("this kernel refuses user namespaces to users (%s): want exit 125 and one line saying so, got\n%s", refusal, r)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("rootless run failed:\n%s", r)
			}
			var got []string
			for _, line := range nonEmptyLines(r.stdout) {
				got = append(got, strings.Join(strings.Fields(line), " "))
			}
			want := []string{"0 12345 1", "0 12345 1", "deny", "0", "rootless"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("uid_map, gid_map, setgroups, id -u and hostname inside (-want +got):\n%s", diff)
			}
		})
		t.Run(step+"/refusals", func(t *testing.T) {
			t.Parallel()
			for _, tt := range []struct{ flag, value, want string }{
				{"--net", "veth", "--net veth needs root"},
				{"--userns-map", "200000:1000", "--userns-map needs root"},
			} {
				r := runWith(t, step, as, "--quiet", "run", "--rootfs", sharedRootfs(t), tt.flag, tt.value, "--", "true")
				lines := nonEmptyLines(r.stderr)
				if r.code != 125 || len(lines) != 1 {
					t.Errorf("%s %s as uid %d: want exit 125 and one line, got\n%s", tt.flag, tt.value, rootlessUID, r)
				} else if refusal == "" && !strings.Contains(lines[0], tt.want) {
					t.Errorf("%s %s as uid %d: want %q, got %q", tt.flag, tt.value, rootlessUID, tt.want, lines[0])
				}
			}
		})
	}
}

// rootlessRefusal names the sysctl with which this kernel refuses user
// namespaces to users other than root, or is "" if it allows them.
func rootlessRefusal() string {
	for _, k := range []struct{ path, refuses, name string }{
		{"/proc/sys/user/max_user_namespaces", "0", "max_user_namespaces"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0", "unprivileged_userns_clone"},
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "apparmor_restrict_unprivileged_userns"},
	} {
		if b, err := os.ReadFile(k.path); err == nil && strings.TrimSpace(string(b)) == k.refuses {
			return k.name
		}
	}
	return ""
}

// TestShiftRootfs gives a copy of the rootfs to the mapped range: inside,
// its files are root's and root may write them; on the host, what root
// made inside belongs to host uid 100000. A second shift changes nothing.
func TestShiftRootfs(t *testing.T) {
	requireRoot(t)
	for _, step := range numberedUserNSSteps(t) {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			rootfs := rootfsCopy(t)
			before := runIn(t, step, rootfs, "sh", "-c", "stat -c %u /bin; touch /made-inside")
			if diff := cmp.Diff([]string{"65534"}, nonEmptyLines(before.stdout)); diff != "" || before.code == 0 {
				t.Errorf("before the shift, /bin inside should be nobody's and / not writable (-want +got):\n%s\n%s", diff, before)
			}
			r := run(t, step, "--quiet", "shift-rootfs", rootfs, "--to", "100000")
			if r.code != 0 {
				t.Fatalf("shift-rootfs failed:\n%s", r)
			}
			if uid, gid := ownerOf(t, filepath.Join(rootfs, "bin")); uid != 100000 || gid != 100000 {
				t.Errorf("bin belongs to %d:%d on the host after the shift, want 100000:100000", uid, gid)
			}
			after := runIn(t, step, rootfs, "sh", "-c", "stat -c %u /bin; touch /made-inside && echo made")
			if diff := cmp.Diff([]string{"0", "made"}, nonEmptyLines(after.stdout)); diff != "" || after.code != 0 {
				t.Errorf("after the shift, /bin inside should be root's and / writable (-want +got):\n%s\n%s", diff, after)
			}
			if uid, _ := ownerOf(t, filepath.Join(rootfs, "made-inside")); uid != 100000 {
				t.Errorf("a file made inside belongs to host uid %d, want 100000", uid)
			}
			names, err := treeNames(rootfs)
			if err != nil {
				t.Fatal(err)
			}
			owners := ownersUnder(t, rootfs, names)
			if r := run(t, step, "--quiet", "shift-rootfs", rootfs); r.code != 0 {
				t.Fatalf("second shift-rootfs failed:\n%s", r)
			}
			if diff := cmp.Diff(owners, ownersUnder(t, rootfs, names)); diff != "" {
				t.Errorf("a second shift changed owners (-before +after):\n%s", diff)
			}
		})
	}
}

// ownersUnder maps each of names (as treeNames lists them) to its owner.
func ownersUnder(t *testing.T, root string, names []string) map[string]string {
	owners := map[string]string{}
	for _, n := range names {
		rel := n[:strings.LastIndexByte(n, ' ')]
		uid, gid := ownerOf(t, filepath.Join(root, rel))
		owners[rel] = fmt.Sprintf("%d:%d", uid, gid)
	}
	return owners
}
