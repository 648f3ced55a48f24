package tests

// narration_matrix_test.go runs the narration-truth harness (strace_test.go)
// across scenarios: every step with each feature it has, and final with
// each of its commands. It logs one line per scenario, "matrix: SCENARIO
// narrated N traced M mismatches K", for the table in reports.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// matrixLog collects the scenario lines, printed once at the end.
var matrixLog struct {
	sync.Mutex
	lines []string
}

func logMatrix(t testing.TB, scenario string, rep narrationReport) {
	matrixLog.Lock()
	defer matrixLog.Unlock()
	line := fmt.Sprintf("matrix: %-40s narrated %4d traced %4d mismatches %d", scenario, rep.narrated, rep.traced, len(rep.mismatches))
	matrixLog.lines = append(matrixLog.lines, line)
	t.Log(line)
}

// stepScenario is one way to run a step under strace.
type stepScenario struct {
	name  string
	since string // the first step that has it
	args  func(t *testing.T, step string, i int) []string
}

var stepScenarios = []stepScenario{
	{"plain", "01-chroot", func(t *testing.T, step string, _ int) []string {
		return []string{"run", "--rootfs", rootfsCopy(t), "--", "true"}
	}},
	{"volumes", "03-mount-ns", func(t *testing.T, step string, _ int) []string {
		return []string{"run", "--rootfs", rootfsCopy(t), "-v", hostDir(t, nil) + ":/data", "-v", hostDir(t, nil) + ":/ro:ro", "--", "true"}
	}},
	{"net veth", "04-uts-net-ipc", func(t *testing.T, step string, i int) []string {
		return []string{"run", "--rootfs", rootfsCopy(t), "--net", "veth", "--subnet", fmt.Sprintf("10.211.%d.0/30", i), "--", "true"}
	}},
	{"limits", "06-cgroups", func(t *testing.T, step string, _ int) []string {
		return []string{"run", "--rootfs", rootfsCopy(t), "-m", "64m", "--cpus", "0.5", "--cpu-weight", "200", "--pids-limit", "50", "--", "true"}
	}},
	{"oom", "06-cgroups", func(t *testing.T, step string, _ int) []string {
		return []string{"run", "--rootfs", rootfsCopy(t), "-m", "32m", "--", "sh", "-c", "exec tail -c 100m </dev/zero >/dev/null"}
	}},
	{"3-layer image", "07-layers", func(t *testing.T, step string, _ int) []string {
		store := loadedStore(t, step)
		if store == "" {
			t.Fatal("cannot load the test image")
		}
		return []string{"run", "--store", store, "--image", "layers-test:docker", "--", "true"}
	}},
	{"3-layer image --commit", "07-layers", func(t *testing.T, step string, _ int) []string {
		// The upper dir, with a whiteout and an opaque dir, becomes a
		// layer of a new image.
		store := loadedStore(t, step)
		if store == "" {
			t.Fatal("cannot load the test image")
		}
		return []string{"run", "--store", store, "--image", "layers-test:docker", "--commit", "committed", "--", "sh", "-c", "echo kept > /kept; rm /etc/far; rm -r /opq; mkdir /opq"}
	}},
	{"3-layer image after a killed run", "07-layers", func(t *testing.T, step string, _ int) []string {
		// A run killed by SIGKILL left its container dir and its cgroup:
		// the next run removes them.
		store := storeAfterKilledRun(t, step)
		return []string{"run", "--store", store, "--image", "layers-test:docker", "--", "true"}
	}},
	{"70-layer image", "07-layers", func(t *testing.T, step string, _ int) []string {
		// More layers than fit by full path in the page of options
		// mount(2) takes: the runtime names them by short symlinks.
		store := newStore(t)
		loadStack(t, step, store, 70)
		return []string{"run", "--store", store, "--image", "stack:70", "--", "true"}
	}},
}

// TestNarrationMatchesStrace runs every step in each scenario it has under
// strace and holds its narration to what the kernel saw. (User namespaces
// are on in every scenario from step 05.)
func TestNarrationMatchesStrace(t *testing.T) {
	requireRoot(t)
	strace := requireTool(t, "strace")
	for i, step := range harness.steps {
		if step == finalStep {
			continue
		}
		i, step := i, step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			for _, sc := range stepScenarios {
				if !stepAtLeast(step, sc.since) {
					continue
				}
				sc := sc
				t.Run(sc.name, func(t *testing.T) {
					rep := checkNarration(t, strace, step, sc.args(t, step, i))
					logMatrix(t, step+" "+sc.name, rep)
				})
			}
		})
	}
}

