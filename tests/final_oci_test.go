package tests

// final_oci_test.go drives box-runc, box's runc command line, the way
// container engines do: a bundle (config.json and a root), then create,
// start, state, exec, kill and delete, each checked against the kernel
// (the pid file's process, its program, its cgroup), a terminal through
// --console-socket, and bad input that must fail in one line and leave
// nothing behind.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// ociEnv is one test's box-runc: its own link to the harness's box-runc
// (so its processes are told from others' by their command line) and
// --root.
type ociEnv struct {
	t    *testing.T
	bin  string // the box-runc link
	root string // --root
}

// newOCI checks that box-runc can be tested here and sets it up.
func newOCI(t *testing.T) *ociEnv {
	t.Helper()
	requireRoot(t)
	if stepIndex(finalStep) < 0 {
		t.Fatal("final/ has no main package")
	}
	dir := safeTempDir(t, "oci-", 0o755)
	bin := filepath.Join(dir, "box-runc")
	if err := os.Symlink(filepath.Join(filepath.Dir(binary(t, finalStep)), boxRuncName), bin); err != nil {
		t.Fatal(err)
	}
	e := &ociEnv{t: t, bin: bin, root: filepath.Join(dir, "state")}
	t.Cleanup(func() {
		// Whatever a failed test left: kill and delete it.
		entries, _ := os.ReadDir(e.root)
		for _, en := range entries {
			_ = exec.Command(e.bin, "--root", e.root, "delete", "--force", en.Name()).Run()
		}
	})
	return e
}

// with is e for subtest t, so a failure stops t, not its parent.
func (e *ociEnv) with(t *testing.T) *ociEnv {
	c := *e
	c.t = t
	return &c
}

// run runs box-runc --root ROOT args.
func (e *ociEnv) run(args ...string) result {
	e.t.Helper()
	release := hostMounts.share(e.t)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--root", e.root}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		e.t.Fatalf("box-runc %s: %v", strings.Join(args, " "), err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		e.t.Fatalf("box-runc %s: still running after %v, killed\n%s", strings.Join(args, " "), runTimeout, r)
	}
	return r
}

