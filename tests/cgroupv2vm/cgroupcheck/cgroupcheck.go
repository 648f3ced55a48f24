// Package cgroupcheck holds the checks of the cgroups step that run the
// same way on a cgroup v1 host (the tests package, as root) and on cgroup v2
// in a virtual machine (the guest program of cgroupv2vm). Each check runs
// the step's binary, as a learner would, and compares what it printed with
// the kernel's own answers: the exit status, the command's view from inside
// (/proc/self/cgroup, the cgroup files through a read-only volume) and the
// cgroup directories left on the host.
package cgroupcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Env is where the checks run.
type Env struct {
	Bin     string // the step's binary
	Rootfs  string // a rootfs the checks may write to (volumes add /cg)
	Version int    // the host's cgroup version, 1 or 2
	// Logf reports what a check saw, for the test log or the serial console.
	Logf func(format string, args ...any)
}

// Check is one check, by name.
type Check struct {
	Name string
	Run  func(Env) error
}

// Checks are run in this order on both versions.
var Checks = []Check{
	{"placed in its cgroup before the command runs", Placement},
	{"OOM-killed at the memory limit, exit 137", OOMKill},
	{"a child's OOM kill reported as the kernel counted it", ChildOOMKill},
	{"fork loop stops at pids.max", PidsLimit},
	{"busy loop throttled by --cpus", CPUThrottled},
	{"bad values create nothing", BadValues},
	{"killed runtime's cgroup removed by the next run", LeftoverNextRun},
	{"killed runtime's cgroup removed by cleanup", LeftoverCleanup},
}

// runTimeout bounds one run; the virtual machine emulates its CPUs, so it
// is generous. It is not a speed check.
const runTimeout = 120 * time.Second

// Result is what one run of the binary gave.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs the binary with args, narration on and color off.
func (e Env) Run(args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: -1}
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return r, fmt.Errorf("run %s: %w", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("run %s: still running after %v\n%s", strings.Join(args, " "), runTimeout, r)
	}
	return r, nil
}

// runContainer runs CMD in a container with flags, and with the host's
// cgroup tree mounted read-only at /cg so the command can read its own
// cgroup's files. It checks that the cgroup is gone afterwards.
func (e Env) runContainer(flags []string, script string) (Result, error) {
	args := append([]string{"run", "--rootfs", e.Rootfs, "-v", "/sys/fs/cgroup:/cg:ro"}, flags...)
	r, err := e.Run(append(args, "--", "sh", "-c", script)...)
	if err != nil {
		return r, err
	}
	name := CgroupName(r.Stderr)
	if name == "" {
		return r, fmt.Errorf("no mkdir of a box-* cgroup in the narration\n%s", r)
	}
	if left := CgroupDirs(name); len(left) > 0 {
		return r, fmt.Errorf("cgroup %s left behind: %s\n%s", name, strings.Join(left, ", "), r)
	}
	return r, nil
}

// cgroupMkdir matches the narrated mkdir of the container's cgroup.
var cgroupMkdir = regexp.MustCompile(`mkdir\("[^"]*/(box-[0-9a-f]+)", 0755\) = 0`)

// CgroupName is the name of the cgroup a run made, from its narration.
func CgroupName(stderr string) string {
	if m := cgroupMkdir.FindStringSubmatch(stderr); m != nil {
		return m[1]
	}
	return ""
}

// CgroupDirs lists the directories named name in the cgroup tree.
func CgroupDirs(name string) []string {
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == name {
			found = append(found, p)
			return filepath.SkipDir
		}
		if strings.Count(p, "/") > 7 {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// cgroupDir is the shell snippet that sets $d to the container's own
// cgroup directory under /cg for controller, from /proc/self/cgroup.
func (e Env) cgroupDir(controller string) string {
	if e.Version == 2 {
		return `d=/cg$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)`
	}
	return fmt.Sprintf(`d=/cg/%s$(awk -F: '$2 ~ /(^|,)%s(,|$)/ {print $3}' /proc/self/cgroup)`, controller, controller)
}

// catFiles is the shell snippet that prints each file of $d as "==name"
// and its content, for parseCats.
func catFiles(files ...string) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "; echo ==%s; cat $d/%s", f, f)
	}
	return b.String()
}

