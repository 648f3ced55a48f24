package main

// stats.go is the stats command: each running container's CPU, memory and
// processes, live from its cgroup's files, as docker stats shows them.

import (
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"box/final/internal/cgroups"
	"box/final/internal/state"
	"box/final/internal/sys"
)

type statsCmd struct {
	NoStream   bool     `name:"no-stream" help:"Print one table and exit, instead of a new one every second."`
	Containers []string `arg:"" optional:"" name:"container" help:"Names or IDs (default: every running container)."`
}

// statsInterval is the time between two readings of the CPU time: CPU %
// is the CPU time used in between, over the time that passed.
const statsInterval = time.Second

// sample is one reading of a container's cgroup.
type sample struct {
	at    time.Time
	usage *cgroups.Usage // nil: the container has no cgroup to read
}

func (s *statsCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	containers, err := s.running(store)
	if err != nil {
		return err
	}
	clear := !s.NoStream && sys.IsTerminal(int(os.Stdout.Fd()))
	before := readAll(containers)
	for {
		time.Sleep(statsInterval)
		now := readAll(containers)
		if clear {
			fmt.Print("\033[H\033[2J") // home, clear screen: a table in place
		}
		if err := printStats(containers, before, now); err != nil {
			return err
		}
		if s.NoStream {
			return nil
		}
		before = now
	}
}

// running finds the containers to show: those named, which must be
// running, or every running one.
func (s *statsCmd) running(store *state.Store) ([]*state.Container, error) {
	if len(s.Containers) > 0 {
		var out []*state.Container
		for _, ref := range s.Containers {
			c, err := store.Get(ref)
			if err != nil {
				return nil, err
			}
			if st := c.CurrentStatus(); !st.Live() {
				return nil, fmt.Errorf("container %s is not running (%s): stats reads a live cgroup", c.Name, st)
			}
			out = append(out, c)
		}
		return out, nil
	}
	all, err := store.List()
	if err != nil {
		return nil, err
	}
	var out []*state.Container
	for _, c := range all {
		if c.CurrentStatus().Live() {
			out = append(out, c)
		}
	}
	return out, nil
}

// readAll reads every container's cgroup now.
func readAll(containers []*state.Container) []sample {
	out := make([]sample, len(containers))
	for i, c := range containers {
		out[i].at = time.Now()
		rec, err := loadCgroupRecord(c)
		if err != nil || rec.Cgroup == nil || !rec.Cgroup.Exists() {
			continue
		}
		if u, err := rec.Cgroup.Now(); err == nil {
			out[i].usage = &u
		}
	}
	return out
}

// printStats prints one table from two readings.
func printStats(containers []*state.Container, before, now []sample) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tID\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS")
	for i, c := range containers {
		cpu, mem, memPct, pids := "-", "-", "-", "-"
		if a, b := before[i].usage, now[i].usage; a != nil && b != nil {
			if a.CPUTime != nil && b.CPUTime != nil {
				wall := now[i].at.Sub(before[i].at).Microseconds()
				if wall > 0 {
					cpu = fmt.Sprintf("%.1f%%", float64(*b.CPUTime-*a.CPUTime)*100/float64(wall))
				}
			}
			if b.MemoryCurrent != nil {
				limit := "no limit"
				if b.MemoryLimit != nil {
					limit = cgroups.FormatSize(*b.MemoryLimit)
					memPct = fmt.Sprintf("%.1f%%", float64(*b.MemoryCurrent)*100/float64(*b.MemoryLimit))
				}
				mem = cgroups.FormatSize(*b.MemoryCurrent) + " / " + limit
			}
			if b.PidsCurrent != nil {
				pids = strconv.FormatInt(*b.PidsCurrent, 10)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.ShortID(), cpu, mem, memPct, pids)
	}
	return w.Flush()
}
