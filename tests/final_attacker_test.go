package tests

// final_attacker_test.go attacks, from inside a container, the one process
// of the runtime that stays there: the init (PID 1). Every thread of it
// must hold no more power than the command, and a container process must
// not be able to read or write its memory, trace it, take its file
// descriptors or reach the runtime's binary through it. The attacker is a
// static program (tests/attacker) handed in through a read-only volume.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// attackerBinary builds tests/attacker, static, into a directory of its
// own to bind into containers; it returns that directory.
func attackerBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// Root in the user namespace must be able to walk to it.
	for d := dir; d != filepath.Dir(harness.root); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "attacker"), "./tests/attacker")
	build.Dir = harness.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the attacker: %v\n%s", err, out)
	}
	return dir
}

// usernsModes are both ways a container runs: in a user namespace (the
// default), and as the host's root (--userns host).
var usernsModes = []struct {
	name string
	args []string
}{{"default", nil}, {"host", []string{"--userns", "host"}}}

// TestFinalInitUnreachableFromInside runs the attacker as the container's
// root: every attempt on PID 1 must be refused, and the cgroup paths it
// sees must be its own namespace's root, not the host's.
func TestFinalInitUnreachableFromInside(t *testing.T) {
	requireRoot(t)
	probe := attackerBinary(t)
	want := strings.Join([]string{
		"open /proc/1/mem O_RDWR: EACCES",
		"ptrace PTRACE_ATTACH 1: EPERM",
		"ptrace PTRACE_SEIZE 1: EPERM",
		"process_vm_writev 1: EPERM",
		"readlink /proc/1/exe: EACCES",
		"open /proc/1/exe: EACCES",
		"readlink /proc/1/fd/0: EACCES",
		"readlink /proc/1/cwd: EACCES",
		"read /proc/1/environ: EACCES",
		"pidfd_getfd 1 fd 0..9: EPERM",
		"cgroup paths: /",
	}, "\n")
	for _, mode := range usernsModes {
		t.Run("userns "+mode.name, func(t *testing.T) {
			f := newFinal(t)
			args := append([]string{"run", "--rm", "-v", probe + ":/probe:ro", "--rootfs", rootfsCopy(t)}, mode.args...)
			r := f.box(append(args, "sh", "-c", "/probe/attacker")...)
			if diff := cmp.Diff(want, strings.TrimSpace(r.stdout)); diff != "" {
				t.Errorf("the attacker got further than it should (-want +got):\n%s\n%s", diff, r)
			}
		})
	}
}

// TestFinalEveryInitThreadRestricted reads, from the host, the status of
// every thread of every process in a running container, the init's first:
// each must have docker's default capabilities, none inheritable,
// no_new_privs and the syscall filter. A Go init restricts the thread it
// runs on unless it asks otherwise; the others are the way in.
func TestFinalEveryInitThreadRestricted(t *testing.T) {
	requireRoot(t)
	want := map[string]string{
		"CapInh": "0000000000000000", "CapPrm": dockerDefaultCapEff, "CapEff": dockerDefaultCapEff,
		"CapBnd": dockerDefaultCapEff, "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2",
	}
	for _, mode := range usernsModes {
		t.Run("userns "+mode.name, func(t *testing.T) {
			f := newFinal(t)
			id := f.detached(append(append([]string{"--rootfs", sharedRootfs(t)}, mode.args...), "sh", "-c", "sleep 300 & wait")...)
			initPid := f.inspect(id).Pid
			if initPid <= 0 {
				t.Fatalf("inspect gives no pid for %s", id)
			}
			// Let box exec make the init start one more process, so its
			// threads have done all they do.
			f.mustBox("exec", id, "true")
			threads := 0
			for _, pid := range append([]int{initPid}, descendants(initPid)...) {
				tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
				if err != nil {
					t.Fatalf("list the threads of %d: %v", pid, err)
				}
				for _, task := range tasks {
					path := "/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/status"
					got := statusFields(t, path, want)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s (-want +got):\n%s", path, diff)
					}
					threads++
				}
			}
			if threads < 3 {
				t.Fatalf("found %d threads in the container; the Go init alone has more", threads)
			}
			t.Logf("%d threads checked", threads)
		})
	}
}

// statusFields reads the fields of /proc/PID/status named in like.
func statusFields(t *testing.T, path string, like map[string]string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if _, wanted := like[name]; ok && wanted {
			got[name] = strings.TrimSpace(value)
		}
	}
	return got
}

// descendants lists the processes below pid, children first, from
// /proc/PID/task/TID/children.
func descendants(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
				out = append(out, descendants(child)...)
			}
		}
	}
	return out
}

// TestFinalImageSymlinksRefused gives the runtime a rootfs whose /proc,
// /sys or /dev is a symlink out of it, as a hostile image would: the
// mount must not follow it. The run fails in one line naming the path,
// and nothing is left mounted.
func TestFinalImageSymlinksRefused(t *testing.T) {
	requireRoot(t)
	for _, name := range []string{"proc", "sys", "dev"} {
		t.Run(name, func(t *testing.T) {
			f := newFinal(t)
			rootfs := rootfsCopy(t)
			target := filepath.Join(rootfs, name)
			if err := os.RemoveAll(target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc", target); err != nil {
				t.Fatal(err)
			}
			r := f.box("run", "--rm", "--userns", "host", "--rootfs", rootfs, "true")
			want := "box: the rootfs's /" + name + " is a symlink; an image needs a directory there"
			if r.code != 125 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("want exit 125 and one line starting %q:\n%s", want, r)
			}
		})
	}
}

// TestFinalInitSurvivesForkToPidsLimit forks past --pids-limit, which the
// init's threads count against too: the fork that fails must be the
// container's, never a thread the init's Go runtime needs (a crash dump
// on the terminal, and the container gone). A blocking system call in the
// init made Go start new threads, so this failed nearly every time.
func TestFinalInitSurvivesForkToPidsLimit(t *testing.T) {
	requireRoot(t)
	f := newFinal(t)
	for i := 0; i < 3; i++ {
		r := f.box("run", "--rm", "--pids-limit", "16", "--rootfs", sharedRootfs(t), "sh", "-c",
			"i=0; while [ $i -lt 20 ]; do sleep 1 & i=$((i+1)); done; wait; echo done")
		if strings.Contains(r.stderr, "fatal error") || strings.Contains(r.stderr, "runtime:") || !strings.Contains(r.stderr, "can't fork") {
			t.Fatalf("run %d: want only sh's \"can't fork\" on stderr:\n%s", i+1, r)
		}
	}
}