// parseCats reads the output of catFiles: file name -> content.
func parseCats(stdout string) map[string]string {
	files := map[string]string{}
	name := ""
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "==") {
			name = strings.TrimPrefix(line, "==")
			continue
		}
		if name != "" {
			files[name] = strings.TrimSpace(files[name] + "\n" + line)
		}
	}
	return files
}

// keyed finds the number of key in "key value" lines, or of the whole
// text for key "".
func keyed(text, key string) (int64, bool) {
	if key == "" {
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		return n, err == nil
	}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, err := strconv.ParseInt(f[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// narratedRead matches `  read PATH -> "VALUE"` in the narration.
var narratedRead = regexp.MustCompile(`(?m)^  read (\S+) -> (".*")$`)

// Reads are the control files the runtime read at exit, as it showed them:
// base name -> content.
func Reads(stderr string) map[string]string {
	reads := map[string]string{}
	for _, m := range narratedRead.FindAllStringSubmatch(stderr, -1) {
		if v, err := strconv.Unquote(m[2]); err == nil {
			reads[filepath.Base(m[1])] = v
		}
	}
	return reads
}

// oomKills is the count of OOM kills the runtime read from the kernel at
// exit, as it showed it (memory.events in v2, memory.oom_control in v1).
func (e Env) oomKills(r Result) (int64, error) {
	file := map[int]string{1: "memory.oom_control", 2: "memory.events"}[e.Version]
	text, read := Reads(r.Stderr)[file]
	n, ok := keyed(text, "oom_kill")
	if !read || !ok {
		return 0, fmt.Errorf("the runtime did not show the kernel's oom_kill count in %s\n%s", file, r)
	}
	return n, nil
}

// memoryHog reads 100 MiB from /dev/zero into one buffer, to keep the last
// 100 MiB of its input: real, written memory, more than any limit the
// checks set.
const memoryHog = `tail -c 100m </dev/zero >/dev/null`

// Placement checks that the command finds itself in the container's
// cgroup as soon as it runs, and how it got there: clone3 with
// CLONE_INTO_CGROUP on v2, a write to cgroup.procs before the container
// process is let go on v1.
func Placement(e Env) error {
	r, err := e.runContainer(nil, "cat /proc/self/cgroup")
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("container failed\n%s", r)
	}
	name := CgroupName(r.Stderr)
	placed := 0
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && filepath.Base(parts[2]) == name {
			placed++
		}
	}
	want := 3 // memory, cpu, pids
	if e.Version == 2 {
		want = 1
	}
	if placed < want {
		return fmt.Errorf("the command is in %s in %d hierarchies, want %d:\n%s", name, placed, want, r.Stdout)
	}
	clone3 := strings.Contains(r.Stderr, "clone3({flags=") && strings.Contains(r.Stderr, "CLONE_INTO_CGROUP")
	release := strings.Index(r.Stderr, `write(`)
	procs := strings.Index(r.Stderr, "/cgroup.procs <- ")
	switch {
	case e.Version == 2 && !clone3:
		return fmt.Errorf("v2: the container process was not started with clone3 CLONE_INTO_CGROUP\n%s", r)
	case e.Version == 2 && procs >= 0:
		return fmt.Errorf("v2: a pid was written to cgroup.procs, though clone3 placed the process\n%s", r)
	case e.Version == 1 && (procs < 0 || release < 0 || procs > release):
		return fmt.Errorf("v1: the pid was not written to cgroup.procs before the container was let go\n%s", r)
	}
	e.Logf("the command's /proc/self/cgroup names %s in %d hierarchies (clone3: %v)", name, placed, clone3)
	return nil
}

// OOMKill fills memory past -m in the container's first process: the
// kernel kills it with SIGKILL, the runtime exits 137 and says why in one
// line, from the kernel's count of kills, which it shows.
func OOMKill(e Env) error {
	r, err := e.runContainer([]string{"-m", "32m"}, "exec "+memoryHog)
	if err != nil {
		return err
	}
	if r.Code != 137 {
		return fmt.Errorf("exit %d, want 137 (SIGKILL by the OOM killer)\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stderr, "the container reached its memory limit of 32m") {
		return fmt.Errorf("no line saying the memory limit was reached\n%s", r)
	}
	kills, err := e.oomKills(r)
	if err != nil {
		return err
	}
	if kills != 1 || !strings.Contains(r.Stderr, "killed 1 process(es), so it exits 137") {
		return fmt.Errorf("the kernel counted %d OOM kills; want 1, and the runtime saying so\n%s", kills, r)
	}
	e.Logf("exit 137; oom_kill %d", kills)
	return nil
}

// ChildOOMKill lets a child of the command be OOM-killed, then has the
// command read its cgroup's count of kills itself: the container exits 0,
// and the runtime must show the same count and say that it killed.
func ChildOOMKill(e Env) error {
	file := map[int]string{1: "memory.oom_control", 2: "memory.events"}[e.Version]
	script := e.cgroupDir("memory") + "; " + memoryHog + " 2>/dev/null" + catFiles(file)
	r, err := e.runContainer([]string{"-m", "32m"}, script)
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("container failed\n%s", r)
	}
	inside, ok := keyed(parseCats(r.Stdout)[file], "oom_kill")
	kills, err := e.oomKills(r)
	switch {
	case err != nil:
		return err
	case !ok || inside != 1 || kills != inside:
		return fmt.Errorf("the command read oom_kill %d (found: %v) from %s, the runtime %d; want 1 both\n%s", inside, ok, file, kills, r)
	case !strings.Contains(r.Stderr, "killed 1 process(es)\n"):
		return fmt.Errorf("the runtime did not say that the OOM killer killed\n%s", r)
	}
	e.Logf("the command and the runtime read oom_kill %d", kills)
	return nil
}

// PidsLimit starts a fork loop under --pids-limit 10: forks fail with
// EAGAIN at the limit.
func PidsLimit(e Env) error {
	script := `n=0; while [ $n -lt 40 ]; do sleep 5 & n=$((n+1)); done; echo started $n`
	r, err := e.runContainer([]string{"--pids-limit", "10"}, script)
	if err != nil {
		return err
	}
	if r.Code == 0 || strings.Contains(r.Stdout, "started 40") || !strings.Contains(r.Stderr, "can't fork") {
		return fmt.Errorf("the fork loop was not stopped (want: sh: can't fork: Resource temporarily unavailable)\n%s", r)
	}
	if !strings.Contains(r.Stderr, `pids.max <- "10" = 0`) {
		return fmt.Errorf("pids.max was not set to 10\n%s", r)
	}
	e.Logf("fork loop stopped: %s", strings.TrimSpace(lastLine(r.Stderr, "can't fork")))
	return nil
}

// CPUThrottled runs a busy loop for a second under --cpus 0.1: the
// kernel throttles it, which the command sees in its cpu.stat.
func CPUThrottled(e Env) error {
	script := e.cgroupDir("cpu") + `; timeout 1 sh -c 'while :; do :; done'` + catFiles("cpu.stat")
	r, err := e.runContainer([]string{"--cpus", "0.1"}, script)
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("container failed\n%s", r)
	}
	want := "10000 100000"
	if e.Version == 1 {
		want = "10000"
	}
	if !strings.Contains(r.Stderr, fmt.Sprintf("<- %q = 0", want)) {
		return fmt.Errorf("the CPU quota %q was not written\n%s", want, r)
	}
	inside, ok := keyed(parseCats(r.Stdout)["cpu.stat"], "nr_throttled")
	if !ok || inside < 1 {
		return fmt.Errorf("the command's cpu.stat shows no throttling\n%s", r)
	}
	e.Logf("nr_throttled %d inside", inside)
	return nil
}