// finalTrace runs final with args under strace in env d.
func finalTrace(t *testing.T, strace string, d fimgDirs, o traceOptions, args ...string) *traced {
	t.Helper()
	o.roots = append(o.roots, d.store)
	// A detached container's monitor narrates on in its state dir.
	o.alsoNarration = append(o.alsoNarration, filepath.Join(d.state, "containers", "*", "explain.log"))
	o.pending = pendingNarration(finalStep, args)
	return startTraced(t, strace, finalStep, append([]string{"--store", d.store, "--state-dir", d.state, "--explain"}, args...), o)
}

// TestFinalNarrationMatchesStrace runs final's commands under strace.
func TestFinalNarrationMatchesStrace(t *testing.T) {
	finalImages(t)
	strace := requireTool(t, "strace")
	scenario := func(name string, f func(t *testing.T, d fimgDirs) narrationReport) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newFimgDirs(t)
			rep := f(t, d)
			logMatrix(t, "final "+name, rep)
		})
	}
	simple := func(name string, extra ...string) {
		scenario(name, func(t *testing.T, d fimgDirs) narrationReport {
			rootfs := rootfsCopy(t)
			args := append(append([]string{"run", "--rm"}, extra...), "--rootfs", rootfs, "true")
			return finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}}, args...).wait()
		})
	}
	simple("plain")
	simple("no user namespace", "--userns", "host")
	simple("-u", "-u", "1000:1000")
	scenario("-v", func(t *testing.T, d fimgDirs) narrationReport {
		rootfs := rootfsCopy(t)
		return finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}}, "run", "--rm", "-v", hostDir(t, nil)+":/data",
			"-v", hostDir(t, nil)+":/ro:ro", "--rootfs", rootfs, "true").wait()
	})
	simple("limits", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50")
	scenario("--net veth -p", func(t *testing.T, d fimgDirs) narrationReport {
		rootfs := rootfsCopy(t)
		port := freePort(t)
		tr := finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}, background: true}, "run", "--rm", "--net", "veth",
			"--subnet", "10.212.7.0/30", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "--rootfs", rootfs,
			"sh", "-c", "echo hi | nc -l -p 80")
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 16)
				n, _ := c.Read(buf)
				c.Close()
				if strings.TrimSpace(string(buf[:n])) == "hi" {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		return tr.wait()
	})
	scenario("-d then exec", func(t *testing.T, d fimgDirs) narrationReport {
		rootfs := rootfsCopy(t)
		name := fmt.Sprintf("narr-exec-%d", os.Getpid())
		// box exec's stderr is a file both traces know: the init, traced
		// with run, narrates onto it what it does for box exec.
		execErrPath := filepath.Join(t.TempDir(), "exec-stderr")
		execErr, err := os.Create(execErrPath)
		if err != nil {
			t.Fatal(err)
		}
		defer execErr.Close()
		runTr := finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}, background: true, alsoNarration: []string{execErrPath}},
			"run", "-d", "--name", name, "--rootfs", rootfs, "sleep", "30")
		waitRunning(t, d, name)
		execTr := finalTrace(t, strace, d, traceOptions{stderr: execErr, stderrPath: execErrPath}, "exec", name, "true")
		rep := execTr.wait()
		rm := finalTrace(t, strace, d, traceOptions{}, "rm", "-f", name).wait()
		first := runTr.wait()
		whole := splitAcross(execErrPath, execTr, runTr)
		if len(whole.mismatches) > 0 {
			t.Errorf("box exec's stderr:\n  %s", strings.Join(whole.mismatches, "\n  "))
		}
		return sumReports(rep, rm, first, whole)
	})
	scenario("pause/unpause", func(t *testing.T, d fimgDirs) narrationReport {
		rootfs := rootfsCopy(t)
		name := fmt.Sprintf("narr-pause-%d", os.Getpid())
		runTr := finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}, background: true}, "run", "-d", "--name", name, "--rootfs", rootfs, "sleep", "30")
		waitRunning(t, d, name)
		p := finalTrace(t, strace, d, traceOptions{}, "pause", name).wait()
		u := finalTrace(t, strace, d, traceOptions{}, "unpause", name).wait()
		rm := finalTrace(t, strace, d, traceOptions{}, "rm", "-f", name).wait()
		return sumReports(p, u, rm, runTr.wait())
	})
	scenario("-d then stop", func(t *testing.T, d fimgDirs) narrationReport {
		// The command ignores SIGTERM: the init passes stop's on (narrated
		// in explain.log, traced with run), the grace runs out, and stop
		// sends SIGKILL, which ends the init and the PID namespace.
		rootfs := rootfsCopy(t)
		name := fmt.Sprintf("narr-stop-%d", os.Getpid())
		runTr := finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}, background: true},
			"run", "-d", "--name", name, "--rootfs", rootfs, "sh", "-c", "trap '' TERM; exec sleep 30")
		waitRunning(t, d, name)
		stop := finalTrace(t, strace, d, traceOptions{}, "stop", "-t", "1", name).wait()
		rm := finalTrace(t, strace, d, traceOptions{}, "rm", name).wait()
		return sumReports(stop, rm, runTr.wait())
	})
	scenario("-d then kill", func(t *testing.T, d fimgDirs) narrationReport {
		// The init passes SIGUSR1 on to the command and narrates it in
		// explain.log; once it has, rm -f kills the container.
		rootfs := rootfsCopy(t)
		name := fmt.Sprintf("narr-kill-%d", os.Getpid())
		runTr := finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}, background: true},
			"run", "-d", "--name", name, "--rootfs", rootfs, "sh", "-c", "trap '' USR1; exec sleep 30")
		waitRunning(t, d, name)
		kill := finalTrace(t, strace, d, traceOptions{}, "kill", "-s", "USR1", name).wait()
		explained := func() bool {
			logs, _ := filepath.Glob(filepath.Join(d.state, "containers", "*", "explain.log"))
			for _, l := range logs {
				if b, _ := os.ReadFile(l); strings.Contains(string(b), ", SIGUSR1) = ") {
					return true
				}
			}
			return false
		}
		for deadline := time.Now().Add(runTimeout); !explained(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the init of %s never narrated passing SIGUSR1 on", name)
			}
		}
		rm := finalTrace(t, strace, d, traceOptions{}, "rm", "-f", name).wait()
		return sumReports(kill, rm, runTr.wait())
	})
	scenario("3-layer image", func(t *testing.T, d fimgDirs) narrationReport {
		d = d.loaded(t)
		return finalTrace(t, strace, d, traceOptions{}, "run", "--rm", "layers-test:docker", "true").wait()
	})
	scenario("3-layer image --userns host", func(t *testing.T, d fimgDirs) narrationReport {
		d = d.loaded(t)
		return finalTrace(t, strace, d, traceOptions{}, "run", "--rm", "--userns", "host", "layers-test:docker", "true").wait()
	})
	scenario("build", func(t *testing.T, d fimgDirs) narrationReport {
		// ADD extracts a layer, COPY writes one, RUN's container copies
		// the layers for its user namespace and its upper dir, with a
		// whiteout, becomes the last.
		ctx := fbuildContext(t, "FROM scratch\nADD rootfs.tar /\nCOPY hello.txt /etc/hello.txt\nRUN echo built > /built && rm /data/delete\n")
		return finalTrace(t, strace, d, traceOptions{roots: []string{ctx}}, "build", "-t", "narrated:1", ctx).wait()
	})
	scenario("OCI create, start, delete", func(t *testing.T, d fimgDirs) narrationReport {
		// An engine's three calls: create leaves the container's process
		// waiting (traced with create, whose stderr it narrates on until
		// it executes the program), start lets it go, delete removes it.
		e := newOCI(t)
		var rootfs string
		bundle := ociBundle(t, e, []string{"true"}, func(spec map[string]any) {
			rootfs = spec["root"].(map[string]any)["path"].(string)
		})
		id := fmt.Sprintf("narr-oci-%d", os.Getpid())
		oci := func(background bool, args ...string) *traced {
			o := traceOptions{roots: []string{bundle, rootfs}, binary: e.bin, background: background}
			return startTraced(t, strace, finalStep, append([]string{"--root", e.root, "--explain"}, args...), o)
		}
		create := oci(true, "create", "--bundle", bundle, id)
		for deadline := time.Now().Add(runTimeout); e.run("state", id).code != 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s was never created", id)
			}
		}
		e.waitStatus(id, "created")
		start := oci(false, "start", id).wait()
		created := create.wait()
		e.waitStatus(id, "stopped")
		return sumReports(created, start, oci(false, "delete", id).wait())
	})
	scenario("-it through a pty", func(t *testing.T, d fimgDirs) narrationReport {
		rootfs := rootfsCopy(t)
		term := openTerminal(t, 24, 80)
		tr := finalTrace(t, strace, d, traceOptions{roots: []string{rootfs}, stdin: term.slave, stdout: term.slave, stderr: term.slave,
			stderrPath: term.slave.Name(), background: true, ctty: true}, "run", "-it", "--rm", "--rootfs", rootfs, "sh", "-c", "echo in-tty")
		term.expect(t, "in-tty")
		rep := tr.wait()
		return rep
	})
}

