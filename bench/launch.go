package main

// launch.go asks a launcher (bench/launcher, a small program of its own;
// its doc comment says why) to start one runtime invocation at a time,
// and reads back its measurement: the wall time from fork to wait4, and
// from wait4's rusage the CPU time and the peak RSS of the process tree
// the runtime reaped.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is one measured invocation.
type sample struct {
	wall   time.Duration
	cpu    time.Duration // user + system, of the runtime and what it reaped
	maxRSS int64         // KiB: the largest RSS of one process in the tree
}

// mode is one way of calling the runtimes: back to back, or with an idle
// gap before each call (caches cool, RCU grace periods are not shared).
type mode struct {
	name string
	gap  time.Duration
}

// runtimeUnderTest is one runtime and the launcher that starts it.
type runtimeUnderTest struct {
	name string
	// argv is the i-th invocation: one command, or several in a row (an
	// OCI runtime's create, start and delete), measured as one.
	argv     func(i int) [][]string
	layers   int    // for the layer-count rows: the image's layers
	stderr   string // file holding the runtime's stderr, for failures
	launcher *exec.Cmd
	requests io.WriteCloser
	replies  *bufio.Reader
	calls    int
}

// newRuntime starts the launcher of a runtime. With maskCgroup2 the
// launcher gets a mount namespace of its own in which the cgroup2 mount
// lists no controllers (see crunNeedsMask); the runtime inherits it, and
// nothing else sees it.
func newRuntime(name, work, launcher string, maskCgroup2 bool, argv func(int) [][]string) (*runtimeUnderTest, error) {
	stderrFile := filepath.Join(work, name+".stderr")
	stderr, err := os.Create(stderrFile)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	cmd := exec.Command(launcher)
	cmd.Env = []string{}
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{devNull, stderr} // its fds 3 and 4
	if maskCgroup2 {
		cmd.Args = append(cmd.Args, "mask-cgroup2")
		// Go's child makes / private (MS_REC|MS_PRIVATE) right after
		// unshare, so the launcher's bind stays in its namespace.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	}
	requests, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	replies, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the launcher of %s: %w", name, err)
	}
	return &runtimeUnderTest{name: name, argv: argv, stderr: stderrFile, launcher: cmd,
		requests: requests, replies: bufio.NewReader(replies)}, nil
}

// run runs the runtime once, through its launcher.
func (r *runtimeUnderTest) run() (sample, error) {
	argv := r.argv(r.calls)
	r.calls++
	return r.launch(argv)
}

// launch asks the launcher to run the commands in a row and reads its
// measurement of them all.
func (r *runtimeUnderTest) launch(commands [][]string) (sample, error) {
	joined := make([]string, len(commands))
	for i, argv := range commands {
		joined[i] = strings.Join(argv, "\x00")
	}
	if _, err := io.WriteString(r.requests, strings.Join(joined, "\x01")+"\n"); err != nil {
		return sample{}, fmt.Errorf("the launcher of %s: %w", r.name, err)
	}
	line, err := r.replies.ReadString('\n')
	if err != nil {
		return sample{}, fmt.Errorf("the launcher of %s stopped: %w", r.name, err)
	}
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "ok" {
		return sample{}, fmt.Errorf("%s: %s", commandLine(commands), strings.TrimSpace(line))
	}
	var n [4]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return sample{}, fmt.Errorf("the launcher of %s said %q", r.name, line)
		}
	}
	if n[3] != 0 {
		return sample{}, fmt.Errorf("%s failed (%s); its stderr ends with:\n%s",
			commandLine(commands), describe(syscall.WaitStatus(n[3])), tail(r.stderr))
	}
	return sample{wall: time.Duration(n[0]), cpu: time.Duration(n[1]), maxRSS: n[2]}, nil
}

// check runs the runtime once, unmeasured, to fail early and clearly.
func (r *runtimeUnderTest) check() error {
	if _, err := r.run(); err != nil {
		return fmt.Errorf("%s does not run /bin/true: %w", r.name, err)
	}
	return nil
}

// rssFloor is the peak RSS a process started by this launcher shows at
// least: that of /bin/true, which itself needs almost nothing.
func (r *runtimeUnderTest) rssFloor() (int64, error) {
	s, err := r.launch([][]string{{"/bin/true"}})
	return s.maxRSS, err
}

// close ends the launcher: it exits when its stdin closes.
func (r *runtimeUnderTest) close() {
	if r.requests != nil {
		r.requests.Close()
		_ = r.launcher.Wait()
		r.requests = nil
	}
}

// measure runs every runtime n times in mode m, after warm-up rounds.
//
// Back to back, each runtime runs in blocks of its own (-block runs, after
// one unmeasured run), so that what a run finds warm in the kernel is
// what its own previous run left: above all the RCU state that makes a
// write to a v1 cgroup.procs cheap when another came just before (and
// costs a grace period, ~10 ms, when none did). Interleaved, one
// runtime's writes would pay for the next runtime's. The blocks take
// turns, so load on the machine falls on all runtimes alike.
//
// With a gap, the runtimes take turns run by run: after the idle gap,
// nothing of the previous run is warm anyway.
func measure(rs []*runtimeUnderTest, m mode, o options) (map[string][]sample, error) {
	samples := map[string][]sample{}
	record := func(r *runtimeUnderTest, measured bool) error {
		if m.gap > 0 {
			time.Sleep(m.gap)
		}
		s, err := r.run()
		if err != nil {
			return fmt.Errorf("%s, %s: %w", m.name, r.name, err)
		}
		if !measured {
			return nil
		}
		samples[r.name] = append(samples[r.name], s)
		if o.verbose {
			fmt.Printf("%s\t%s\t%d\t%.2f ms\t%.2f ms cpu\t%d KiB\n", m.name, r.name, len(samples[r.name]), ms(s.wall), ms(s.cpu), s.maxRSS)
		}
		return nil
	}
	for round := 0; round < o.warmup; round++ {
		for _, r := range rs {
			if err := record(r, false); err != nil {
				return nil, err
			}
		}
	}
	if m.gap > 0 {
		for round := 0; round < o.n; round++ {
			for k := range rs {
				if err := record(rs[(k+round)%len(rs)], true); err != nil {
					return nil, err
				}
			}
		}
		return samples, nil
	}
	for done, turn := 0, 0; done < o.n; done, turn = done+o.block, turn+1 {
		size := o.block
		if o.n-done < size {
			size = o.n - done
		}
		for k := range rs {
			r := rs[(k+turn)%len(rs)]
			if err := record(r, false); err != nil {
				return nil, err
			}
			for i := 0; i < size; i++ {
				if err := record(r, true); err != nil {
					return nil, err
				}
			}
		}
	}
	return samples, nil
}

// commandLine shows commands run in a row as a shell would.
func commandLine(commands [][]string) string {
	lines := make([]string, len(commands))
	for i, argv := range commands {
		lines[i] = strings.Join(argv, " ")
	}
	return strings.Join(lines, " && ")
}

// describe says how a process ended.
func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// tail is the last lines of a file, for an error message.
func tail(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 2048
	if info, err := f.Stat(); err == nil && info.Size() > max {
		_, _ = f.Seek(info.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}