// runClosing runs box-runc like run, and fails the test if its stdout or
// stderr stays open after it exits: a process it left holds them.
func (e *ociEnv) runClosing(args ...string) result {
	e.t.Helper()
	release := hostMounts.share(e.t)
	defer release()
	cmd := exec.Command(e.bin, append([]string{"--root", e.root}, args...)...)
	// Not a time limit on box: how long the harness waits for the end of
	// the output once box has exited, which a held pipe never gives.
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		e.t.Fatalf("box-runc %s exited, but its stdout or stderr stayed open: a process it started holds them", strings.Join(args, " "))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		e.t.Fatalf("box-runc %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// must runs box-runc and fails the test unless it exits 0.
func (e *ociEnv) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("box-runc %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// state reads the container's state as box-runc state prints it.
func (e *ociEnv) state(id string) ociState {
	e.t.Helper()
	var s ociState
	r := e.must("state", id)
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		e.t.Fatalf("state %s: %v\n%s", id, err, r.stdout)
	}
	return s
}

// waitStatus polls the container's state until it is want.
func (e *ociEnv) waitStatus(id, want string) {
	e.t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		s := e.state(id)
		if s.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s is %s after %v, want %s", id, s.Status, runTimeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ociState is the part of the spec's State the tests read.
type ociState struct {
	Version string `json:"ociVersion"`
	ID      string `json:"id"`
	Status  string `json:"status"`
	Pid     int    `json:"pid"`
	Bundle  string `json:"bundle"`
}

// ociBundle makes a bundle: box-runc spec's config.json on a copy of the
// shared rootfs, without a terminal, running args, with its cgroup at a
// path of its own; change edits the config before it is written.
func ociBundle(t *testing.T, e *ociEnv, args []string, change func(map[string]any)) string {
	t.Helper()
	bundle := safeTempDir(t, "bundle-", 0o755)
	r := e.run("spec", "--bundle", bundle)
	if r.code != 0 {
		t.Fatalf("spec: %s", r)
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	process := spec["process"].(map[string]any)
	process["terminal"] = false
	process["args"] = args
	spec["root"] = map[string]any{"path": rootfsCopy(t), "readonly": true}
	linux := spec["linux"].(map[string]any)
	linux["cgroupsPath"] = "/box-oci-test-" + filepath.Base(bundle)
	if change != nil {
		change(spec)
	}
	if b, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// cgroupDirOf is the container's memory cgroup directory (v1), or its one
// directory (v2), from the bundle's cgroupsPath.
func cgroupDirOf(bundle string) string {
	path := "/box-oci-test-" + filepath.Base(bundle)
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return filepath.Join("/sys/fs/cgroup", path)
	}
	return filepath.Join("/sys/fs/cgroup/memory", path)
}

// exeOf is the program a process runs, as /proc/PID/exe names it.
func exeOf(t testing.TB, pid int) string {
	t.Helper()
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	return exe
}

func TestFinalOCILifecycle(t *testing.T) {
	e := newOCI(t)
	// PID 1 ignores SIGTERM without a handler: the shell's trap exits 42.
	bundle := ociBundle(t, e, []string{"sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"}, nil)
	id := "life-" + filepath.Base(bundle)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.must("create", "--bundle", bundle, "--pid-file", pidFile, id)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	s := e.state(id)
	if s.Status != "created" || s.Pid != pid || s.ID != id || s.Bundle != bundle || s.Version == "" {
		t.Fatalf("state after create: %+v, want created with pid %d (the pid file's)", s, pid)
	}
	// Created: the process is box-init, waiting at the exec fifo, in its cgroup.
	if exe := exeOf(t, pid); !strings.HasSuffix(exe, "/"+boxInitName) {
		t.Errorf("created container's process runs %s, want box-init waiting for start", exe)
	}
	if procs, err := os.ReadFile(filepath.Join(cgroupDirOf(bundle), "cgroup.procs")); err != nil || !strings.Contains(string(procs), strconv.Itoa(pid)) {
		t.Errorf("cgroup %s holds %q (%v), want pid %d", cgroupDirOf(bundle), procs, err, pid)
	}
	if r := e.run("start", "--bogus-flag", id); r.code == 0 {
		t.Errorf("start with an unknown flag succeeded: %s", r)
	}
	e.must("start", id)
	// Once start returns, the pid file's process is the user's program:
	// no box code is left in the container.
	if exe := exeOf(t, pid); strings.HasSuffix(exe, "/"+finalStep) {
		t.Errorf("after start the container's process still runs box (%s)", exe)
	}
	if s := e.state(id); s.Status != "running" || s.Pid != pid {
		t.Errorf("state after start: %+v, want running with pid %d", s, pid)
	}
	if r := e.run("start", id); r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("second start: %s, want a failure saying it runs", r)
	}
	r := e.run("exec", id, "sh", "-c", "echo in:$(hostname); exit 7")
	if r.code != 7 || !strings.Contains(r.stdout, "in:box") {
		t.Errorf("exec: %s, want exit 7 and the container's hostname", r)
	}
	process := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(process, []byte(`{"args":["sleep","1000"],"cwd":"/","env":["PATH=/bin:/sbin"],"user":{"uid":0,"gid":0}}`), 0o644)
	execPid := filepath.Join(t.TempDir(), "exec.pid")
	e.must("exec", "--process", process, "--detach", "--pid-file", execPid, id)
	if b, err := os.ReadFile(execPid); err != nil {
		t.Errorf("exec --detach wrote no pid file: %v", err)
	} else if n, _ := strconv.Atoi(string(b)); !strings.HasSuffix(exeOf(t, n), "/busybox") {
		t.Errorf("exec --detach pid %d runs %s, want the rootfs's busybox", n, exeOf(t, n))
	}
	r = e.run("ps", "--format", "json", id)
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil || len(pids) < 2 {
		t.Errorf("ps --format json: %s, want the init and the exec'd sleep", r)
	}
	if r := e.run("delete", id); r.code == 0 || !strings.Contains(r.stderr, "not stopped") {
		t.Errorf("delete of a running container: %s, want a refusal", r)
	}
	waitCaught(t, pid, syscall.SIGTERM)
	e.must("kill", id, "15")
	e.waitStatus(id, "stopped")
	e.must("delete", id)
	if _, err := os.Stat(filepath.Join(e.root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state of %s left behind: %v", id, err)
	}
	if _, err := os.Stat(cgroupDirOf(bundle)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left behind: %v", cgroupDirOf(bundle), err)
	}
	if left := processesWithArg(e.bin); len(left) > 0 {
		t.Errorf("processes of box-runc left: %v", left)
	}
}

func TestFinalOCIKillSignalNames(t *testing.T) {
	e := newOCI(t)
	for _, sig := range []string{"TERM", "SIGTERM", "15"} {
		t.Run(sig, func(t *testing.T) {
			e := e.with(t)
			bundle := ociBundle(t, e, []string{"sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"}, nil)
			id := "sig-" + filepath.Base(bundle)
			e.must("create", "--bundle", bundle, id)
			e.must("start", id)
			waitCaught(t, e.state(id).Pid, syscall.SIGTERM)
			e.must("kill", id, sig)
			e.waitStatus(id, "stopped")
			e.must("delete", id)
		})
	}
}

// waitCaught waits until process pid catches sig (SigCgt in its status):
// a signal sent to a container's PID 1 before its handler is installed is
// dropped, since PID 1 gets no default action.
func waitCaught(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	bit := uint64(1) << (uint(sig) - 1)
	deadline := time.Now().Add(runTimeout)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatalf("status of %d: %v", pid, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigCgt:\t"); ok {
				if mask, err := strconv.ParseUint(v, 16, 64); err == nil && mask&bit != 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d does not catch %v after %v", pid, sig, runTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFinalOCIConsoleSocket(t *testing.T) {
	e := newOCI(t)
	bundle := ociBundle(t, e, []string{"sh", "-c", "tty; stty size; echo hello-pty"}, func(spec map[string]any) {
		p := spec["process"].(map[string]any)
		p["terminal"] = true
		p["consoleSize"] = map[string]any{"height": 33, "width": 111}
	})
	id := "tty-" + filepath.Base(bundle)
	sock, got := consoleSocket(t)
	// create's stdout and stderr are pipes read to their end, as
	// containerd's shim reads them: with a terminal the container's
	// process must not hold them, or the engine waits for create forever
	// and never calls start.
	if r := e.runClosing("create", "--bundle", bundle, "--console-socket", sock, id); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	master := receiveMaster(t, got)
	defer master.Close()
	e.must("start", id)
	text := readTerminal(master, "hello-pty")
	if !strings.Contains(text, "/dev/pts/0\n33 111\nhello-pty") {
		t.Errorf("terminal output %q, want the container's /dev/pts/0 of 33 rows and 111 columns", text)
	}
	e.waitStatus(id, "stopped")
	e.must("delete", id)
}

// ociConsoleMaster is a terminal's master side from a console socket, or why not.
type ociConsoleMaster struct {
	master *os.File
	err    error
}

// consoleSocket listens on a console socket, as an engine does, and
// receives one terminal master sent over it (SCM_RIGHTS).
func consoleSocket(t *testing.T) (string, <-chan ociConsoleMaster) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan ociConsoleMaster, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			got <- ociConsoleMaster{nil, err}
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- ociConsoleMaster{nil, err}
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			got <- ociConsoleMaster{nil, fmt.Errorf("control messages %v: %v", msgs, err)}
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			got <- ociConsoleMaster{nil, fmt.Errorf("rights %v: %v", fds, err)}
			return
		}
		got <- ociConsoleMaster{os.NewFile(uintptr(fds[0]), "master"), nil}
	}()
	return sock, got
}

// receiveMaster waits for the master the console socket got.
func receiveMaster(t *testing.T, got <-chan ociConsoleMaster) *os.File {
	t.Helper()
	rcv := <-got
	if rcv.err != nil {
		t.Fatalf("console socket: %v", rcv.err)
	}
	return rcv.master
}

// readTerminal reads the master until want shows, or the terminal ends,
// and returns the text without carriage returns.
func readTerminal(master *os.File, want string) string {
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), want) {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return strings.ReplaceAll(out.String(), "\r", "")
}

// The spec lets create accept a config without a process; only start
// fails then (the validation suite's start program checks both). start
// says why in one line and stops the container; delete leaves nothing.
func TestFinalOCIWithoutProcess(t *testing.T) {
	e := newOCI(t)
	bundle := ociBundle(t, e, []string{"true"}, func(spec map[string]any) { delete(spec, "process") })
	id := "noproc-" + filepath.Base(bundle)
	e.must("create", "--bundle", bundle, id)
	s := e.state(id)
	if s.Status != "created" || s.Pid <= 0 {
		t.Fatalf("state after create: %+v, want created with a pid", s)
	}
	pid := s.Pid
	r := e.run("start", id)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, "no process") {
		t.Errorf("start: %s\nwant a failure in one line saying the config has no process", r)
	}
	e.waitStatus(id, "stopped")
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if start, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(start), ") Z") {
			t.Errorf("the container's process %d is still alive after start refused: %s", pid, start)
		}
	}
	e.must("delete", id)
	ociNothingLeft(t, e, bundle)
}