// BadValues gives each resource flag a bad value: the runtime fails with
// one line of error and makes no cgroup. It runs each twice: quiet, to
// count the lines, and narrating, to see that nothing was made (counting
// the cgroups on the host would count other users' containers too).
func BadValues(e Env) error {
	bad := [][]string{
		{"-m", "lots"}, {"-m", "1k"}, {"--cpus", "0"}, {"--cpus", "many"},
		{"--cpu-weight", "0x"}, {"--cpu-weight", "20000"}, {"--pids-limit", "-7"}, {"--pids-limit", "2"},
	}
	for _, flags := range bad {
		args := append(append([]string{"run", "--rootfs", e.Rootfs}, flags...), "--", "true")
		quiet, err := e.Run(append([]string{"--quiet"}, args...)...)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(quiet.Stderr), "\n")
		if quiet.Code == 0 || len(lines) != 1 {
			return fmt.Errorf("%v: want a failure with one line of error\n%s", flags, quiet)
		}
		narrated, err := e.Run(args...)
		if err != nil {
			return err
		}
		if narrated.Code == 0 || strings.Contains(narrated.Stderr, "mkdir(") || strings.Contains(narrated.Stderr, " <- ") {
			return fmt.Errorf("%v: the runtime made or changed a cgroup\n%s", flags, narrated)
		}
		e.Logf("%v: exit %d: %s", flags, quiet.Code, lines[0])
	}
	return nil
}

