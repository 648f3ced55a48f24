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
)

var (
	monitorBox    = flag.String("monitor-box", "", "BenchmarkMonitorRSS: the box binary to measure (default: final, as built for the tests)")
	monitorWindow = flag.Duration("monitor-window", 3*time.Second, "BenchmarkMonitorRSS: how long to watch each container write")
)

// BenchmarkMonitorRSS starts detached containers that write as fast as
// they can (yes: big writes; sh echo: one small write per line) or not at
// all (sleep), with a log capped at 1m x 2 so that it rotates all the
// while, and reads the monitor's /proc/PID/status:
//
//   - setup-peak-kB: VmHWM once the container runs, the peak of setting it
//     up (cgroups, overlay, the init), which the monitor does as run does;
//   - copy-peak-kB: VmHWM over the window, after clear_refs reset it
//     (proc(5): writing 5 resets the peak to the current RSS): the most the
//     monitor held while copying;
//   - rss-kB: VmRSS at the end of the window, and anon-kB its private
//     part (RssAnon: heap, stacks, the runtime's own; the rest is pages
//     of the program, shared with every box process);
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
	for _, w := range []struct {
		name string
		cmd  []string
	}{
		{"yes", []string{"yes", "a line of output, written as fast as the container can"}},
		{"echo", []string{"sh", "-c", "while :; do echo a line of output, one write each; done"}},
		{"idle", []string{"sleep", "4781"}},
	} {
		b.Run(w.name, func(b *testing.B) {
			var setup, copyPeak, rss, anon, rate float64
			for i := 0; i < b.N; i++ {
				m := watchMonitor(b, bin, rootfs, capped, w.cmd)
				setup, copyPeak, rss, anon = max(setup, m.setupPeak), max(copyPeak, m.copyPeak), max(rss, m.rss), max(anon, m.anon)
				rate += m.rate / float64(b.N)
			}
			b.ReportMetric(setup, "setup-peak-kB")
			b.ReportMetric(copyPeak, "copy-peak-kB")
			b.ReportMetric(rss, "rss-kB")
			b.ReportMetric(anon, "anon-kB")
			b.ReportMetric(rate, "MB/s")
			b.ReportMetric(0, "ns/op") // the time of an iteration is the window
		})
	}
}

// monitorMemory is what one container's monitor showed.
type monitorMemory struct {
	setupPeak, copyPeak, rss, anon float64 // kB
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
	run := append(append(append([]string{"run", "-d"}, logOpts...), "--rootfs", rootfs), cmd...)
	id := strings.TrimSpace(box(run...))
	defer box("rm", "-f", id)
	b.StopTimer()
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
	pid := strconv.Itoa(st.Supervisor)
	// run -d returns as the monitor lets go of its stderr, just before
	// it gives back what setup took (final/monitor_memory.go; and again a
	// second later): let it.
	time.Sleep(2 * time.Second)
	m := monitorMemory{setupPeak: procStatusKB(b, pid, "VmHWM")}
	if err := os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the monitor's peak RSS: %v", err)
	}
	read0, t0 := procIORead(b, pid), time.Now()
	b.StartTimer()
	time.Sleep(*monitorWindow)
	b.StopTimer()
	m.copyPeak, m.rss, m.anon = procStatusKB(b, pid, "VmHWM"), procStatusKB(b, pid, "VmRSS"), procStatusKB(b, pid, "RssAnon")
	m.rate = float64(procIORead(b, pid)-read0) / time.Since(t0).Seconds() / 1e6
	b.StartTimer()
	return m
}

// procStatusKB reads a "Name:   N kB" line of /proc/PID/status.
func procStatusKB(b *testing.B, pid, name string) float64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		b.Fatalf("the monitor is gone: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("/proc/%s/status: %q: %v", pid, line, err)
			}
			return n
		}
	}
	b.Fatalf("/proc/%s/status has no %s", pid, name)
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