func TestFinalOCIUnknownContainer(t *testing.T) {
	e := newOCI(t)
	for _, args := range [][]string{{"state", "nope"}, {"start", "nope"}, {"kill", "nope", "KILL"}, {"delete", "nope"}, {"exec", "nope", "true"}} {
		r := e.run(args...)
		if r.code == 0 || strings.TrimSpace(r.stderr) != "box-runc: container does not exist" {
			t.Errorf("%s: %s, want runc's one line: container does not exist", strings.Join(args, " "), r)
		}
	}
}

func TestFinalOCIBadInput(t *testing.T) {
	e := newOCI(t)
	holdHostMounts(t)
	before := hostMountinfo(t)
	deadSocket := filepath.Join(t.TempDir(), "nobody-listens.sock")
	rows := []struct {
		name   string
		setup  func(bundle string) // change the bundle
		id     string
		args   []string // extra create flags
		stderr string   // in the one line
	}{
		{"missing config.json", func(b string) { os.Remove(filepath.Join(b, "config.json")) }, "", nil, "no config.json"},
		{"malformed config.json", func(b string) {
			os.WriteFile(filepath.Join(b, "config.json"), []byte("{\"ociVersion\": \"1.0.2\",\n  nope"), 0o644)
		}, "", nil, "line 2"},
		{"bundle without a root", editSpec(func(s map[string]any) { s["root"] = map[string]any{"path": "no-such-root"} }), "", nil, "root.path"},
		{"args of the wrong type", editSpec(func(s map[string]any) { s["process"].(map[string]any)["args"] = "sh" }), "", nil, "process.args must be an array"},
		{"hostname of the wrong type", editSpec(func(s map[string]any) { s["hostname"] = 7 }), "", nil, "hostname must be a string"},
		{"a later major version", editSpec(func(s map[string]any) { s["ociVersion"] = "2.0.0" }), "", nil, "not supported"},
		{"unknown capability", editSpec(func(s map[string]any) {
			s["process"].(map[string]any)["capabilities"] = map[string]any{"bounding": []string{"CAP_NOPE"}}
		}), "", nil, "CAP_NOPE"},
		{"program not in the root", editSpec(func(s map[string]any) { s["process"].(map[string]any)["args"] = []string{"no-such-program"} }), "", nil, "executable file not found"},
		{"id with a slash", nil, "a/b", nil, "invalid container id"},
		{"dead console socket", editSpec(func(s map[string]any) { s["process"].(map[string]any)["terminal"] = true }), "", []string{"--console-socket", deadSocket}, "console socket"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			e := e.with(t)
			bundle := ociBundle(t, e, []string{"true"}, nil)
			if row.setup != nil {
				row.setup(bundle)
			}
			id := row.id
			if id == "" {
				id = "bad-" + filepath.Base(bundle)
			}
			r := e.run(append(append([]string{"create", "--bundle", bundle}, row.args...), id)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, row.stderr) {
				t.Errorf("create: %s\nwant a failure in one line saying %q", r, row.stderr)
			}
			ociNothingLeft(t, e, bundle)
		})
	}
	t.Run("duplicate create", func(t *testing.T) {
		e := e.with(t)
		bundle := ociBundle(t, e, []string{"true"}, nil)
		id := "dup-" + filepath.Base(bundle)
		e.must("create", "--bundle", bundle, id)
		r := e.run("create", "--bundle", bundle, id)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "exists") {
			t.Errorf("second create: %s, want a failure in one line saying the id exists", r)
		}
		if s := e.state(id); s.Status != "created" {
			t.Errorf("the first container is %s after the second create, want created", s.Status)
		}
		e.must("delete", id)
		ociNothingLeft(t, e, bundle)
	})
	if after := hostMountinfo(t); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// editSpec changes a bundle's config.json.
