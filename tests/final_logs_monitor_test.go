package tests

// final_logs_monitor_test.go measures what a detached container's monitor
// holds in memory while it copies the container's output to the log: a
// benchmark, never a pass/fail check (bench/README.md has the numbers).

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	monitorBox    = flag.String("monitor-box", "", "BenchmarkMonitorRSS: the box binary to measure (default: final, as built for the tests)")
	monitorWindow = flag.Duration("monitor-window", 3*time.Second, "BenchmarkMonitorRSS: how long to watch each container write")
)

// BenchmarkMonitorRSS starts detached containers that write as fast as
// they can (yes: big writes; sh echo: one small write per line) or not at
// all (sleep), with a log capped at 1m x 2 so that it rotates all the
// while, and reads the monitor's /proc/PID/status and smaps_rollup:
//
//   - setup-peak-kB: the peak of setting the container up (cgroups,
//     overlay, the init), which the monitor does as run does: VmHWM,
//     read every 200 microseconds from its start until it execve()s
//     box-monitor (so short by what the last interval faulted in, if
//     anything; life-peak-kB is exact) or, for a monitor that stays box,
//     until a second after run returned;
//   - copy-peak-kB: VmHWM over the window, after clear_refs reset it
//     (proc(5): writing 5 resets the peak to the current RSS): the most the
//     monitor held while copying;
//   - rss-kB: VmRSS at the end of the window, and anon-kB its private
//     part (RssAnon: heap, stacks, the runtime's own; the rest is pages
//     of the program, shared with every process of the same program);
//     pss-kB and uss-kB (Private_Clean + Private_Dirty) from
//     smaps_rollup, which count a page shared with other processes once
//     across them, and not at all;
//   - life-peak-kB: the most the monitor ever held, setup, copy and its
//     exit's cleanup, whatever program it was at the time: the maxrss
//     wait4 reports (the kernel keeps the peak of each program across
//     execve), waited for as the subreaper the monitor is left to, or
//     setup-peak-kB if larger (clear_refs reset the peak of the program
//     that ran then);
//   - MB/s: the output the monitor read (rchar of /proc/PID/io).
//
// Each metric is the largest of the iterations (MB/s the mean).
//
//	sudo go test ./tests -run '^$' -bench MonitorRSS -benchtime 3x
//	sudo go test ./tests -run '^$' -bench MonitorRSS -monitor-box /tmp/box-old
func BenchmarkMonitorRSS(b *testing.B) {
	requireRoot(b)
	bin := *monitorBox
	if bin == "" {
		bin = binary(b, finalStep)
	}
	rootfs := sharedRootfs(b)
	// A box from before --log-opt (to compare) writes one log, uncapped.
	capped := []string{"--log-opt", "max-size=1m", "--log-opt", "max-file=2"}
	if help, _ := exec.Command(bin, "run", "--help").CombinedOutput(); !bytes.Contains(help, []byte("--log-opt")) {
		capped = nil
	}
	// Left alone when run returns, each monitor comes to us, so that we
	// can wait for it and read its peak.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		b.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	for _, w := range []struct {
		name string
		cmd  []string
	}{
		{"yes", []string{"yes", "a line of output, written as fast as the container can"}},
		{"echo", []string{"sh", "-c", "while :; do echo a line of output, one write each; done"}},
		{"idle", []string{"sleep", "4781"}},
	} {
		b.Run(w.name, func(b *testing.B) {
			var m monitorMemory
			for i := 0; i < b.N; i++ {
				one := watchMonitor(b, bin, rootfs, capped, w.cmd)
				m.setupPeak, m.copyPeak, m.rss, m.anon = max(m.setupPeak, one.setupPeak), max(m.copyPeak, one.copyPeak), max(m.rss, one.rss), max(m.anon, one.anon)
				m.pss, m.uss, m.lifePeak = max(m.pss, one.pss), max(m.uss, one.uss), max(m.lifePeak, one.lifePeak)
				m.rate += one.rate / float64(b.N)
			}
			b.ReportMetric(m.setupPeak, "setup-peak-kB")
			b.ReportMetric(m.copyPeak, "copy-peak-kB")
			b.ReportMetric(m.rss, "rss-kB")
			b.ReportMetric(m.anon, "anon-kB")
			b.ReportMetric(m.pss, "pss-kB")
			b.ReportMetric(m.uss, "uss-kB")
			b.ReportMetric(m.lifePeak, "life-peak-kB")
			b.ReportMetric(m.rate, "MB/s")
			b.ReportMetric(0, "ns/op") // the time of an iteration is the window
		})
	}
}

