package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runTimeout bounds one run of a binary, so a hung container fails its
// test instead of the whole package; it is not a speed check.
const runTimeout = 60 * time.Second

// result is what one run of a binary gave.
type result struct {
	stdout, stderr string
	code           int // the exit code, or -1 if the binary was killed
}

// String shows a result in a failure message.
func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runOptions are the less common ways to run a binary.
type runOptions struct {
	stdin      string
	credential *syscall.Credential // run as this user instead of root
	extraFiles []*os.File          // open in the binary as fd 3, 4, ... (nil: closed)
}

// run runs step's binary with args and returns its output and exit code.
func run(t testing.TB, step string, args ...string) result {
	t.Helper()
	return runWith(t, step, runOptions{}, args...)
}

// runWith is run with options.
func runWith(t testing.TB, step string, o runOptions, args ...string) result {
	t.Helper()
	bin := binary(t, step)
	release := hostMounts.share(t)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, stepArgs(step, args)...)
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
		t.Fatalf("%s %s: %v", step, strings.Join(args, " "), err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v, killed\n%s", step, strings.Join(args, " "), runTimeout, r)
	}
	return r
}

// runArgs are the arguments of a quiet run of cmd on rootfs, with volumes
// given as -v specs.
func runArgs(rootfs string, volumes []string, cmd ...string) []string {
	args := []string{"--quiet", "run", "--rootfs", rootfs}
	for _, v := range volumes {
		args = append(args, "-v", v)
	}
	args = append(args, "--")
	return append(args, cmd...)
}

// stepArgs adapts a command line written for the steps to step. The final
// runtime's run needs -i to pass stdin on, as docker run does, --rm not to
// keep the container's state after it exits, and --no-init so the command is
// PID 1 as in the steps (final's own tests cover its init); the steps take
// the command line as it is.
func stepArgs(step string, args []string) []string {
	if step != finalStep {
		return args
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "run" {
			out := append(append([]string{}, args[:i+1]...), "-i", "--rm", "--no-init")
			return append(out, args[i+1:]...)
		}
	}
	return args
}

// runIn runs cmd quietly in a container of step on rootfs.
func runIn(t testing.TB, step, rootfs string, cmd ...string) result {
	t.Helper()
	return run(t, step, runArgs(rootfs, nil, cmd...)...)
}

// container is a run of a binary that the test talks to while it runs:
// it writes stdin, reads stdout line by line, signals, then waits.
type container struct {
	step    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	stderr  *lockedBuffer
	release func()
	cancel  context.CancelFunc
	mu      sync.Mutex
	done    bool
	code    int
}

// lockedBuffer is a bytes.Buffer that exec's copying goroutine may write
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startContainer starts step's binary with args and returns at once;
// Cleanup kills it if the test did not wait for it.
func startContainer(t testing.TB, step string, args ...string) *container {
	t.Helper()
	bin := binary(t, step)
	c := &container{step: step, stderr: &lockedBuffer{}}
	c.release = hostMounts.share(t)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	c.cancel = cancel
	c.cmd = exec.CommandContext(ctx, bin, stepArgs(step, args)...)
	c.cmd.WaitDelay = 5 * time.Second
	c.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	c.cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewReader(stdout)
	if err := c.cmd.Start(); err != nil {
		c.release()
		cancel()
		t.Fatalf("start %s: %v", step, err)
	}
	t.Cleanup(func() {
		if !c.exited() {
			_ = c.cmd.Process.Kill()
			c.wait(t)
		}
	})
	return c
}

// pid is the runtime's process id on the host.
func (c *container) pid() int { return c.cmd.Process.Pid }

// waitForLine reads stdout until a line equal to want, which a container
// prints once it is ready; it fails if the container ends first.
func (c *container) waitForLine(t testing.TB, want string) {
	t.Helper()
	for c.readLine(t) != want {
	}
}

// readLine returns the next line of stdout; it fails if the container
// ends first.
func (c *container) readLine(t testing.TB) string {
	t.Helper()
	line, err := c.stdout.ReadString('\n')
	if err != nil {
		code := c.wait(t)
		t.Fatalf("%s ended (exit %d) before printing a line; last output %q; stderr:\n%s", c.step, code, line, c.stderr.String())
	}
	return strings.TrimSuffix(line, "\n")
}

// wait closes stdin, waits for the runtime to end and returns its exit
// code (-1 if a signal killed it). Unread stdout is dropped.
func (c *container) wait(t testing.TB) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.code
	}
	c.stdin.Close()
	err := c.cmd.Wait()
	c.done = true
	c.release()
	c.cancel()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		t.Errorf("wait for %s: %v", c.step, err)
	}
	c.code = c.cmd.ProcessState.ExitCode()
	return c.code
}

func (c *container) exited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// procStat is what /proc/PID/stat says about a process (proc(5)).
type procStat struct {
	comm  string
	state byte // R, S, D, Z (zombie), ...
	ppid  int
}

// readProcStat reads /proc/PID/stat. The command name is in parentheses
// and may hold spaces and parentheses, so the fields after it are found
// from the last ")".
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %q", pid, s)
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 2 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %q", pid, s)
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return procStat{comm: s[open+1 : end], state: rest[0][0], ppid: ppid}, nil
}

// waitForChild is waitForProcess under the name the first feature files use.
func (c *container) waitForChild(t testing.TB, comm string) int {
	t.Helper()
	return c.waitForProcess(t, comm)
}

// waitForProcess polls until a process below the runtime (its child, or
// further down) runs comm, and returns its host pid: the container's
// process once it has exec'd the command. Polling is how one waits for
// another process's exec; the run timeout bounds it.
func (c *container) waitForProcess(t testing.TB, comm string) int {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		for _, pid := range descendantsOf(c.pid()) {
			if st, err := readProcStat(pid); err == nil && st.comm == comm {
				return pid
			}
		}
		if st, err := readProcStat(c.pid()); err != nil || st.state == 'Z' {
			t.Fatalf("%s ended before a process below it ran %s; stderr:\n%s", c.step, comm, c.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: no process below it ran %s after %v", c.step, comm, runTimeout)
	return 0
}

// descendantsOf lists the host pids below pid, nearest first.
func descendantsOf(pid int) []int {
	parent := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(n); err == nil {
			parent[st.ppid] = append(parent[st.ppid], n)
		}
	}
	var found []int
	queue := []int{pid}
	for len(queue) > 0 {
		kids := parent[queue[0]]
		queue = append(queue[1:], kids...)
		found = append(found, kids...)
	}
	return found
}

// alive tells whether pid is a process that has not died (a zombie has).
func alive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// nonEmptyLines splits s into its non-blank lines.
func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
