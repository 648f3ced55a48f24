package tests

// engines_docker_test.go drives docker: the test starts a dockerd of its
// own (private data, exec root and socket, no bridge, no iptables) in a
// mount namespace of its own, with box registered as a runtime in
// daemon.json. `docker run --runtime NAME` goes through containerd and
// containerd-shim-runc-v2, which call the runtime with runc's command line
// and read its errors back from --log as JSON. Every case runs with runc
// first, then with box when enabled (engines_runtimes_test.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dockerEnv is one dockerd and the CLI pointed at it.
type dockerEnv struct {
	ns  *engineNS
	cli string
	env []string
}

const dockerBase = "boxtest-busybox:latest"

// newDocker starts dockerd and imports the tests' rootfs as an image.
func newDocker(t *testing.T) *dockerEnv {
	t.Helper()
	requireRoot(t)
	dockerd := requireTool(t, "dockerd")
	// The CLI of the same package: another one on PATH may speak a newer API.
	cli := filepath.Join(filepath.Dir(dockerd), "docker")
	if _, err := os.Stat(cli); err != nil {
		cli = requireTool(t, "docker")
	}
	box := boxRuntime(t)
	dir := safeTempDir(t, "docker-", 0o755)
	driver := "overlay2"
	if onOverlay(dir) {
		driver = "vfs"
	}
	sock := filepath.Join(dir, "docker.sock")
	// Containers' cgroups go below a parent of this test's own, removed at
	// the end (dockerd leaves the empty directories).
	cgroupParent := "boxtest-" + filepath.Base(dir)
	removeCgroups(t, cgroupParent)
	config := map[string]any{
		"iptables": false, "ip-masq": false, "bridge": "none",
		"data-root": filepath.Join(dir, "data"), "exec-root": filepath.Join(dir, "exec"),
		"pidfile": filepath.Join(dir, "docker.pid"), "hosts": []string{"unix://" + sock},
		"storage-driver": driver, "cgroup-parent": "/" + cgroupParent,
		// The path exists whether or not box answers yet; only cases
		// enabled for box use it.
		"runtimes": map[string]any{"box": map[string]string{"path": box.path}},
	}
	b, _ := json.Marshal(config)
	daemonJSON := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(daemonJSON, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &dockerEnv{ns: newEngineNS(t), cli: cli,
		env: []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "cli")}}

	logFile, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	// dockerd lives as long as the test; stopping it is Cleanup's job.
	daemon := d.ns.command(context.Background(), nil, dockerd, "--config-file", daemonJSON)
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	t.Cleanup(func() {
		// SIGTERM: dockerd stops its containers and its containerd.
		_ = daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(engineTimeout):
			t.Errorf("dockerd did not stop within %v of SIGTERM; killed", engineTimeout)
			_ = syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
	})
	for deadline := time.Now().Add(engineTimeout); ; time.Sleep(200 * time.Millisecond) {
		if r := d.docker(t, "", "version", "--format", "{{.Server.Version}}"); r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("dockerd did not answer on %s within %v; its log:\n%s", sock, engineTimeout, log)
		}
	}
	d.must(t, engineTar(t), "import", "-", dockerBase)
	return d
}

// docker runs the CLI with stdin.
func (d *dockerEnv) docker(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return d.ns.run(t, d.env, stdin, d.cli, args...)
}

