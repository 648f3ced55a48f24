package main

// phases.go is -phases N: where the time of one box run goes, phase by
// phase, from the kernel's own clock. Each run is traced by perf trace
// (perf-trace(1)), which records a handful of system calls in the kernel
// without stopping the traced threads the way strace's ptrace does (Go's
// runtime signals its threads often, and each signal would stop them under
// strace). A marker call ends each phase: the first mkdir (box's state
// directory), the clone into new namespaces, box-init's execve, its first
// mount, pivot_root, seccomp, the command's execve and exit, the init's
// exit, and the last exit.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// phase is one stretch of a run, ended by a marker system call.
type phase struct {
	name string
	end  func(t *trace) (float64, bool)
}

// phases are box run's, in order; each ends where the next begins.
var phases = []phase{
	{"box starts: Go runtime, package init, command line, image record", func(t *trace) (float64, bool) {
		return t.first(0, "mkdirat", nil)
	}},
	{"box: state, cgroups, overlay mount, up to the clone", func(t *trace) (float64, bool) {
		return t.first(0, "clone", func(e event) bool { return strings.Contains(e.args, "NEWPID") })
	}},
	{"clone, id maps, execve of box-init", func(t *trace) (float64, bool) {
		return t.afterMark("execve", nil)
	}},
	{"box-init starts: Go runtime, package init, spec, host side done", func(t *trace) (float64, bool) {
		return t.afterMark("mount", nil)
	}},
	{"box-init: mounts, /dev, up to pivot_root", func(t *trace) (float64, bool) {
		return t.afterMark("pivot_root", nil)
	}},
	{"box-init: masks, capabilities on every thread, up to seccomp", func(t *trace) (float64, bool) {
		return t.afterMark("seccomp", nil)
	}},
	{"box-init: seccomp filter, fork, up to the command's execve", func(t *trace) (float64, bool) {
		return t.afterMark("execve", nil)
	}},
	{"the command (/bin/true) runs", func(t *trace) (float64, bool) {
		return t.afterMark("exit_group", func(e event) bool { return e.tid == t.lastTid })
	}},
	{"box-init reaps it and exits", func(t *trace) (float64, bool) {
		return t.afterMark("exit_group", func(e event) bool { return e.tid == t.initTid })
	}},
	{"box: unmount, cgroups and state removed, exit", func(t *trace) (float64, bool) {
		return t.last("exit_group")
	}},
}

// markers are the system calls perf trace records.
const markers = "execve,clone,clone3,mkdirat,mount,pivot_root,seccomp,exit_group"

// event is one system call perf trace printed.
type event struct {
	at   float64 // ms since the trace began
	tid  int
	call string
	args string
}

// trace is one run's events, and where the phases reached so far ended.
type trace struct {
	events  []event
	mark    float64 // end of the last phase found
	lastTid int     // tid of the last marker found
	initTid int     // box-init's tid (its execve's)
}

// eventLine is perf trace's line for a call: "  46.965 ( 0.660 ms):
// COMM/TID call(args" (an unfinished call ends in "..."; its later
// "[continued]" line is skipped).
var eventLine = regexp.MustCompile(`^\s*([0-9.]+) \([^)]*\): .*?/(\d+) (\w+)\((.*)$`)

// parseTrace reads perf trace's output.
func parseTrace(r io.Reader) (*trace, error) {
	t := &trace{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		line := s.Text()
		if strings.Contains(line, "[continued]") {
			continue
		}
		m := eventLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		tid, _ := strconv.Atoi(m[2])
		t.events = append(t.events, event{at: at, tid: tid, call: m[3], args: m[4]})
	}
	return t, s.Err()
}

// first is the first call named call at or after from that ok accepts.
func (t *trace) first(from float64, call string, ok func(event) bool) (float64, bool) {
	for _, e := range t.events {
		if e.at >= from && e.call == call && (ok == nil || ok(e)) {
			t.mark, t.lastTid = e.at, e.tid
			return e.at, true
		}
	}
	return 0, false
}

// afterMark is the first such call after the previous phase's end; the
// first execve after the clone is box-init's.
func (t *trace) afterMark(call string, ok func(event) bool) (float64, bool) {
	at, found := t.first(t.mark, call, ok)
	if found && call == "execve" && t.initTid == 0 {
		t.initTid = t.lastTid
	}
	return at, found
}

// last is the time of the last call named call.
func (t *trace) last(call string) (float64, bool) {
	for i := len(t.events) - 1; i >= 0; i-- {
		if t.events[i].call == call {
			return t.events[i].at, true
		}
	}
	return 0, false
}

// durations splits one run into its phases (ms; NaN-free: a phase whose
// marker is missing, as seccomp with --security-opt seccomp=unconfined,
// makes that run unusable and is reported).
func (t *trace) durations() ([]float64, error) {
	d := make([]float64, len(phases))
	prev := 0.0
	for i, p := range phases {
		end, ok := p.end(t)
		if !ok {
			return nil, fmt.Errorf("no marker for phase %q in the trace", p.name)
		}
		d[i] = end - prev
		prev = end
	}
	return d, nil
}

// runPhases traces n runs of each box row with perf trace and prints the
// median of each phase.
func runPhases(env *environment, n int) error {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return errors.New("-phases needs perf (apt-get install -y linux-tools-generic, or your kernel's linux-perf)")
	}
	var names []string
	medians := map[string][]float64{}
	for _, r := range env.runtimes {
		if r.name != "box" && r.name != "box-userns-host" {
			continue
		}
		argv := r.argv(0)[0]
		runs := make([][]float64, len(phases)+1)
		for i := 0; i < n+1; i++ {
			d, err := tracedRun(perf, env.work, argv)
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			if i == 0 {
				continue // warm-up
			}
			total := 0.0
			for j, v := range d {
				runs[j] = append(runs[j], v)
				total += v
			}
			runs[len(phases)] = append(runs[len(phases)], total)
		}
		names = append(names, r.name)
		for _, rs := range runs {
			sort.Float64s(rs)
			medians[r.name] = append(medians[r.name], rs[len(rs)/2])
		}
	}
	if len(names) == 0 {
		return errors.New("-phases traces box and box-userns-host: name one of them in -runtimes")
	}
	fmt.Printf("phases of box run, median of %d runs each under perf trace -e %s (ms; tracing adds a little to each call)\n", n, markers)
	fmt.Printf("%-68s", "phase (ends at)")
	for _, name := range names {
		fmt.Printf(" %16s", name)
	}
	fmt.Println()
	for i := 0; i <= len(phases); i++ {
		label := "total (the phases' medians need not add up to it)"
		if i < len(phases) {
			label = phases[i].name
		}
		fmt.Printf("%-68s", label)
		for _, name := range names {
			fmt.Printf(" %16.2f", medians[name][i])
		}
		fmt.Println()
	}
	fmt.Printf("load average after: %s\n", loadAverage())
	return nil
}

// tracedRun runs argv once under perf trace and splits it into phases.
func tracedRun(perf, work string, argv []string) ([]float64, error) {
	out := filepath.Join(work, "phases.trace")
	args := append([]string{"trace", "-f", "-e", markers, "-o", out, "--"}, argv...)
	cmd := exec.Command(perf, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("perf trace %s: %v (after %v)", strings.Join(argv, " "), err, time.Since(start).Round(time.Millisecond))
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := parseTrace(f)
	if err != nil {
		return nil, err
	}
	return t.durations()
}