// monitorMemory is what one container's monitor showed.
type monitorMemory struct {
	setupPeak, copyPeak, rss, anon float64 // kB
	pss, uss, lifePeak             float64 // kB
	rate                           float64 // MB/s read from the container
}

// watchMonitor runs cmd detached with bin and the log options logOpts,
// and watches its monitor for -monitor-window.
func watchMonitor(b *testing.B, bin, rootfs string, logOpts, cmd []string) monitorMemory {
	b.Helper()
	stateDir := safeTempDir(b, "monitor-rss-", 0o700)
	box := func(args ...string) string {
		b.Helper()
		release := hostMounts.share(b)
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		c := exec.CommandContext(ctx, bin, append([]string{"--state-dir", stateDir}, args...)...)
		c.Env = append(os.Environ(), "NO_COLOR=1")
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Run(); err != nil {
			b.Fatalf("box %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	b.StopTimer()
	// run -d, watching its monitor's peak as it sets the container up.
	release := hostMounts.share(b)
	run := exec.Command(bin, append(append(append([]string{"--state-dir", stateDir, "run", "-d"}, logOpts...), "--rootfs", rootfs), cmd...)...)
	run.Env = append(os.Environ(), "NO_COLOR=1")
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		release()
		b.Fatalf("box run -d: %v", err)
	}
	monitor, setupPeak := watchSetup(run.Process.Pid, bin)
	err := run.Wait()
	release()
	if err != nil {
		b.Fatalf("box run -d: %v\n%s", err, out.String())
	}
	id := strings.TrimSpace(out.String())
	removed := false
	defer func() {
		if !removed {
			box("rm", "-f", id)
		}
	}()
	pid := strconv.Itoa(monitorPid(b, stateDir, id))
	if monitor != 0 && strconv.Itoa(monitor) != pid {
		b.Fatalf("watched pid %d as the monitor, but state.json says %s", monitor, pid)
	}
	// run -d returns as the monitor lets go of its stderr, just before it
	// becomes box-monitor (or, staying box, gives back what setup took,
	// and again a second later): let it.
	time.Sleep(2 * time.Second)
	if monitor == 0 { // never seen: its own peak, whatever program it is now
		b.Logf("never saw the monitor set up: setup-peak-kB is its VmHWM now")
		setupPeak = procStatusKB(b, pid, "VmHWM")
	}
	m := monitorMemory{setupPeak: setupPeak}
	if err := os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the monitor's peak RSS: %v", err)
	}
	read0, t0 := procIORead(b, pid), time.Now()
	b.StartTimer()
	time.Sleep(*monitorWindow)
	b.StopTimer()
	m.copyPeak, m.rss, m.anon = procStatusKB(b, pid, "VmHWM"), procStatusKB(b, pid, "VmRSS"), procStatusKB(b, pid, "RssAnon")
	m.pss, m.uss = smapsRollupKB(b, pid, "Pss"), smapsRollupKB(b, pid, "Private_Clean")+smapsRollupKB(b, pid, "Private_Dirty")
	m.rate = float64(procIORead(b, pid)-read0) / time.Since(t0).Seconds() / 1e6
	box("rm", "-f", id)
	removed = true
	// clear_refs reset the peak of the program running then: the kernel's
	// maxrss has the peaks of the programs before it, not its own before
	// the reset, which setup-peak-kB is for a monitor that stays box.
	m.lifePeak = max(reapMonitor(b, pid), m.setupPeak)
	b.StartTimer()
	return m
}

// watchSetup finds the monitor run starts (run's child) and reads its
// VmHWM until it execve()s another program than bin (box-monitor), or
// exits, or a second after run has returned (a monitor that stays box);
// it returns 0 if it never saw it.
func watchSetup(run int, bin string) (monitor int, peakKB float64) {
	exe, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return 0, 0
	}
	var runGone time.Time
	for deadline := time.Now().Add(runTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		if runGone.IsZero() {
			// A zombie until we wait for it: state Z.
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", run)); err != nil || strings.Contains(string(stat), ") Z ") {
				runGone = time.Now()
			}
		} else if time.Since(runGone) > time.Second {
			return monitor, peakKB
		}
		if monitor == 0 {
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", run))
			// run's child with "monitor" in its command line: Go may fork
			// a child of its own first (os probes for pidfd support).
			for _, task := range tasks {
				children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", run, task.Name()))
				for _, child := range strings.Fields(string(children)) {
					cmdline, _ := os.ReadFile("/proc/" + child + "/cmdline")
					if bytes.Contains(cmdline, []byte("\x00monitor\x00")) {
						monitor, _ = strconv.Atoi(child)
					}
				}
			}
			if monitor == 0 && !runGone.IsZero() {
				return 0, 0
			}
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", monitor))
		now, lerr := os.Readlink(fmt.Sprintf("/proc/%d/exe", monitor))
		if err != nil || lerr != nil || now != exe {
			return monitor, peakKB
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				peakKB = max(peakKB, n)
			}
		}
	}
	return monitor, peakKB
}

