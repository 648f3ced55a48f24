package tests

// engines_containerd_test.go drives containerd with ctr, the way a
// Kubernetes node's containerd calls an OCI runtime binary: `ctr run
// --runc-binary RUNTIME` makes containerd-shim-runc-v2 call that binary
// with runc's command line. The test starts a containerd of its own
// (private root, state and sockets, no CRI plugin) in a mount namespace of
// its own. Every case runs with runc first, then with box when enabled
// (engines_runtimes_test.go).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerdEnv is one containerd and ctr pointed at it.
type containerdEnv struct {
	ns   *engineNS
	ctr  string
	sock string
	dir  string
}

// newContainerd starts containerd.
func newContainerd(t *testing.T) *containerdEnv {
	t.Helper()
	requireRoot(t)
	containerd := requireTool(t, "containerd")
	c := &containerdEnv{ns: newEngineNS(t), ctr: requireTool(t, "ctr"), dir: safeTempDir(t, "containerd-", 0o755)}
	c.sock = filepath.Join(c.dir, "containerd.sock")
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n"+
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"+
		"[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n[debug]\n  address = %q\n",
		filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(c.dir, "debug.sock"))
	configFile := filepath.Join(c.dir, "config.toml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(c.dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := c.ns.command(context.Background(), nil, containerd, "--config", configFile)
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		// The shims of containers a failed case left outlive containerd;
		// the namespace's cleanup reports and kills them.
		_ = daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(engineTimeout):
			t.Errorf("containerd did not stop within %v of SIGTERM; killed", engineTimeout)
			_ = syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
	})
	for deadline := time.Now().Add(engineTimeout); ; time.Sleep(200 * time.Millisecond) {
		if r := c.run(t, "version"); r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("containerd did not answer on %s within %v; its log:\n%s", c.sock, engineTimeout, log)
		}
	}
	return c
}

// run runs ctr against this containerd.
func (c *containerdEnv) run(t testing.TB, args ...string) result {
	t.Helper()
	return c.ns.run(t, nil, "", c.ctr, append([]string{"--address", c.sock}, args...)...)
}

// must runs ctr and fails the test unless it exits 0.
func (c *containerdEnv) must(t testing.TB, args ...string) result {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 0 {
		t.Fatalf("ctr %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// runArgs is the start of a `ctr run` with rt as the shim's runtime
// binary, its state in a directory of the test's own, and its cgroup below
// a parent of the test's own. A --rootfs run has no image config, so no
// PATH unless given.
func (c *containerdEnv) runArgs(t *testing.T, rt ociRuntime, id string) []string {
	cgroup := "boxtest-" + filepath.Base(c.dir)
	removeCgroups(t, cgroup)
	return []string{"run", "--runc-binary", rt.path, "--runc-root", safeTempDir(t, "ctr-root-", 0o700),
		"--env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "--cgroup", "/" + cgroup + "/" + id}
}

// TestEngineContainerd runs containers with ctr against each runtime.
func TestEngineContainerd(t *testing.T) {
	c := newContainerd(t)

	t.Run("run --rm", func(t *testing.T) {
		eachRuntime(t, "containerd/run --rm", func(t *testing.T, rt ociRuntime) {
			id := "boxtest-rm-" + rt.name
			// --rootfs: a directory as the root, no image or snapshotter.
			args := append(c.runArgs(t, rt, id), "--rm", "--rootfs", rootfsCopy(t), id, "sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; exit 6")
			r := c.run(t, args...)
			hostPid, _ := os.Readlink("/proc/self/ns/pid")
			hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
			got := nonEmptyLines(r.stdout)
			if r.code != 6 || len(got) != 2 || got[0] == hostPid || got[1] == hostMnt || !strings.HasPrefix(got[0], "pid:[") {
				t.Errorf("ctr run: want exit 6 and PID and mount namespaces other than the host's (%s, %s)\n%s", hostPid, hostMnt, r)
			}
			if r := c.must(t, "containers", "list", "--quiet"); strings.Contains(r.stdout, id) {
				t.Errorf("%s still listed after run --rm:\n%s", id, r.stdout)
			}
		})
	})

	t.Run("run -d, exec, kill, delete", func(t *testing.T) {
		eachRuntime(t, "containerd/run -d, exec, kill, delete", func(t *testing.T, rt ociRuntime) {
			id := "boxtest-task-" + rt.name
			args := append(c.runArgs(t, rt, id), "--detach", "--rootfs", rootfsCopy(t), id, "sh", "-c", "while :; do sleep 1; done")
			c.must(t, args...)
			t.Cleanup(func() {
				c.run(t, "tasks", "delete", "--force", id)
				c.run(t, "containers", "delete", id)
			})
			r := c.must(t, "tasks", "exec", "--exec-id", "probe", id, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
			if !strings.Contains(r.stdout, "while") {
				t.Errorf("task exec sees PID 1 as %q, want the container's shell", r.stdout)
			}
			r = c.run(t, "tasks", "exec", "--exec-id", "status", id, "sh", "-c", "exit 4")
			if r.code != 4 {
				t.Errorf("task exec sh -c 'exit 4': exit %d, want 4\n%s", r.code, r)
			}
			c.must(t, "tasks", "kill", "--signal", "SIGKILL", id)
			for deadline := time.Now().Add(engineTimeout); ; time.Sleep(100 * time.Millisecond) {
				r := c.must(t, "tasks", "list")
				if lineWith(r.stdout, id, "STOPPED") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s not stopped %v after SIGKILL:\n%s", id, engineTimeout, r.stdout)
				}
			}
			c.must(t, "tasks", "delete", id)
			c.must(t, "containers", "delete", id)
		})
	})
}

// lineWith tells whether one line of s holds every word.
func lineWith(s string, words ...string) bool {
	for _, line := range strings.Split(s, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}
