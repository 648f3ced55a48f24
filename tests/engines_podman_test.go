package tests

// engines_podman_test.go drives podman with --runtime: every case runs
// first with runc, which proves the case works on this host, then with box
// through its runc front door (see engines_runtimes_test.go). podman gets a
// store, configuration and mount namespace of its own, and images made
// offline: the tests' busybox rootfs imported, and a podman-built image of
// several layers.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// podmanEnv is one podman store, shared by every case of the test.
type podmanEnv struct {
	ns   *engineNS
	dir  string
	env  []string // CONTAINERS_CONF and friends
	args []string // the global flags naming the store
}

const (
	podmanBase    = "localhost/boxtest-busybox"
	podmanLayered = "localhost/boxtest-layers"
)

// newPodman makes the store and its images.
func newPodman(t *testing.T) *podmanEnv {
	t.Helper()
	requireRoot(t)
	requireTool(t, "podman")
	p := &podmanEnv{ns: newEngineNS(t), dir: safeTempDir(t, "podman-", 0o755)}
	driver := "overlay"
	if onOverlay(p.dir) {
		driver = "vfs"
	}
	files := map[string]string{
		// No network namespace setup (netns none keeps podman off CNI and the
		// host's firewall), limits that fit any host, and no systemd.
		"containers.conf": "[containers]\nnetns = \"none\"\n" +
			"default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n" +
			"[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n" +
			fmt.Sprintf("[network]\nnetwork_config_dir = %q\n", filepath.Join(p.dir, "net")),
		"storage.conf": fmt.Sprintf("[storage]\ndriver = %q\nrunroot = %q\ngraphroot = %q\n",
			driver, filepath.Join(p.dir, "r"), filepath.Join(p.dir, "root")),
		// Short names resolve nowhere: every image here is local.
		"registries.conf": "unqualified-search-registries = []\n",
	}
	// podman refuses a runroot path longer than 50 characters: "r".
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(p.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(p.dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(p.dir, "registries.conf"),
	}
	p.args = []string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "r"),
		"--tmpdir", filepath.Join(p.dir, "tmp"), "--storage-driver", driver, "--cgroup-manager", "cgroupfs"}
	t.Cleanup(func() {
		// Stop whatever a failed case left, then drop the store's mounts
		// with the namespace (the holder ends after this).
		p.podman(t, "", "rm", "--all", "--force", "--time", "0")
		removePodmanCgroups()
	})

	p.must(t, engineTar(t), "import", "-", podmanBase)
	// Several layers, built by podman itself: RUN steps under chroot
	// isolation need no runtime, so the image is the same for every one.
	ctx := filepath.Join(p.dir, "context")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	containerfile := "FROM " + podmanBase + "\n" +
		"RUN echo one > /one\n" +
		"RUN echo two > /two && rm /bin/ping\n" +
		"COPY three /three\n" +
		`CMD ["sh", "-c", "cat /one /two /three; test -e /bin/ping && echo ping-here || echo ping-gone"]` + "\n"
	for name, text := range map[string]string{"Containerfile": containerfile, "three": "three\n"} {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.must(t, "", "build", "--isolation", "chroot", "--layers", "-t", podmanLayered, ctx)
	return p
}

// podman runs podman in the store's namespace with stdin.
func (p *podmanEnv) podman(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return p.ns.run(t, p.env, stdin, "podman", append(append([]string{}, p.args...), args...)...)
}