func editSpec(change func(map[string]any)) func(bundle string) {
	return func(bundle string) {
		path := filepath.Join(bundle, "config.json")
		b, _ := os.ReadFile(path)
		var spec map[string]any
		_ = json.Unmarshal(b, &spec)
		change(spec)
		b, _ = json.Marshal(spec)
		_ = os.WriteFile(path, b, 0o644)
	}
}

// ociNothingLeft fails t if a container's state, cgroup or process is
// left after a failed create.
func ociNothingLeft(t *testing.T, e *ociEnv, bundle string) {
	t.Helper()
	entries, _ := os.ReadDir(e.root)
	for _, en := range entries {
		t.Errorf("state left behind: %s", filepath.Join(e.root, en.Name()))
	}
	if _, err := os.Stat(cgroupDirOf(bundle)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left behind: %v", cgroupDirOf(bundle), err)
	}
	if left := processesWithArg(e.bin); len(left) > 0 {
		t.Errorf("processes of box-runc left: %v", left)
	}
}

// createWithOutput creates container id with the container's stdout and
// stderr going to a file, and returns the file's path: the container's
// process keeps them after create exits.
func (e *ociEnv) createWithOutput(bundle, id string, flags ...string) string {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), "output")
	f, err := os.Create(out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	args := append(append([]string{"--root", e.root, "create", "--bundle", bundle}, flags...), id)
	cmd := exec.Command(e.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out)
		e.t.Fatalf("create %s: %v\n%s", id, err, b)
	}
	return out
}

