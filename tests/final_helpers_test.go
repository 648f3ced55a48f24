package tests

// final_helpers_test.go holds what the tests of the final runtime share:
// each test gets its own state directory, so what it finds there (and
// what must be gone from it) is its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// finalEnv is one test's view of the final runtime.
type finalEnv struct {
	t     *testing.T
	state string // --state-dir
}

// newFinal checks that final can be tested here and gives the test a state
// directory of its own.
func newFinal(t *testing.T) *finalEnv {
	t.Helper()
	requireRoot(t)
	if stepIndex(finalStep) < 0 {
		t.Fatal("final/ has no main package")
	}
	binary(t, finalStep)
	return &finalEnv{t: t, state: safeTempDir(t, "final-state-", 0o700)}
}

// args puts the global flags in front of a command line.
func (f *finalEnv) args(args ...string) []string {
	return append([]string{"--state-dir", f.state}, args...)
}

// box runs final with args.
func (f *finalEnv) box(args ...string) result {
	f.t.Helper()
	return f.boxWith(runOptions{}, args...)
}

// boxWith runs final with options, exactly with args: unlike the
// harness's runWith, it adds no -i --rm to run (these tests are about
// what run does without them).
func (f *finalEnv) boxWith(o runOptions, args ...string) result {
	f.t.Helper()
	return rawFinal(f.t, o, f.args(args...)...)
}

// rawFinal runs the final binary with exactly args.
func rawFinal(t testing.TB, o runOptions, args ...string) result {
	t.Helper()
	release := hostMounts.share(t)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, finalStep), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdin = strings.NewReader(o.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = o.extraFiles
	if o.credential != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.credential}
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("final %s: %v", strings.Join(args, " "), err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Fatalf("final %s: still running after %v, killed\n%s", strings.Join(args, " "), runTimeout, r)
	}
	return r
}

// mustBox runs final and fails the test unless it exits 0.
func (f *finalEnv) mustBox(args ...string) result {
	f.t.Helper()
	r := f.box(args...)
	if r.code != 0 {
		f.t.Fatalf("box %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// start starts final with args and returns at once (see startContainer).
func (f *finalEnv) start(args ...string) *container {
	f.t.Helper()
	return startContainer(f.t, finalStep, f.args(args...)...)
}

// detached starts a container with run -d and returns its ID; Cleanup
// removes it.
func (f *finalEnv) detached(runArgs ...string) string {
	f.t.Helper()
	r := f.mustBox(append([]string{"run", "-d"}, runArgs...)...)
	id := strings.TrimSpace(r.stdout)
	if len(id) != 64 {
		f.t.Fatalf("run -d printed %q, want a 64-character ID", r.stdout)
	}
	f.t.Cleanup(func() { f.box("rm", "-f", id) })
	return id
}

// waitForLog waits up to 10 s for a detached container's log to hold want.
func (f *finalEnv) waitForLog(ref, want string) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := f.box("logs", ref)
		if strings.Contains(r.stdout, want) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the log of %s never said %q: %s", ref, want, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finalInspection is the part of inspect's JSON the tests read.
type finalInspection struct {
	ID         string            `json:"Id"`
	Name       string            `json:"Name"`
	Status     string            `json:"Status"`
	Pid        int               `json:"Pid"`
	ExitCode   *int              `json:"ExitCode"`
	Hostname   string            `json:"Hostname"`
	Namespaces map[string]uint64 `json:"Namespaces"`
	Command    []string          `json:"Command"`
	Rootfs     string            `json:"Rootfs"`
	LogPath    string            `json:"LogPath"`
	User       string            `json:"User"`
	Seccomp    string            `json:"Seccomp"`
	Ports      []string          `json:"Ports"`
}

// inspect runs inspect on one container.
func (f *finalEnv) inspect(ref string) finalInspection {
	f.t.Helper()
	r := f.mustBox("inspect", ref)
	var out []finalInspection
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		f.t.Fatalf("inspect %s: %v\n%s", ref, err, r)
	}
	return out[0]
}

// containerDirs lists the container directories in the state dir.
func (f *finalEnv) containerDirs() []string {
	f.t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.state, "containers"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}

// nsInodes reads the namespace inodes of host pid, as inspect reports them.
func nsInodes(t testing.TB, pid int) map[string]uint64 {
	t.Helper()
	inodes := map[string]uint64{}
	for _, name := range []string{"user", "ipc", "uts", "net", "cgroup", "pid", "mnt"} {
		link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + name)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(link[strings.IndexByte(link, '[')+1:len(link)-1], 10, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", link, err)
		}
		inodes[name] = n
	}
	return inodes
}

// processesWithArg lists host pids whose command line holds arg, so a test
// can mark its container's processes (sleep 4711) and look for leftovers.
func processesWithArg(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				if st, err := readProcStat(pid); err == nil && st.state != 'Z' {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// waitGone polls until no live process has arg on its command line: the
// kernel kills a PID namespace's processes asynchronously after its init
// dies. The run timeout bounds the wait; it is not a speed check.
func waitGone(t testing.TB, arg string) {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		if len(processesWithArg(arg)) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("processes with %q still run: %v", arg, processesWithArg(arg))
}

// terminal is a pseudo-terminal the test opens itself, from /dev/ptmx, to
// run final -t as from an interactive shell.
type terminal struct {
	master, slave *os.File
	out           chan string // everything read from the master, in chunks
	seen          strings.Builder
}

// openTerminal opens a pty pair of size rows x cols.
func openTerminal(t testing.TB, rows, cols uint16) *terminal {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open slave: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatalf("set size: %v", err)
	}
	term := &terminal{master: master, slave: slave, out: make(chan string, 64)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				term.out <- string(buf[:n])
			}
			if err != nil {
				close(term.out)
				return
			}
		}
	}()
	t.Cleanup(func() { master.Close(); slave.Close() })
	return term
}

// command makes cmd run on the terminal as its controlling terminal, as a
// shell starts a job: in a new session, the terminal on stdin, stdout,
// stderr.
func (term *terminal) command(cmd *exec.Cmd) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}

// expect reads the terminal until its output holds want, and answers a
// cursor position request (ESC [6n, which busybox's line editor sends)
// as a terminal would.
func (term *terminal) expect(t testing.TB, want string) {
	t.Helper()
	deadline := time.After(runTimeout)
	for !strings.Contains(term.seen.String(), want) {
		select {
		case chunk, ok := <-term.out:
			if !ok {
				t.Fatalf("terminal closed before %q appeared; it showed:\n%s", want, term.seen.String())
			}
			if strings.Contains(chunk, "\x1b[6n") {
				_, _ = term.master.WriteString("\x1b[1;1R")
			}
			term.seen.WriteString(chunk)
		case <-deadline:
			t.Fatalf("%q did not appear on the terminal within %v; it showed:\n%s", want, runTimeout, term.seen.String())
		}
	}
}

// send types s on the terminal.
func (term *terminal) send(t testing.TB, s string) {
	t.Helper()
	if _, err := term.master.WriteString(s); err != nil {
		t.Fatalf("type %q: %v", s, err)
	}
}

// drain reads what is left until the last slave closes.
func (term *terminal) drain() string {
	for chunk := range term.out {
		term.seen.WriteString(chunk)
	}
	return term.seen.String()
}

// jsonUnmarshal is json.Unmarshal, named for the files that need no more.
var jsonUnmarshal = json.Unmarshal
