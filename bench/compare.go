package main

// compare.go measures two builds of box against each other (-compare B):
// the same box rows, run by the one build and the other in pairs, their
// order swapped from one pair to the next. On a machine whose speed
// drifts by more than the change being measured (bench/README.md: crun's
// median moved by a third within an hour here), the medians of two
// separate runs cannot show a change of a millisecond; the difference
// within each pair can, as both of its runs met the same minute.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"
)

// compareRows are the rows -compare measures: box run's, whose command
// names the box binary.
var compareRows = map[string]bool{"box": true, "box-userns-host": true, "box-no-init": true, "box-as-crun": true}

// pairRow is one row measured by both builds.
type pairRow struct {
	name  string
	a, b  *runtimeUnderTest
	pairs [][2]sample
}

// runCompare measures env's box rows with env.box (A) and with other (B),
// o.n pairs each, and prints the paired differences.
func runCompare(env *environment, other string, o options) error {
	other, err := filepath.Abs(other)
	if err != nil {
		return err
	}
	if err := checkBoxBuild(other); err != nil {
		return err
	}
	var rows []*pairRow
	for _, r := range env.runtimes {
		if !compareRows[r.name] {
			continue
		}
		a := r
		b, err := newRuntime(r.name+"-b", env.work, env.launcher, false, withBinary(a.argv, env.box, other))
		if err != nil {
			return err
		}
		defer b.close()
		if err := b.check(); err != nil {
			return fmt.Errorf("-compare %s: %w", other, err)
		}
		rows = append(rows, &pairRow{name: r.name, a: a, b: b})
	}
	if len(rows) == 0 {
		return errors.New("-compare measures box's rows: name box, box-userns-host, box-no-init or box-as-crun in -runtimes")
	}
	fmt.Printf("A/B of two box builds, %s\nmachine: kernel %s, load average %s\nA: %s\nB: %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), kernelRelease(), loadAverage(), env.box, other)
	for _, row := range rows {
		for i := 0; i < o.warmup; i++ {
			if _, err := row.a.run(); err != nil {
				return err
			}
			if _, err := row.b.run(); err != nil {
				return err
			}
		}
		for i := 0; i < o.n; i++ {
			first, second := row.a, row.b
			if i%2 == 1 {
				first, second = second, first
			}
			s1, err := first.run()
			if err != nil {
				return err
			}
			s2, err := second.run()
			if err != nil {
				return err
			}
			if i%2 == 1 {
				s1, s2 = s2, s1
			}
			row.pairs = append(row.pairs, [2]sample{s1, s2})
		}
	}
	printCompare(os.Stdout, o.n, rows)
	fmt.Printf("load average after: %s\n", loadAverage())
	return env.checkLeftovers()
}

// checkBoxBuild fails in one line unless box is a file with box-init
// next to it, which box executes for every container.
func checkBoxBuild(box string) error {
	if _, err := os.Stat(box); err != nil {
		return fmt.Errorf("-compare %s: %w", box, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(box), "box-init")); err != nil {
		return fmt.Errorf("-compare %s: no box-init next to it; build both, as make build does: go build -o DIR/box ./final && go build -o DIR/box-init ./final/cmd/box-init", box)
	}
	return nil
}

// withBinary is argv with the program from replaced by to.
func withBinary(argv func(int) [][]string, from, to string) func(int) [][]string {
	return func(i int) [][]string {
		commands := argv(i)
		out := make([][]string, len(commands))
		for j, c := range commands {
			out[j] = append([]string(nil), c...)
			for k, arg := range out[j] {
				if arg == from {
					out[j][k] = to
				}
			}
		}
		return out
	}
}

// printCompare prints, per row and for wall time and CPU, each build's
// median, the median of the differences B-A within pairs with a 95 %
// bootstrap interval, and in how many pairs B took less.
func printCompare(w io.Writer, n int, rows []*pairRow) {
	fmt.Fprintf(w, "%d pairs per row, back to back, the order of A and B swapped each pair; B-A: median of the differences within pairs, [95 %% interval]\n\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "row\tA wall\tB wall\tB-A wall\t95 % interval\tB faster\tA cpu\tB cpu\tB-A cpu\t95 % interval\t")
	for _, row := range rows {
		walls := pairStats(row.pairs, func(s sample) time.Duration { return s.wall })
		cpus := pairStats(row.pairs, func(s sample) time.Duration { return s.cpu })
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d %%\t%s\t%s\t%s\t%s\t\n", row.name,
			fmtMS(walls.a), fmtMS(walls.b), fmtDiff(walls.diff), walls.interval(), walls.bLess*100/len(row.pairs),
			fmtMS(cpus.a), fmtMS(cpus.b), fmtDiff(cpus.diff), cpus.interval())
	}
	tw.Flush()
}

// pairSummary is one measure of one row over its pairs.
type pairSummary struct {
	a, b, diff time.Duration // medians
	lo, hi     time.Duration // 95 % bootstrap interval of diff
	bLess      int           // pairs in which B took less
}

func (p pairSummary) interval() string {
	return fmt.Sprintf("[%s, %s]", fmtDiff(p.lo), fmtDiff(p.hi))
}

// pairStats sums up one measure of the pairs. The interval resamples the
// differences with replacement (2000 times, a fixed seed, so a run's
// numbers can be recomputed) and takes the 2.5th and 97.5th percentiles
// of their medians.
func pairStats(pairs [][2]sample, of func(sample) time.Duration) pairSummary {
	var s pairSummary
	as := make([]time.Duration, len(pairs))
	bs := make([]time.Duration, len(pairs))
	diffs := make([]time.Duration, len(pairs))
	for i, p := range pairs {
		as[i], bs[i], diffs[i] = of(p[0]), of(p[1]), of(p[1])-of(p[0])
		if diffs[i] < 0 {
			s.bLess++
		}
	}
	s.a, s.b, s.diff = sortedMedian(as), sortedMedian(bs), sortedMedian(diffs)
	rng := rand.New(rand.NewPCG(1, 2))
	const resamples = 2000
	medians := make([]time.Duration, resamples)
	resample := make([]time.Duration, len(diffs))
	for i := range medians {
		for j := range resample {
			resample[j] = diffs[rng.IntN(len(diffs))]
		}
		medians[i] = sortedMedian(resample)
	}
	sort.Slice(medians, func(i, j int) bool { return medians[i] < medians[j] })
	s.lo, s.hi = medians[resamples*25/1000], medians[resamples*975/1000-1]
	return s
}

// sortedMedian sorts d in place and returns its median.
func sortedMedian(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return median(d)
}

// fmtMS is d in milliseconds, as the other tables print it.
func fmtMS(d time.Duration) string { return fmt.Sprintf("%.2f ms", ms(d)) }

// fmtDiff is a signed difference in milliseconds.
func fmtDiff(d time.Duration) string { return fmt.Sprintf("%+.2f ms", ms(d)) }
