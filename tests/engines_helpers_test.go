package tests

// engines_helpers_test.go holds what the engine tests share: a private
// mount namespace for an engine and everything it starts (its overlay
// mounts, shm and container roots never reach the host's mount table), and
// a way to run an engine's command line in it with a time limit.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// engineTimeout bounds one command of an engine: a hung engine or runtime
// fails its test instead of the whole package; it is not a speed check.
const engineTimeout = 2 * time.Minute

// engineNS is a private mount namespace kept alive by a process that only
// waits in it; commands enter it with nsenter.
type engineNS struct {
	holder *exec.Cmd
}

// newEngineNS starts the holder (`unshare -m --propagation private`, so
// nothing mounted inside propagates to the host); Cleanup ends it, after
// the test's own cleanups have stopped what runs inside.
func newEngineNS(t *testing.T) *engineNS {
	t.Helper()
	requireTool(t, "unshare")
	requireTool(t, "nsenter")
	holder := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", "echo ready; exec cat")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The holder dies with the test process, whatever happens to the test.
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatalf("start the mount namespace holder: %v", err)
	}
	line := make([]byte, 6)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "ready\n" {
		t.Fatalf("the mount namespace holder did not start: %q %v", line, err)
	}
	ns := &engineNS{holder: holder}
	t.Cleanup(func() {
		// By now the test has stopped its engine; whatever still runs in
		// the namespace was left behind by an engine or a runtime.
		if left := ns.waitEmpty(10 * time.Second); len(left) > 0 {
			t.Errorf("left running in the engine's mount namespace, now killed: %s", strings.Join(left, ", "))
		}
		stdin.Close() // cat sees end of file and exits
		_ = holder.Wait()
	})
	return ns
}

// waitEmpty waits until no process but the holder is in the namespace,
// then kills what is left and returns it as "pid (comm)".
func (ns *engineNS) waitEmpty(patience time.Duration) []string {
	self, err := os.Readlink("/proc/" + strconv.Itoa(ns.holder.Process.Pid) + "/ns/mnt")
	if err != nil {
		return nil
	}
	inside := func() (pids []int) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == ns.holder.Process.Pid {
				continue
			}
			if mnt, err := os.Readlink("/proc/" + e.Name() + "/ns/mnt"); err == nil && mnt == self {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	deadline := time.Now().Add(patience)
	pids := inside()
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		pids = inside()
	}
	var left []string
	for _, pid := range pids {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		left = append(left, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm))))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

// command returns cmd set to run in the namespace, in a process group of
// its own (so a timeout kills it and its children), with env added.
func (ns *engineNS) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	full := append([]string{"--mount=/proc/" + strconv.Itoa(ns.holder.Process.Pid) + "/ns/mnt", "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// run runs name with args in the namespace and returns what it printed.
func (ns *engineNS) run(t testing.TB, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	cmd := ns.command(ctx, env, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v, killed\n%s", name, strings.Join(args, " "), engineTimeout, r)
	}
	return r
}

// engineTar is the shared busybox rootfs as a tar stream, for an engine's
// import.
func engineTar(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("tar", "-C", sharedRootfs(t), "-c", ".").Output()
	if err != nil {
		t.Fatalf("tar the rootfs: %v", err)
	}
	return string(out)
}

// onOverlay tells whether dir is on overlayfs, where an engine cannot put
// its overlay storage (overlayfs is no upper dir); it then copies layers.
func onOverlay(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC
}

// cgroupValue reads a control file of the cgroup pid is in, from the
// host's side: v1name in v1's controller hierarchy, v2name in v2.
func cgroupValue(t *testing.T, pid int, controller, v1name, v2name string) string {
	t.Helper()
	file := v1name
	if hostCgroupVersion(t) == 2 {
		file = v2name
	}
	return readTrimmed(t, cgroupFile(t, pid, controller, file))
}

// readTrimmed reads a small file without its trailing newline.
func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// eachRuntime runs test once per runtime of the engine case name, as a
// subtest named after the runtime: runc first, then box when enabled.
func eachRuntime(t *testing.T, name string, test func(t *testing.T, rt ociRuntime)) {
	t.Helper()
	for _, rt := range engineRuntimes(t, name) {
		rt := rt
		t.Run(rt.name, func(t *testing.T) { test(t, rt) })
	}
}

// waitFunc returns a function that waits for cmd (at most engineTimeout,
// then kills its process group) and returns its exit code; Cleanup kills
// it if the test never waited.
func waitFunc(t *testing.T, cmd *exec.Cmd, what string) func() int {
	done, code := false, -1
	wait := func() int {
		if done {
			return code
		}
		done = true
		timer := time.AfterFunc(engineTimeout, func() {
			t.Errorf("%s: still running after %v, killed", what, engineTimeout)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})
		_ = cmd.Wait()
		timer.Stop()
		code = cmd.ProcessState.ExitCode()
		return code
	}
	t.Cleanup(func() {
		if !done {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			wait()
		}
	})
	return wait
}

// removeCgroups removes, once the test is over, the cgroup directories an
// engine or the validation suite made at rel below the root of every
// hierarchy (v1 controllers and v2), deepest first. They are empty by
// then; one that still holds a process is a leak, and is reported.
func removeCgroups(t *testing.T, rel string) {
	t.Helper()
	t.Cleanup(func() {
		roots, _ := filepath.Glob("/sys/fs/cgroup/*")
		roots = append(roots, "/sys/fs/cgroup")
		var dirs []string
		for _, root := range roots {
			_ = filepath.WalkDir(filepath.Join(root, rel), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
		}
		// Children before their parents: the deeper path first.
		sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
		for _, d := range dirs {
			if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
				t.Errorf("cgroup %s left behind: rmdir: %v", d, err)
			}
		}
	})
}

// removePodmanCgroups removes podman's cgroupfs parent and conmon's group
// in it, once empty (another podman may be using them: then they stay).
// Left behind, a libpod_parent in the cpuset hierarchy keeps the kernel's
// cpuset code on for good, which changes what every runtime's start costs
// on a v1 host (bench/README.md).
func removePodmanCgroups() {
	for _, d := range []string{"libpod_parent/conmon", "libpod_parent"} {
		roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + d)
		for _, r := range append(roots, "/sys/fs/cgroup/"+d) {
			_ = unix.Rmdir(r)
		}
	}
}