func TestFinalOCIProcessUser(t *testing.T) {
	e := newOCI(t)
	bundle := ociBundle(t, e, []string{"sh", "-c", "id; grep CapEff /proc/self/status; ulimit -n"}, func(spec map[string]any) {
		p := spec["process"].(map[string]any)
		p["user"] = map[string]any{"uid": 1000, "gid": 1000, "additionalGids": []int{2000}}
		p["rlimits"] = []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 321, "soft": 123}}
	})
	id := "user-" + filepath.Base(bundle)
	out := e.createWithOutput(bundle, id)
	e.must("start", id)
	e.waitStatus(id, "stopped")
	e.must("delete", id)
	b, _ := os.ReadFile(out)
	for _, want := range []string{"uid=1000 gid=1000 groups=2000", "CapEff:\t0000000000000000", "\n123\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("output %q lacks %q", b, want)
		}
	}
}

func TestFinalOCIWithoutMountNamespace(t *testing.T) {
	e := newOCI(t)
	holdHostMounts(t)
	before := hostMountinfo(t)
	// No mount namespace: the root is mounted in ours and chroot'ed into.
	bundle := ociBundle(t, e, []string{"sh", "-c", "ls /bin/busybox && cat /proc/self/mountinfo | wc -l"}, func(spec map[string]any) {
		linux := spec["linux"].(map[string]any)
		var kept []any
		for _, ns := range linux["namespaces"].([]any) {
			if ns.(map[string]any)["type"] != "mount" {
				kept = append(kept, ns)
			}
		}
		linux["namespaces"] = kept
	})
	id := "nomnt-" + filepath.Base(bundle)
	out := e.createWithOutput(bundle, id)
	e.must("start", id)
	e.waitStatus(id, "stopped")
	e.must("delete", id)
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "/bin/busybox") {
		t.Errorf("output %q: the program did not run in the bundle's root", b)
	}
	if after := hostMountinfo(t); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("delete left mounts in our mount namespace:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// TestFinalOCIInheritedFiles checks that only stdio and --preserve-fds
// reach the container's program and an exec'd one: containerd's shim
// hands its runtime a descriptor without close-on-exec.
func TestFinalOCIInheritedFiles(t *testing.T) {
	e := newOCI(t)
	// The shell's own descriptors 3 and 4, read by a child that opens no
	// pipe of the shell's.
	list := "for fd in 3 4; do readlink /proc/$$/fd/$fd || echo none; done"
	bundle := ociBundle(t, e, []string{"sh", "-c", list + "; exec sleep 1000"}, nil)
	id := "fds-" + filepath.Base(bundle)
	out := filepath.Join(t.TempDir(), "output")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Descriptors 3 and 4, neither close-on-exec in box-runc: 3 is passed
	// on (--preserve-fds 1), 4 must not be.
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	defer func() { r1.Close(); w1.Close(); r2.Close(); w2.Close() }()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(e.bin, append([]string{"--root", e.root}, args...)...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.ExtraFiles = []*os.File{w1, w2}
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(out)
			t.Fatalf("box-runc %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	run("create", "--bundle", bundle, "--preserve-fds", "1", id)
	e.must("start", id)
	// The exec'd shell writes to the same file: let the program's two
	// lines be written first.
	for deadline := time.Now().Add(runTimeout); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the program wrote no two lines in %v", runTimeout)
		}
	}
	run("exec", "--preserve-fds", "1", id, "sh", "-c", list)
	e.must("delete", "--force", id)
	info, err := w1.Stat()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pipe:[%d]\nnone\n", info.Sys().(*syscall.Stat_t).Ino)
	b, _ := os.ReadFile(out)
	if string(b) != want+want {
		t.Errorf("descriptors 3 and 4 of the program, then of an exec'd shell:\n%s\nwant the preserved pipe at 3 and nothing at 4, twice:\n%s", b, want+want)
	}
}

// TestFinalOCIHookNamespaces checks where hooks run, as the runtime
// specification says: createRuntime in the runtime's namespaces,
// createContainer in the container's (its mount namespace, before
// pivot_root, so the hook's path is the host's), each with the state.
func TestFinalOCIHookNamespaces(t *testing.T) {
	e := newOCI(t)
	dir := t.TempDir()
	hook := func(name string) map[string]any {
		return map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c",
			"readlink /proc/self/ns/mnt > " + dir + "/" + name + ".mnt; readlink /proc/self/ns/uts > " + dir + "/" + name + ".uts; cat > " + dir + "/" + name + ".json"}}
	}
	bundle := ociBundle(t, e, []string{"sleep", "1000"}, func(spec map[string]any) {
		spec["hooks"] = map[string]any{
			"createRuntime":   []any{hook("createRuntime")},
			"createContainer": []any{hook("createContainer")},
		}
	})
	id := "hooks-" + filepath.Base(bundle)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.createWithOutput(bundle, id, "--pid-file", pidFile)
	defer e.must("delete", "--force", id)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	ns := func(who, kind string) string {
		t.Helper()
		if who == "" {
			link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
			if err != nil {
				t.Fatal(err)
			}
			return link
		}
		b, err := os.ReadFile(filepath.Join(dir, who+"."+kind))
		if err != nil {
			t.Fatalf("the %s hook did not run: %v", who, err)
		}
		return strings.TrimSpace(string(b))
	}
	ours, _ := os.Readlink("/proc/self/ns/mnt")
	for _, kind := range []string{"mnt", "uts"} {
		if got, want := ns("createContainer", kind), ns("", kind); got != want {
			t.Errorf("createContainer hook ran in %s, want the container's %s", got, want)
		}
	}
	if got := ns("createRuntime", "mnt"); got != ours || got == ns("", "mnt") {
		t.Errorf("createRuntime hook ran in %s, want the runtime's %s", got, ours)
	}
	for _, point := range []string{"createRuntime", "createContainer"} {
		var st ociState
		b, _ := os.ReadFile(filepath.Join(dir, point+".json"))
		if err := json.Unmarshal(b, &st); err != nil || st.ID != id || st.Pid != pid || st.Bundle != bundle || st.Status != "creating" {
			t.Errorf("%s hook's state %q (%v), want id %s, pid %d, bundle %s, status creating", point, b, err, id, pid, bundle)
		}
	}
}

