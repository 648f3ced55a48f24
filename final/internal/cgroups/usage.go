package cgroups

// usage.go reads what the kernel counted for a cgroup. Each count is in a
// file of its controller, alone ("12345") or as one "key value" line of
// several ("nr_throttled 3"); v1.go and v2.go say which file and key.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// Usage is what the kernel counted for a container's cgroup. A nil field
// is a count this kernel does not keep.
type Usage struct {
	MemoryPeak       *int64 `json:"memoryPeakBytes,omitempty"`
	MemoryLimitHits  *int64 `json:"memoryLimitHits,omitempty"` // times usage hit the limit
	OOMKills         *int64 `json:"oomKills,omitempty"`        // processes the OOM killer killed
	CPUTime          *int64 `json:"cpuTimeUsec,omitempty"`
	PidsPeak         *int64 `json:"pidsPeak,omitempty"`
	PidsLimitHits    *int64 `json:"pidsLimitHits,omitempty"` // forks refused at pids.max
	ThrottledPeriods *int64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    *int64 `json:"throttledUsec,omitempty"`
	// What stats shows, read by Now: not kept at exit.
	MemoryCurrent *int64 `json:"-"`
	MemoryLimit   *int64 `json:"-"` // nil: no limit ("max", or v1's huge number)
	PidsCurrent   *int64 `json:"-"`
}

// counter says where the kernel keeps one count of Usage.
type counter struct {
	controller, file, key string // key "" means the file holds one number
	scale                 int64  // divide by it: v1 counts time in ns, Usage in us
	field                 func(u *Usage) **int64
}

// Usage reads what the kernel counted so far, narrating each file read.
func (cg *Cgroup) Usage() (Usage, error) {
	v, err := versionOf(cg.Version)
	if err != nil {
		return Usage{}, err
	}
	return cg.usage(v), nil
}

func (cg *Cgroup) usage(v version) Usage {
	narrate.Explain(narrate.Cgroup, "Read what the kernel counted for the container: its controllers' counter files.")
	return cg.read(v.counters())
}

// Now reads the current memory use and limit, processes and CPU time, for
// stats.
func (cg *Cgroup) Now() (Usage, error) {
	v, err := versionOf(cg.Version)
	if err != nil {
		return Usage{}, err
	}
	u := cg.read(v.gauges())
	if u.MemoryLimit != nil && *u.MemoryLimit >= 1<<62 {
		u.MemoryLimit = nil // v1's "no limit": the largest page-aligned int64
	}
	return u, nil
}

// oomCounters are the counters of v that count OOM kills.
func oomCounters(v version) []counter {
	var u Usage
	var oom []counter
	for _, c := range v.counters() {
		if c.field(&u) == &u.OOMKills {
			oom = append(oom, c)
		}
	}
	return oom
}

// read reads counters, each file once, narrating each read.
func (cg *Cgroup) read(counters []counter) Usage {
	var u Usage
	read := map[string]string{}
	for _, c := range counters {
		path := cg.file(c.controller, c.file)
		if path == "" {
			continue
		}
		text, done := read[path]
		if !done {
			var ok bool
			if text, ok = readCounterFile(path); !ok {
				continue // not counted by this kernel
			}
			read[path] = text
		}
		if n, ok := keyedValue(text, c.key); ok {
			if c.scale > 1 {
				n /= c.scale
			}
			*c.field(&u) = &n
		}
	}
	return u
}

// readCounterFile reads a counter file; ok is false if this kernel has
// none. With --explain the read is narrated, after a stat that keeps a
// file the kernel does not have out of the narration; without, it is
// one open(2), read(2) and close(2), and a missing file fails the open.
func readCounterFile(path string) (text string, ok bool) {
	if narrate.Enabled() {
		if _, err := os.Stat(path); err != nil {
			return "", false
		}
		text, _ = sys.ReadCgroupFile(path)
		return text, true
	}
	b, err := readFile(path)
	return string(b), err == nil
}

// keyedValue finds the number for key in "key value" lines, or the whole
// text's number for key "".
func keyedValue(text, key string) (int64, bool) {
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

// String is the usage in one line, for the narration at exit.
func (u Usage) String() string {
	var parts []string
	add := func(n *int64, format string, show func(int64) any) {
		if n != nil {
			parts = append(parts, fmt.Sprintf(format, show(*n)))
		}
	}
	plain := func(n int64) any { return n }
	add(u.MemoryPeak, "peak memory %s", func(n int64) any { return FormatSize(n) })
	add(u.MemoryLimitHits, "memory limit hit %d times", plain)
	add(u.OOMKills, "OOM kills %d", plain)
	add(u.CPUTime, "CPU time %v", func(n int64) any { return time.Duration(n) * time.Microsecond })
	add(u.PidsPeak, "peak processes %d", plain)
	add(u.PidsLimitHits, "forks refused %d", plain)
	add(u.ThrottledPeriods, "throttled periods %d", plain)
	add(u.ThrottledTime, "throttled for %v", func(n int64) any { return time.Duration(n) * time.Microsecond })
	if len(parts) == 0 {
		return "nothing counted"
	}
	return strings.Join(parts, ", ")
}
