package main

// stats.go sums the samples up and prints the table.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// summary is one runtime in one mode.
type summary struct {
	name        string
	n           int
	median, p90 time.Duration
	min         time.Duration
	cpu         time.Duration // median
	rssMedian   int64         // KiB
	rssMax      int64         // KiB
	layers      int           // for the layer-count rows
}

// summarize sums up the samples of one runtime.
func summarize(name string, samples []sample) summary {
	walls := make([]time.Duration, len(samples))
	cpus := make([]time.Duration, len(samples))
	rss := make([]int64, len(samples))
	for i, s := range samples {
		walls[i], cpus[i], rss[i] = s.wall, s.cpu, s.maxRSS
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	sort.Slice(cpus, func(i, j int) bool { return cpus[i] < cpus[j] })
	sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
	return summary{name: name, n: len(samples), median: median(walls), p90: percentile(walls, 0.9),
		min: walls[0], cpu: median(cpus), rssMedian: rss[len(rss)/2], rssMax: rss[len(rss)-1]}
}

// median of sorted durations: the middle one, or the mean of the two.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of sorted durations by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p*float64(len(sorted)) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printHeader says what is measured, on what, and how busy the machine is.
func printHeader(o options, env *environment, rssFloor int64) {
	fmt.Printf("box start-up benchmark, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("machine: kernel %s, %d CPUs, cgroup %s, load average %s\n", kernelRelease(), runtime.NumCPU(), cgroupMode(), loadAverage())
	fmt.Printf("state: %s (%s)\n", env.run, map[string]string{"tmpfs": "a tmpfs, as /run is on most systems", "disk": "on the work directory's filesystem"}[env.state])
	for _, r := range env.runtimes {
		fmt.Printf("%s: %s\n", r.name, commandLine(r.argv(0)))
		switch r.name {
		case "box":
			root := "an overlay of the one-layer image " + imageName
			if env.boxRoot == "rootfs" {
				root = "--rootfs " + env.rootfs + " (this box has no image import yet: no overlay)"
			}
			fmt.Printf("  root: %s\n  --explain showed: %s\n", root, env.boxFeatures)
		case "box-as-crun":
			fmt.Printf("  as crun's bundle: no user namespace, no syscall filter, no overlay (the rootfs directory)\n")
		case "crun", "runc", "crun-oci", "runc-oci", "box-runc":
			fmt.Printf("  bundle: runc spec, with terminal false, args [/bin/true], root %s writable\n", env.rootfs)
		}
	}
	if len(env.layerRuns) > 0 {
		first, last := env.layerRuns[0], env.layerRuns[len(env.layerRuns)-1]
		fmt.Printf("layer rows: %s ... %s\n  images: the rootfs, then one file per layer above it (docker save archives, box load)\n",
			commandLine(first.argv(0)), commandLine(last.argv(0)))
	}
	for _, n := range env.notes {
		fmt.Printf("%s\n", n)
	}
	for _, v := range env.versions {
		fmt.Printf("  %s\n", v)
	}
	if env.cgroupNote != "" {
		fmt.Printf("  %s\n", env.cgroupNote)
	}
	fmt.Printf("%d measured runs per runtime and mode, after %d warm-up rounds; back to back in turns of %d runs\n", o.n, o.warmup, o.block)
	fmt.Printf("of one runtime (after one unmeasured run), with the gap run by run.\n")
	fmt.Println("time: fork to wait4; cpu: user+sys of the runtime and what it reaped;")
	fmt.Printf("peak RSS: wait4's ru_maxrss, the largest process of the tree (floor %.1f MB: /bin/true from the same launcher).\n", float64(rssFloor)/1024)
	fmt.Println()
}

// isOCI tells the rows that go through an OCI runtime's create, start and
// delete from those that run a container with one command.
func isOCI(name string) bool { return strings.HasSuffix(name, "-oci") || name == "box-runc" }

// reference is the row another row is divided by: crun's of the same
// kind (run, or create+start+delete) in the same mode, if measured.
func reference(rows []summary, name string) (summary, bool) {
	want := "crun"
	if isOCI(name) {
		want = "crun-oci"
	} else if isEngine(name) {
		want = engineReference
	}
	for _, s := range rows {
		if s.name == want {
			return s, true
		}
	}
	return summary{}, false
}

// ratio is a/b as "1.23x", or "-" without a b.
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// printTable prints one row per mode and runtime, with the ratios of its
// median time and peak RSS to crun's of the same kind in the same mode.
func printTable(w io.Writer, modes []mode, results [][]summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\truntime\tmedian\tp90\tmin\t/crun\tcpu\tpeak RSS median\tmax\tRSS/crun\t")
	for i, m := range modes {
		for _, s := range results[i] {
			ref, _ := reference(results[i], s.name)
			fmt.Fprintf(tw, "%s\t%s\t%.2f ms\t%.2f ms\t%.2f ms\t%s\t%.2f ms\t%.1f MB\t%.1f MB\t%s\t\n",
				m.name, s.name, ms(s.median), ms(s.p90), ms(s.min), ratio(float64(s.median), float64(ref.median)), ms(s.cpu),
				float64(s.rssMedian)/1024, float64(s.rssMax)/1024, ratio(float64(s.rssMedian), float64(ref.rssMedian)))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "(/crun and RSS/crun: divided by crun's row of the same kind: crun for a run, crun-oci for create+start+delete.)")
}

// printLayerTable prints box's start per image layer count, measured back
// to back, with ratios to crun's run measured in the same turns (ref) and
// to the first row.
func printLayerTable(w io.Writer, m mode, ref []summary, layers []summary) {
	crun, _ := reference(ref, "crun")
	first := layers[0]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "mode\tbox run, image of\tmedian\tp90\tmin\t/crun\t/%s\tcpu\tpeak RSS median\tmax\t\n", plural(first.layers, "layer"))
	for _, s := range layers {
		fmt.Fprintf(tw, "%s\t%s\t%.2f ms\t%.2f ms\t%.2f ms\t%s\t%s\t%.2f ms\t%.1f MB\t%.1f MB\t\n",
			m.name, plural(s.layers, "layer"), ms(s.median), ms(s.p90), ms(s.min), ratio(float64(s.median), float64(crun.median)),
			ratio(float64(s.median), float64(first.median)), ms(s.cpu), float64(s.rssMedian)/1024, float64(s.rssMax)/1024)
	}
	tw.Flush()
	if crun.median > 0 {
		fmt.Fprintf(w, "(/crun: crun's median in the same turns, %.2f ms.)\n", ms(crun.median))
	}
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// cgroupMode tells v2, v1 or hybrid from /sys/fs/cgroup's filesystem.
func cgroupMode() string {
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &fs); err != nil {
		return "unknown"
	}
	if fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if err := unix.Statfs("/sys/fs/cgroup/unified", &fs); err == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v1 (hybrid)"
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return "none"
	}
	return "v1"
}

// plural is "1 layer" or "8 layers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