// userNSBundle is a bundle whose container has a user namespace: root
// inside is host uid and gid 100000, and a seccomp filter of its own.
func userNSBundle(t *testing.T, e *ociEnv, args []string) string {
	t.Helper()
	return ociBundle(t, e, args, func(spec map[string]any) {
		linux := spec["linux"].(map[string]any)
		linux["namespaces"] = append(linux["namespaces"].([]any), map[string]any{"type": "user"})
		m := []any{map[string]any{"containerID": 0, "hostID": 100000, "size": 65536}}
		linux["uidMappings"], linux["gidMappings"] = m, m
		linux["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": []any{map[string]any{"names": []string{"syslog"}, "action": "SCMP_ACT_ERRNO"}}}
	})
}

// procStatus is the lines of /proc/PID/status named in keys, as the host
// reads them.
func procStatus(t *testing.T, pid int, keys ...string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, k := range keys {
			if strings.HasPrefix(line, k+":") {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestFinalOCIExecUserNamespace execs into a container with a user
// namespace (podman's rootful containers have none, so box-runc is driven
// directly): the process must end in every namespace of the container's
// process, its cgroup, with its credentials, capabilities, no_new_privs
// and seccomp filter, as the host reads them.
func TestFinalOCIExecUserNamespace(t *testing.T) {
	e := newOCI(t)
	holdHostMounts(t)
	before := hostMountinfo(t)
	bundle := userNSBundle(t, e, []string{"sleep", "1000"})
	id := "userns-" + filepath.Base(bundle)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.createWithOutput(bundle, id, "--pid-file", pidFile)
	e.must("start", id)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))

	r := e.run("exec", id, "sh", "-c", "cat /proc/self/uid_map; id; exit 7")
	if r.code != 7 || !strings.Contains(r.stdout, "0     100000      65536") || !strings.Contains(r.stdout, "uid=0(root) gid=0(root)") {
		t.Errorf("exec: %s\nwant exit 7, the container's uid map and root inside", r)
	}
	if r := e.run("exec", "--user", "1000:1000", id, "id"); r.code != 0 || strings.TrimSpace(r.stdout) != "uid=1000 gid=1000" {
		t.Errorf("exec --user 1000:1000: %s", r)
	}
	if r := e.run("exec", id, "no-such-program"); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "executable file not found") {
		t.Errorf("exec of a missing program: %s, want one line saying it is not found", r)
	}

	sock, got := consoleSocket(t)
	if r := e.runClosing("exec", "--tty", "--detach", "--console-socket", sock, id, "sh", "-c", "tty; id -u; echo end-of-tty"); r.code != 0 {
		t.Errorf("exec --tty: %s", r)
	} else {
		master := receiveMaster(t, got)
		if text := readTerminal(master, "end-of-tty"); !strings.Contains(text, "/dev/pts/") || !strings.Contains(text, "\n0\nend-of-tty") {
			t.Errorf("exec --tty: the terminal showed %q, want a pts of the container's devpts and uid 0", text)
		}
		master.Close()
	}

	execPid := filepath.Join(t.TempDir(), "exec.pid")
	e.must("exec", "--detach", "--pid-file", execPid, id, "sleep", "1000")
	b, err = os.ReadFile(execPid)
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := strconv.Atoi(string(b))
	if exe := exeOf(t, ep); !strings.HasSuffix(exe, "/busybox") {
		t.Errorf("the exec'd process runs %s, want the rootfs's busybox", exe)
	}
	for _, ns := range []string{"user", "mnt", "pid", "net", "uts", "ipc", "cgroup"} {
		got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", ep, ns))
		want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if got != want || got == "" {
			t.Errorf("the exec'd process's %s namespace is %q, want the container's %q", ns, got, want)
		}
	}
	keys := []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"}
	if got, want := procStatus(t, ep, keys...), procStatus(t, pid, keys...); got != want {
		t.Errorf("the exec'd process has\n%s\nwant the container's process's\n%s", got, want)
	}
	if !strings.Contains(procStatus(t, ep, "Seccomp"), "Seccomp:\t2") || !strings.Contains(procStatus(t, ep, "Uid"), "100000") {
		t.Errorf("the exec'd process: %s, want host uid 100000 and a seccomp filter", procStatus(t, ep, "Uid", "Seccomp"))
	}
	cg := func(p int) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p))
		return string(b)
	}
	if cg(ep) != cg(pid) {
		t.Errorf("the exec'd process's cgroups:\n%s\nwant the container's:\n%s", cg(ep), cg(pid))
	}
	e.must("delete", "--force", id)
	if alive(ep) {
		t.Errorf("the exec'd process %d outlived delete --force", ep)
	}
	ociNothingLeft(t, e, bundle)
	if after := hostMountinfo(t); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// TestFinalOCIJoinUserNamespace creates a container whose config.json