// LeftoverNextRun kills a runtime with SIGKILL, which leaves its cgroup
// behind; the next run removes it. On a shared host another user's run
// may remove it first, which is the same code at work: each directory
// must be gone, and removed by our run unless it was gone before.
func LeftoverNextRun(e Env) error {
	dirs, err := e.leaveCgroup()
	if err != nil {
		return err
	}
	var there []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			there = append(there, d)
		}
	}
	r, err := e.runContainer(nil, "true")
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			return fmt.Errorf("%s is still there after the next run\n%s", d, r)
		}
	}
	for _, d := range there {
		if !strings.Contains(r.Stderr, fmt.Sprintf("rmdir(%q) = 0", d)) {
			return fmt.Errorf("the next run did not remove %s\n%s", d, r)
		}
	}
	e.Logf("the next run removed %s", strings.Join(there, ", "))
	return nil
}

// LeftoverCleanup is LeftoverNextRun with the cleanup command.
func LeftoverCleanup(e Env) error {
	dirs, err := e.leaveCgroup()
	if err != nil {
		return err
	}
	var there []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			there = append(there, d)
		}
	}
	r, err := e.Run("cleanup")
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("cleanup failed\n%s", r)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			return fmt.Errorf("%s is still there after cleanup\n%s", d, r)
		}
	}
	for _, d := range there {
		if !strings.Contains(r.Stdout, "removed "+d+"\n") {
			return fmt.Errorf("cleanup did not remove %s\n%s", d, r)
		}
	}
	e.Logf("cleanup: %s", strings.TrimSpace(r.Stdout))
	return nil
}

// leaveCgroup starts a container, kills its runtime with SIGKILL once the
// command runs, and returns the cgroup directories it left, once the
// kernel has killed the container (its first process has PR_SET_PDEATHSIG).
func (e Env) leaveCgroup() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Bin, "run", "--rootfs", e.Rootfs, "--", "sleep", "60")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var narration strings.Builder
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		narration.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), `execve("/bin/sleep"`) {
			break
		}
	}
	name := CgroupName(narration.String())
	_ = cmd.Process.Signal(syscall.SIGKILL)
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	_ = cmd.Wait()
	if name == "" {
		return nil, fmt.Errorf("the runtime made no cgroup before it ran the command:\n%s", narration.String())
	}
	dirs := CgroupDirs(name)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("the killed runtime left no cgroup %s: nothing to clean up", name)
	}
	for _, d := range dirs {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err == nil && len(strings.TrimSpace(string(procs))) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s still has processes after its runtime was killed: %s\nrun's narration:\n%s", d, describe(string(procs)), narration.String())
			}
		}
	}
	e.Logf("SIGKILL of the runtime left %s", strings.Join(dirs, ", "))
	return dirs, nil
}

// lastLine is the last line of s that contains sub.
func lastLine(s, sub string) string {
	found := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			found = l
		}
	}
	return found
}

// describe shows the processes of a cgroup.procs, for a failure message.
func describe(procs string) string {
	var b strings.Builder
	for _, pid := range strings.Fields(procs) {
		status, _ := os.ReadFile("/proc/" + pid + "/status")
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		fmt.Fprintf(&b, "\npid %s %q:\n%s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "), status)
	}
	return b.String()
}