// must runs podman and fails the test unless it exits 0.
func (p *podmanEnv) must(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	r := p.podman(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("podman %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// withRuntime puts --runtime in front of a command's arguments.
func withRuntime(rt ociRuntime, args ...string) []string {
	return append([]string{"--runtime", rt.path}, args...)
}

// podmanState is the part of podman inspect the tests read.
type podmanState struct {
	State struct {
		Status   string
		Running  bool
		Pid      int
		ExitCode int
	}
}

func (p *podmanEnv) inspect(t *testing.T, name string) podmanState {
	t.Helper()
	r := p.must(t, "", "inspect", "--type", "container", name)
	var out []podmanState
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("podman inspect %s: %v\n%s", name, err, r)
	}
	return out[0]
}

// detached starts name with run -d: a shell that says it started, then
// waits, and exits 0 on SIGTERM.
func (p *podmanEnv) detached(t *testing.T, rt ociRuntime, name string, extra ...string) podmanState {
	t.Helper()
	args := append([]string{"run", "-d", "--name", name}, extra...)
	args = append(args, podmanBase, "sh", "-c", "trap 'echo got-term; exit 0' TERM; echo started-"+name+"; while :; do sleep 1; done")
	p.must(t, "", withRuntime(rt, args...)...)
	t.Cleanup(func() { p.podman(t, "", withRuntime(rt, "rm", "--force", "--time", "0", name)...) })
	st := p.inspect(t, name)
	if !st.State.Running || st.State.Pid <= 0 {
		t.Fatalf("%s after run -d: %+v, want running with a pid", name, st.State)
	}
	return st
}

// TestEnginePodman runs podman's everyday commands against each runtime.
func TestEnginePodman(t *testing.T) {
	p := newPodman(t)

	t.Run("run --rm", func(t *testing.T) {
		eachRuntime(t, "podman/run --rm", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-rm-" + rt.name
			r := p.must(t, "", withRuntime(rt, "run", "--rm", "--name", name, podmanBase, "sh", "-c", "echo hello from $(hostname)")...)
			if want := "hello from "; !strings.HasPrefix(r.stdout, want) {
				t.Errorf("stdout %q, want %q...", r.stdout, want)
			}
			if r := p.podman(t, "", "container", "exists", name); r.code == 0 {
				t.Errorf("%s still exists after run --rm", name)
			}
			r = p.podman(t, "", withRuntime(rt, "run", "--rm", podmanBase, "sh", "-c", "exit 7")...)
			if r.code != 7 {
				t.Errorf("run --rm sh -c 'exit 7': exit %d, want 7\n%s", r.code, r)
			}
		})
	})

	t.Run("run -it", func(t *testing.T) {
		eachRuntime(t, "podman/run -it", func(t *testing.T, rt ociRuntime) {
			// podman hands the runtime --console-socket; the runtime sends the
			// pty master back over it, and conmon copies it to our terminal.
			term := openTerminal(t, 30, 100)
			wait := p.onTerminal(t, term, withRuntime(rt, "run", "-it", "--rm", podmanBase, "sh")...)
			term.expect(t, "# ")
			term.send(t, "tty; stty size; echo TERM=$TERM\r")
			term.expect(t, "/dev/pts/0")
			term.expect(t, "30 100")
			term.send(t, "exit 3\r")
			if code := wait(); code != 3 {
				t.Errorf("exit %d, want 3; the terminal showed:\n%s", code, term.drain())
			}
		})
	})

	t.Run("run -d, exec, logs", func(t *testing.T) {
		eachRuntime(t, "podman/run -d, exec, logs", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-exec-" + rt.name
			st := p.detached(t, rt, name)
			// exec joins the running container: same PID namespace, so its
			// shell sees the container's PID 1.
			r := p.must(t, "", withRuntime(rt, "exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u")...)
			if !strings.Contains(r.stdout, "trap") || !strings.HasSuffix(r.stdout, "\n0\n") {
				t.Errorf("exec printed %q, want PID 1's command line (sh -c trap...) and uid 0", r.stdout)
			}
			r = p.podman(t, "", withRuntime(rt, "exec", name, "sh", "-c", "exit 5")...)
			if r.code != 5 {
				t.Errorf("exec sh -c 'exit 5': exit %d, want 5\n%s", r.code, r)
			}
			if r := p.must(t, "", "logs", name); !strings.Contains(r.stdout, "started-"+name) {
				t.Errorf("logs %s: %q, want the line it printed", name, r.stdout)
			}
			if st.State.Pid <= 0 || !alive(st.State.Pid) {
				t.Errorf("the pid podman has, %d, is not alive", st.State.Pid)
			}
		})
	})

	t.Run("stop", func(t *testing.T) {
		eachRuntime(t, "podman/stop", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-stop-" + rt.name
			p.detached(t, rt, name)
			p.must(t, "", withRuntime(rt, "stop", "--time", "30", name)...)
			st := p.inspect(t, name)
			if st.State.Running || st.State.ExitCode != 0 {
				t.Errorf("after stop: %+v, want exited 0 (the shell traps SIGTERM)", st.State)
			}
			if r := p.must(t, "", "logs", name); !strings.Contains(r.stdout, "got-term") {
				t.Errorf("logs after stop: %q, want got-term", r.stdout)
			}
		})
	})

	t.Run("kill, rm", func(t *testing.T) {
		eachRuntime(t, "podman/kill, rm", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-kill-" + rt.name
			st := p.detached(t, rt, name)
			p.must(t, "", withRuntime(rt, "kill", "--signal", "KILL", name)...)
			p.must(t, "", "wait", name)
			if got := p.inspect(t, name); got.State.Running || got.State.ExitCode != 137 {
				t.Errorf("after kill -s KILL: %+v, want exited 137", got.State)
			}
			if alive(st.State.Pid) {
				t.Errorf("pid %d still alive after kill", st.State.Pid)
			}
			p.must(t, "", withRuntime(rt, "rm", name)...)
			if r := p.podman(t, "", "container", "exists", name); r.code == 0 {
				t.Errorf("%s still exists after rm", name)
			}
			// rm --force of a running container stops it first.
			name2 := name + "-f"
			st = p.detached(t, rt, name2)
			p.must(t, "", withRuntime(rt, "rm", "--force", "--time", "0", name2)...)
			if alive(st.State.Pid) {
				t.Errorf("pid %d still alive after rm --force", st.State.Pid)
			}
		})
	})

	t.Run("--memory --pids-limit", func(t *testing.T) {
		eachRuntime(t, "podman/--memory --pids-limit", func(t *testing.T, rt ociRuntime) {
			name := "boxtest-limits-" + rt.name
			st := p.detached(t, rt, name, "--memory", "64m", "--pids-limit", "42")
			// The kernel's answer, read from the host: the cgroup the
			// container's process is in.
			if got := cgroupValue(t, st.State.Pid, "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(64<<20) {
				t.Errorf("memory limit %s, want %d", got, 64<<20)
			}
			if got := cgroupValue(t, st.State.Pid, "pids", "pids.max", "pids.max"); got != "42" {
				t.Errorf("pids.max %s, want 42", got)
			}
		})
	})

	t.Run("--user", func(t *testing.T) {
		eachRuntime(t, "podman/--user", func(t *testing.T, rt ociRuntime) {
			r := p.must(t, "", withRuntime(rt, "run", "--rm", "--user", "1234:2345", podmanBase, "sh", "-c", "id -u; id -g; cat /proc/self/status | grep ^CapEff")...)
			lines := nonEmptyLines(r.stdout)
			if len(lines) != 3 || lines[0] != "1234" || lines[1] != "2345" || !strings.HasSuffix(lines[2], "0000000000000000") {
				t.Errorf("--user 1234:2345 printed %q, want 1234, 2345 and no effective capabilities", r.stdout)
			}
		})
	})

	t.Run("volume", func(t *testing.T) {
		eachRuntime(t, "podman/volume", func(t *testing.T, rt ociRuntime) {
			host := safeTempDir(t, "podman-volume-", 0o755)
			if err := os.WriteFile(filepath.Join(host, "from-host"), []byte("written on the host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := p.must(t, "", withRuntime(rt, "run", "--rm", "-v", host+":/data", "-v", host+":/ro:ro", podmanBase,
				"sh", "-c", "cat /data/from-host; echo from the container > /data/from-container; touch /ro/x 2>&1 || true")...)
			if !strings.Contains(r.stdout, "written on the host") || !strings.Contains(r.stdout, "Read-only file system") {
				t.Errorf("volume: stdout %q, want the host's file and EROFS from the read-only one", r.stdout)
			}
			if got := readTrimmed(t, filepath.Join(host, "from-container")); got != "from the container" {
				t.Errorf("the host sees %q, want what the container wrote", got)
			}
		})
	})

	t.Run("layered image", func(t *testing.T) {
		eachRuntime(t, "podman/layered image", func(t *testing.T, rt ociRuntime) {
			r := p.must(t, "", withRuntime(rt, "run", "--rm", podmanLayered)...)
			lines := nonEmptyLines(r.stdout)
			if len(lines) != 4 || lines[0] != "one" || lines[1] != "two" || lines[2] != "three" || lines[3] != "ping-gone" {
				t.Errorf("the layered image printed %q, want one, two, three, and /bin/ping deleted by a later layer", r.stdout)
			}
		})
	})
}

// onTerminal starts podman with args on term (as its controlling
// terminal) and returns a function that waits for its exit code.
func (p *podmanEnv) onTerminal(t *testing.T, term *terminal, args ...string) (wait func() int) {
	t.Helper()
	cmd := p.ns.command(context.Background(), append(p.env, "TERM=xterm"), "podman", append(append([]string{}, p.args...), args...)...)
	// A session of its own, the terminal its controlling one; as the
	// session's leader it leads its process group, which waitFunc kills
	// when it hangs.
	term.command(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start podman: %v", err)
	}
	return waitFunc(t, cmd, "podman "+strings.Join(args, " "))
}