// gives its user namespace by path, another container's: its process must
// be in that user namespace, as its root, in new namespaces of its own.
func TestFinalOCIJoinUserNamespace(t *testing.T) {
	e := newOCI(t)
	holdHostMounts(t)
	before := hostMountinfo(t)
	owner := userNSBundle(t, e, []string{"sleep", "1000"})
	ownerID := "userns-owner-" + filepath.Base(owner)
	ownerPid := filepath.Join(t.TempDir(), "pid")
	e.createWithOutput(owner, ownerID, "--pid-file", ownerPid)
	e.must("start", ownerID)
	b, _ := os.ReadFile(ownerPid)
	p1, _ := strconv.Atoi(string(b))

	bundle := ociBundle(t, e, []string{"sleep", "1000"}, func(spec map[string]any) {
		linux := spec["linux"].(map[string]any)
		linux["namespaces"] = append(linux["namespaces"].([]any), map[string]any{"type": "user", "path": fmt.Sprintf("/proc/%d/ns/user", p1)})
	})
	id := "userns-join-" + filepath.Base(bundle)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.createWithOutput(bundle, id, "--pid-file", pidFile)
	e.must("start", id)
	b, _ = os.ReadFile(pidFile)
	p2, _ := strconv.Atoi(string(b))
	link := func(pid int, ns string) string {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		return l
	}
	if link(p2, "user") != link(p1, "user") || link(p2, "user") == "" {
		t.Errorf("user namespace %q, want the one config.json names, %q", link(p2, "user"), link(p1, "user"))
	}
	ours, _ := os.Readlink("/proc/self/ns/mnt")
	for _, ns := range []string{"mnt", "pid", "net", "uts"} {
		if link(p2, ns) == link(p1, ns) || link(p2, ns) == "" {
			t.Errorf("%s namespace %q, want one of its own", ns, link(p2, ns))
		}
	}
	if link(p2, "mnt") == ours {
		t.Errorf("the container shares our mount namespace")
	}
	if got := procStatus(t, p2, "Uid"); !strings.HasPrefix(got, "Uid:\t100000\t") {
		t.Errorf("%s, want the joined namespace's root, host uid 100000", got)
	}
	if r := e.run("exec", id, "sh", "-c", "id -u; echo $$"); r.code != 0 || r.stdout == "" || strings.Fields(r.stdout)[0] != "0" {
		t.Errorf("exec: %s, want uid 0 inside", r)
	}
	e.must("delete", "--force", id)
	e.must("delete", "--force", ownerID)
	ociNothingLeft(t, e, bundle)
	ociNothingLeft(t, e, owner)
	if after := hostMountinfo(t); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// TestFinalOCIExplainLog drives create, start and delete as podman does
// with --runtime-flag explain-log=FILE: the flag reaches create and start,
// not delete (podman's cleanup leaves runtime flags out), and the
// container's process narrates on what create hands it. The file must
// hold all of it, each command under a line naming it, nothing must go to
// stderr, and strace must agree with every line, the container
// process's included.
func TestFinalOCIExplainLog(t *testing.T) {
	e := newOCI(t)
	strace := requireTool(t, "strace")
	var rootfs string
	bundle := ociBundle(t, e, []string{"true"}, func(spec map[string]any) {
		rootfs = spec["root"].(map[string]any)["path"].(string)
	})
	id := "xlog-" + filepath.Base(bundle)
	log := filepath.Join(t.TempDir(), "explain.txt")
	oci := func(background bool, args ...string) *traced {
		o := traceOptions{roots: []string{bundle, rootfs}, binary: e.bin, background: background, alsoNarration: []string{log}}
		return startTraced(t, strace, finalStep, append([]string{"--root", e.root}, args...), o)
	}
	create := oci(true, "--explain-log", log, "create", "--bundle", bundle, id)
	for deadline := time.Now().Add(runTimeout); e.run("state", id).code != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s was never created", id)
		}
	}
	e.waitStatus(id, "created")
	start := oci(false, "--explain-log", log, "start", id)
	started := start.wait()
	created := create.wait()
	e.waitStatus(id, "stopped")
	del := oci(false, "delete", id)
	rep := sumReports(created, started, del.wait())
	t.Logf("create, start, delete into --explain-log: %d narrated calls, %d traced, %d mismatches", rep.narrated, rep.traced, len(rep.mismatches))
	for _, tr := range []*traced{create, start, del} {
		if b, _ := os.ReadFile(tr.errFile); len(b) > 0 {
			t.Errorf("%s wrote to stderr with --explain-log:\n%s", tr.label, b)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var headers []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "=== ") {
			headers = append(headers, l)
		}
	}
	want := []string{
		"=== box-runc --root " + e.root + " --explain-log " + log + " create --bundle " + bundle + " " + id,
		"=== box-runc --root " + e.root + " --explain-log " + log + " start " + id,
		"=== box-runc --root " + e.root + " delete " + id,
	}
	if diff := cmp.Diff(want, headers); diff != "" {
		t.Errorf("the log's command lines (-want +got):\n%s\nlog:\n%s", diff, text)
	}
	for _, line := range []string{
		"# process: Wait for start: opening the exec fifo for writing blocks until start opens it for reading.", // the container's process
		`  execve("/bin/true", ["true"]`,                   // the container's process, let go by start
		"# state: Remove the container's state directory.", // delete, without the flag
	} {
		if !strings.Contains(text, line) {
			t.Errorf("the log has no line %q:\n%s", line, text)
		}
	}
	// A log that cannot be opened is bad input: one line, nothing made.
	missing := filepath.Join(t.TempDir(), "no-such-dir", "explain.txt")
	r := e.run("--explain-log", missing, "create", "--bundle", bundle, id)
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "--explain-log") {
		t.Errorf("create with --explain-log in a missing directory: %s, want one line naming --explain-log", r)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed create left its state: %v", err)
	}
}