// sumReports adds up the reports of one scenario's commands.
func sumReports(reps ...narrationReport) narrationReport {
	var sum narrationReport
	for _, r := range reps {
		sum.narrated += r.narrated
		sum.traced += r.traced
		sum.mismatches = append(sum.mismatches, r.mismatches...)
	}
	return sum
}

// waitRunning waits until inspect says name runs.
func waitRunning(t *testing.T, d fimgDirs, name string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		r := d.box(t, "inspect", "--format", "{{.Status}}", name)
		if strings.Contains(r.stdout, "running") {
			return
		}
		r = d.box(t, "inspect", name)
		if strings.Contains(r.stdout, `"Status": "running"`) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never ran", name)
}

// freePort is a TCP port on 127.0.0.1 nobody listens on now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var _ = filepath.Join

// TestSummaryLines pins what a summary line stands for: the calls it
// counts, no more and no fewer, and only those that succeeded.
func TestSummaryLines(t *testing.T) {
	write := func(text string) string {
		return fmt.Sprintf("100 write(2</e>, %s, %d) = %d", strconv.Quote(text), len(text), len(text))
	}
	trace := func(summary string) string {
		return strings.Join([]string{
			write("# Copy the layer.\n"),
			`100 mkdirat(AT_FDCWD</w>, "/s/tmp/a", 0700) = 0`,
			`100 openat(AT_FDCWD</w>, "/s/tmp/a/f", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600) = 3</s/tmp/a/f>`,
			`100 symlinkat("/bin/busybox", AT_FDCWD</w>, "/s/tmp/a/sh") = 0`,
			`100 symlinkat("/bin/busybox", AT_FDCWD</w>, "/s/tmp/a/ls") = -1 EEXIST (File exists)`,
			`100 fchownat(AT_FDCWD</w>, "/s/tmp/a/sh", 100000, 100000, AT_SYMLINK_NOFOLLOW) = 0`,
			write("  " + summary + "\n"),
			write(`  symlink("/bin/busybox", "/s/tmp/a/ls") = -1 EEXIST (File exists)` + "\n"),
			`100 renameat(AT_FDCWD</w>, "/s/tmp/a", AT_FDCWD</w>, "/s/l/a") = 0`,
			write(`  rename("/s/tmp/a", "/s/l/a") = 0` + "\n"),
			`100 unlinkat(AT_FDCWD</w>, "/s/l/a/sh", 0) = 0`,
			write(`  unlink("/s/l/a/sh") = 0` + "\n"),
		}, "\n")
	}
	opts := traceOptions{stderrPath: "/e", roots: []string{"/s"}}
	tests := []struct {
		summary string
		want    []string
	}{
		{`/* under "/s/tmp/a": 1 mkdir, 1 openat(O_CREAT), 1 symlink, 1 fchownat */`, nil},
		{`/* under "/s/tmp/a": 1 mkdir, 1 openat(O_CREAT), 2 symlink, 1 fchownat */`,
			[]string{`summary says 2 symlink under "/s/tmp/a", strace saw 1`}},
		{`/* under "/s/tmp/a": 1 mkdir, 1 openat(O_CREAT), 1 fchownat */`,
			[]string{`made, not narrated: symlink("/bin/busybox", "/s/tmp/a/sh") = 0`}},
		{`/* under "/s/tmp/b": 1 mkdir, 1 openat(O_CREAT), 1 symlink, 1 fchownat */`,
			[]string{`made, not narrated: symlink("/bin/busybox", "/s/tmp/a/sh") = 0`,
				`summary says 1 fchownat under "/s/tmp/b", strace saw 0`, `summary says 1 mkdir under "/s/tmp/b", strace saw 0`,
				`summary says 1 openat(O_CREAT) under "/s/tmp/b", strace saw 0`, `summary says 1 symlink under "/s/tmp/b", strace saw 0`}},
		{`/* under "/s/tmp/a": 1 mkdir, 1 openat(O_CREAT), 1 symlink, 1 fchownat */ = 0`, // not a summary: nothing counted
			[]string{`made, not narrated: symlink("/bin/busybox", "/s/tmp/a/sh") = 0`}},
	}
	for _, tt := range tests {
		rep := compareNarration(parseTrace(trace(tt.summary)), opts)
		var got []string
		for _, m := range rep.mismatches {
			if !strings.HasPrefix(m, "made, not narrated: mkdir") && !strings.HasPrefix(m, "made, not narrated: openat") {
				got = append(got, m)
			}
		}
		sort.Strings(got)
		sort.Strings(tt.want)
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tt.summary, got, tt.want)
		}
	}
}
