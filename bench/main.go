// Command bench measures how fast box starts a container, next to runc and
// crun: each runs /bin/true in a new container on the same busybox root
// filesystem, N times back to back and N times after an idle gap, and the
// table shows the median and 90th percentile wall time, the ratio of
// medians to crun's, the CPU time and the peak resident set size.
//
// It is a command, not a test: timings belong in no pass/fail check, and
// nothing here runs under go test. Run it as root from the module root:
//
//	sudo go run ./bench                  # 50 runs per runtime and mode
//	sudo go run ./bench -n 200 -gap 100ms
//
// Back to back, each runtime runs in blocks of its own, and the blocks
// take turns; with the gap, the runtimes take turns run by run. Either
// way a burst of load on the machine lands on all of them alike. Each
// invocation is timed from fork to wait4, and wait4's rusage gives the
// peak RSS (ru_maxrss) of the runtime's process tree: the runtime and
// every descendant it reaped.
// See bench/README.md for what it prints and numbers from this machine.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	n        int
	warmup   int
	block    int
	gap      time.Duration
	box      string
	rootfs   string
	runtimes string
	engines  string
	boxRunc  string
	layers   string
	svg      string
	state    string
	keep     bool
	verbose  bool
	phases   int
	compare  string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 50, "measured runs per runtime and mode")
	flag.IntVar(&o.warmup, "warmup", 3, "unmeasured runs per runtime before each mode")
	flag.IntVar(&o.block, "block", 10, "back to back: runs of one runtime in a row, before the next runtime's turn")
	flag.DurationVar(&o.gap, "gap", 100*time.Millisecond, "idle time before each run of the gap mode")
	flag.StringVar(&o.box, "box", "", "box binary to measure, with box-init next to it (default: build ./final, ./final/cmd/box-init and ./final/cmd/box-runc)")
	flag.StringVar(&o.rootfs, "rootfs", "", "busybox root filesystem to use (default: build one with a step's rootfs build)")
	flag.StringVar(&o.runtimes, "runtimes", "box,box-userns-host,box-as-crun,crun,runc,crun-oci,runc-oci,box-runc", "runtimes to compare, comma-separated (crun is the reference; NAME-oci: create, start, delete; box-as-crun: box run asked for what crun's bundle asks for)")
	flag.StringVar(&o.engines, "engines", "", "container engines to measure box under, against crun: podman (rows podman-box and podman-crun; off by default, slow)")
	flag.StringVar(&o.boxRunc, "box-runc", "", "box's runc command line to measure (default: box-runc next to the box measured, or that box under the name box-runc)")
	flag.StringVar(&o.layers, "layers", "1,2,4,8,16,32,64", "image layer counts to measure box run on, back to back (empty: none)")
	flag.StringVar(&o.svg, "svg", "docs/bench.svg", "where to write the plot, relative to the module root (empty: nowhere)")
	flag.StringVar(&o.state, "state", "tmpfs", "where the runtimes keep their state: tmpfs (as /run is on most systems) or disk (the work directory's filesystem)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (bundle, image store, stderr logs)")
	flag.BoolVar(&o.verbose, "v", false, "print each sample")
	flag.IntVar(&o.phases, "phases", 0, "instead of timing, trace N runs of the box rows with perf trace and print the median of each phase")
	flag.StringVar(&o.compare, "compare", "", "instead of the table: measure the box rows of -runtimes with -box (A) and with this box build (B, box-init next to it) in -n pairs, and print the differences within pairs")
	flag.Parse()
	if os.Getenv(privateEnv) == "" {
		os.Exit(runPrivate())
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run prepares the runtimes, measures them and prints the table.
func run(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (namespaces, mounts, cgroups): sudo go run ./bench")
	}
	if o.n < 1 || o.warmup < 0 || o.block < 1 {
		return errors.New("-n and -block must be at least 1, and -warmup at least 0")
	}
	if o.state != "tmpfs" && o.state != "disk" {
		return fmt.Errorf("-state %q: want tmpfs or disk", o.state)
	}
	if o.compare != "" {
		// Only box's rows, and nothing else to prepare.
		var rows []string
		for _, name := range strings.Split(o.runtimes, ",") {
			if compareRows[name] {
				rows = append(rows, name)
			}
		}
		if len(rows) == 0 {
			return errors.New("-compare measures box's rows: name box, box-userns-host, box-no-init or box-as-crun in -runtimes")
		}
		o.runtimes, o.layers, o.engines, o.svg = strings.Join(rows, ","), "", "", ""
	}
	work, err := os.MkdirTemp("", "box-bench-")
	if err != nil {
		return err
	}
	// MkdirTemp makes 0700; the user namespace's root (uid 100000) must
	// reach the root filesystem below it.
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("work directory: %s (kept)\n", work)
	} else {
		defer removeWork(work)
	}
	env, err := prepare(o, work)
	if err != nil {
		return err
	}
	defer env.close()
	if o.compare != "" {
		return runCompare(env, o.compare, o)
	}
	if o.phases > 0 {
		if err := runPhases(env, o.phases); err != nil {
			return err
		}
		return env.checkLeftovers()
	}

	floor, err := append(env.runtimes, env.engineRuns...)[0].rssFloor()
	if err != nil {
		return err
	}
	loadBefore := loadAverage()
	printHeader(o, env, floor)
	modes := []mode{{name: "back-to-back"}, {name: fmt.Sprintf("gap %s", o.gap), gap: o.gap}}
	results := make([][]summary, len(modes))
	for i, m := range modes {
		samples, err := measure(env.runtimes, m, o)
		if err != nil {
			return err
		}
		for _, r := range env.runtimes {
			results[i] = append(results[i], summarize(r.name, samples[r.name]))
		}
	}
	// The layer rows take turns with crun again, so that their ratio to
	// crun's median compares runs made in the same minutes.
	var layerResults, layerRef []summary
	if len(env.layerRuns) > 0 {
		runs := env.layerRuns[:len(env.layerRuns):len(env.layerRuns)]
		for _, r := range env.runtimes {
			if r.name == "crun" {
				runs = append(runs, r)
			}
		}
		samples, err := measure(runs, modes[0], o)
		if err != nil {
			return err
		}
		for _, r := range env.layerRuns {
			s := summarize(r.name, samples[r.name])
			s.layers = r.layers
			layerResults = append(layerResults, s)
		}
		if s, ok := samples["crun"]; ok {
			layerRef = append(layerRef, summarize("crun", s))
		}
	}
	engineResults, err := measureEngines(env, modes, o)
	if err != nil {
		return err
	}
	printTable(os.Stdout, modes, withEngines(results, engineResults))
	printEngineLegend(os.Stdout, env)
	if len(layerResults) > 0 {
		fmt.Println()
		printLayerTable(os.Stdout, modes[0], layerRef, layerResults)
	}
	fmt.Printf("load average after: %s\n", loadAverage())
	if o.svg != "" && len(env.runtimes) > 0 {
		file := o.svg
		if !filepath.IsAbs(file) {
			root, err := moduleRoot()
			if err != nil {
				return err
			}
			file = filepath.Join(root, file)
		}
		caption := fmt.Sprintf("go run ./bench -n %d; %d CPUs, cgroup %s, load average %s before, %s after",
			o.n, runtime.NumCPU(), cgroupMode(), strings.Fields(loadBefore)[0], strings.Fields(loadAverage())[0])
		if err := writePlot(file, caption, modes, results, layerResults, layerRef, time.Now()); err != nil {
			return err
		}
		fmt.Printf("plot: %s\n", file)
	}
	return env.checkLeftovers()
}

// privateEnv marks the copy of the benchmark that runs in a mount
// namespace of its own.
const privateEnv = "BOX_BENCH_PRIVATE"

// runPrivate runs a copy of the benchmark in a mount namespace of its own
// and returns its exit status. Go's child makes / private (MS_REC|
// MS_PRIVATE) right after unshare(CLONE_NEWNS), so the tmpfs holding the
// runtimes' state, and any mount a runtime forgets, stay in there and
// vanish with it, even if the benchmark is killed.
func runPrivate() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (namespaces, mounts, cgroups): sudo go run ./bench")
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), privateEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench: start in a private mount namespace:", err)
		return 1
	}
	return 0
}

// removeWork removes the work directory; the image store in it holds
// read-only and id-shifted files, which RemoveAll handles as root.
func removeWork(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: remove %s: %v\n", dir, err)
	}
}

// moduleRoot is the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from the module root, like: sudo go run ./bench")
		}
		dir = parent
	}
}

// goBuild builds the package pkg of the module into out, statically.
func goBuild(root, pkg, out string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