// must runs the CLI and fails the test unless it exits 0.
func (d *dockerEnv) must(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	r := d.docker(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// dockerState is the part of docker inspect's State the tests read.
type dockerState struct {
	Status   string
	Running  bool
	Pid      int
	ExitCode int
}

func (d *dockerEnv) state(t *testing.T, name string) dockerState {
	t.Helper()
	r := d.must(t, "", "inspect", "--type", "container", "--format", "{{json .State}}", name)
	var st dockerState
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("docker inspect %s: %v\n%s", name, err, r)
	}
	return st
}

// dockerRuntime is the name daemon.json gives rt: runc is docker's own.
func dockerRuntime(rt ociRuntime) string {
	if rt.name == "runc" {
		return "runc"
	}
	return rt.name
}

// detached starts name with run -d: a shell that prints a line each time
// it starts, waits, and exits 0 on SIGTERM.
func (d *dockerEnv) detached(t *testing.T, rt ociRuntime, name string) dockerState {
	t.Helper()
	d.must(t, "", "run", "-d", "--runtime", dockerRuntime(rt), "--network", "none", "--name", name, dockerBase,
		"sh", "-c", "trap 'echo got-term; exit 0' TERM; echo started-"+name+"; while :; do sleep 1; done")
	t.Cleanup(func() { d.docker(t, "", "rm", "--force", name) })
	st := d.state(t, name)
	if !st.Running || st.Pid <= 0 {
		t.Fatalf("%s after run -d: %+v, want running with a pid", name, st)
	}
	return st
}

// TestEngineDocker runs docker's everyday commands against each runtime.
func TestEngineDocker(t *testing.T) {
	d := newDocker(t)

	t.Run("run", func(t *testing.T) {
		eachRuntime(t, "docker/run", func(t *testing.T, rt ociRuntime) {
			r := d.must(t, "", "run", "--rm", "--runtime", dockerRuntime(rt), "--network", "none", dockerBase, "sh", "-c", "echo hello; echo to-stderr >&2")
			if r.stdout != "hello\n" || r.stderr != "to-stderr\n" {
				t.Errorf("run: stdout %q, stderr %q; want hello and to-stderr apart", r.stdout, r.stderr)
			}
			r = d.docker(t, "", "run", "--rm", "--runtime", dockerRuntime(rt), "--network", "none", dockerBase, "sh", "-c", "exit 7")
			if r.code != 7 {
				t.Errorf("run sh -c 'exit 7': exit %d, want 7\n%s", r.code, r)
			}
		})
	})

	t.Run("run -it", func(t *testing.T) {
		eachRuntime(t, "docker/run -it", func(t *testing.T, rt ociRuntime) {
			term := openTerminal(t, 30, 100)
			wait := d.onTerminal(t, term, "run", "-it", "--rm", "--runtime", dockerRuntime(rt), "--network", "none", dockerBase, "sh")
			term.expect(t, "# ")
			// Not the window size: the CLI sets it after the start, racing
			// with the shell's first look at it.
			term.send(t, "tty; echo in-$((6*7))\r")
			term.expect(t, "/dev/pts/0")
			term.expect(t, "in-42")
			term.send(t, "exit 3\r")
			if code := wait(); code != 3 {
				t.Errorf("exit %d, want 3; the terminal showed:\n%s", code, term.drain())
			}
		})
	})

	t.Run("exec", func(t *testing.T) {
		eachRuntime(t, "docker/exec", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-exec-" + rt.name
			d.detached(t, rt, name)
			r := d.must(t, "", "exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
			if !strings.Contains(r.stdout, "trap") {
				t.Errorf("exec sees PID 1 as %q, want the container's shell", r.stdout)
			}
			if r := d.docker(t, "", "exec", name, "sh", "-c", "exit 5"); r.code != 5 {
				t.Errorf("exec sh -c 'exit 5': exit %d, want 5\n%s", r.code, r)
			}
			if r := d.must(t, "", "logs", name); !strings.Contains(r.stdout, "started-"+name) {
				t.Errorf("logs: %q, want the line it printed", r.stdout)
			}
		})
	})

	t.Run("stop, restart", func(t *testing.T) {
		eachRuntime(t, "docker/stop, restart", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-restart-" + rt.name
			first := d.detached(t, rt, name)
			d.must(t, "", "stop", "--time", "30", name)
			if st := d.state(t, name); st.Running || st.ExitCode != 0 {
				t.Errorf("after stop: %+v, want exited 0 (the shell traps SIGTERM)", st)
			}
			if alive(first.Pid) {
				t.Errorf("pid %d still alive after stop", first.Pid)
			}
			d.must(t, "", "restart", "--time", "30", name)
			second := d.state(t, name)
			if !second.Running || second.Pid <= 0 || second.Pid == first.Pid {
				t.Errorf("after restart: %+v, want running with a new pid (the first was %d)", second, first.Pid)
			}
			r := d.must(t, "", "logs", name)
			if n := strings.Count(r.stdout, "started-"+name); n != 2 {
				t.Errorf("logs after restart show %d starts, want 2:\n%s", n, r.stdout)
			}
		})
	})

	t.Run("stats", func(t *testing.T) {
		eachRuntime(t, "docker/stats", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-stats-" + rt.name
			d.detached(t, rt, name)
			// docker stats asks the shim, which reads the container's cgroup.
			r := d.must(t, "", "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", name)
			fields := strings.Fields(r.stdout)
			if len(fields) < 3 || fields[0] != name {
				t.Fatalf("stats printed %q, want the name, PIDs and memory use", r.stdout)
			}
			if pids, err := strconv.Atoi(fields[1]); err != nil || pids < 1 {
				t.Errorf("stats PIDs %q, want at least 1", fields[1])
			}
			if strings.HasPrefix(fields[2], "0B") {
				t.Errorf("stats memory %q, want some use", fields[2])
			}
		})
	})
}

// onTerminal starts the CLI with args on term (as its controlling
// terminal) and returns a function that waits for its exit code.
func (d *dockerEnv) onTerminal(t *testing.T, term *terminal, args ...string) (wait func() int) {
	t.Helper()
	cmd := exec.Command(d.cli, args...)
	cmd.Env = append(append(os.Environ(), d.env...), "TERM=xterm")
	term.command(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker: %v", err)
	}
	return waitFunc(t, cmd, fmt.Sprintf("docker %s", strings.Join(args, " ")))
}