// monitorPid reads the monitor's pid from the container's state.json.
func monitorPid(b *testing.B, stateDir, id string) int {
	b.Helper()
	var st struct {
		Supervisor int `json:"supervisor"`
	}
	raw, err := os.ReadFile(filepath.Join(stateDir, "containers", id, "state.json"))
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil || st.Supervisor == 0 {
		b.Fatalf("the monitor's pid: %v (state.json %q)", err, raw)
	}
	return st.Supervisor
}

// reapMonitor waits for the monitor, ours as the subreaper, once rm has
// ended its container, and returns the most it ever held (kB).
func reapMonitor(b *testing.B, pid string) float64 {
	b.Helper()
	n, _ := strconv.Atoi(pid)
	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err := unix.Wait4(n, &ws, 0, &ru)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			b.Fatalf("wait for the monitor %s: %v", pid, err)
		}
		return float64(ru.Maxrss) // kB on Linux
	}
}

// smapsRollupKB reads a "Name:   N kB" line of /proc/PID/smaps_rollup.
func smapsRollupKB(b *testing.B, pid, name string) float64 {
	b.Helper()
	return procFileKB(b, pid, "smaps_rollup", name)
}

// procStatusKB reads a "Name:   N kB" line of /proc/PID/status.
func procStatusKB(b *testing.B, pid, name string) float64 {
	b.Helper()
	return procFileKB(b, pid, "status", name)
}

// procFileKB reads a "Name:   N kB" line of /proc/PID/file.
func procFileKB(b *testing.B, pid, file, name string) float64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + pid + "/" + file)
	if err != nil {
		b.Fatalf("the monitor is gone: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("/proc/%s/%s: %q: %v", pid, file, line, err)
			}
			return n
		}
	}
	b.Fatalf("/proc/%s/%s has no %s", pid, file, name)
	return 0
}

// procIORead is rchar of /proc/PID/io: the bytes the process has read.
func procIORead(b *testing.B, pid string) int64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		b.Fatalf("the monitor is gone: %v", err)
	}
	var n int64
	if _, err := fmt.Sscanf(string(raw), "rchar: %d", &n); err != nil {
		b.Fatalf("/proc/%s/io: %v", pid, err)
	}
	return n
}
