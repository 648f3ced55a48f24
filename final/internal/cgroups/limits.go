package cgroups

// limits.go reads run's resource flags the way docker does and keeps the
// limits in the container's state by the name of the cgroup v2 file each
// one goes to; the v1 code translates.

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CPUPeriod is the period CPU quotas are measured in, in microseconds:
// the kernel's default and docker's, 100 ms.
const CPUPeriod = 100000

// MinMemory is the smallest memory limit run accepts, as docker's: below
// it, the container's init (a copy of this Go program) may be killed
// before it starts the command.
const MinMemory = 6 << 20

// MinPids is the smallest --pids-limit run accepts: pids.max counts every
// task in the cgroup, threads included, and the container's init is a Go
// program with 8 to 10 threads by the time it forks the command (more
// under load, when Go starts a thread more often for a goroutine that
// waits), which leaves the command a few. At 10, the init itself could
// find no room for the command's fork.
const MinPids = 16

// Limits are a container's resource limits, in the kernel's units. Zero
// means not set: the kernel's default (no limit) stays.
type Limits struct {
	Memory     int64 // bytes
	MemorySwap int64 // memory plus swap in bytes, as docker's --memory-swap; -1: swap unlimited
	CPUQuota   int64 // microseconds of CPU time per CPUPeriod, for all the container's CPUs together
	CPUWeight  int64 // share of contended CPU time, 1 to 10000 (v2's scale; default 100)
	Pids       int64 // processes and threads at once; -1: no limit
}

// Flags are run's resource flags as typed. A number flag not given is 0,
// and its Set false: then no limit is set.
type Flags struct {
	Memory       string
	MemorySwap   string
	CPUs         string
	CPUWeight    int64
	CPUWeightSet bool
	PidsLimit    int64
	PidsLimitSet bool
}

// Parse checks f and converts it into Limits, for a machine with numCPU
// CPUs. Errors name the flag and say what would be right.
func (f Flags) Parse(numCPU int) (Limits, error) {
	var l Limits
	var err error
	if strings.HasPrefix(f.Memory, "-") {
		return Limits{}, fmt.Errorf("--memory %s is not a size: give one like 100m, or leave -m out for no memory limit", f.Memory)
	}
	if f.Memory != "" {
		if l.Memory, err = ParseSize(f.Memory); err != nil {
			return Limits{}, fmt.Errorf("--memory %w", err)
		}
		if l.Memory < MinMemory {
			return Limits{}, fmt.Errorf("--memory %s is below the minimum of 6m: the container's init needs that much to start", f.Memory)
		}
	}
	switch {
	case f.MemorySwap == "" && l.Memory > 0:
		l.MemorySwap = 2 * l.Memory // docker: as much swap as memory
	case f.MemorySwap == "":
	case l.Memory == 0:
		return Limits{}, errors.New("--memory-swap needs --memory: it is memory plus swap, like -m 100m --memory-swap 200m")
	case f.MemorySwap == "-1":
		l.MemorySwap = -1
	default:
		if l.MemorySwap, err = ParseSize(f.MemorySwap); err != nil {
			return Limits{}, fmt.Errorf("--memory-swap %w", err)
		}
		if l.MemorySwap < l.Memory {
			return Limits{}, fmt.Errorf("--memory-swap %s is less than --memory %s: it is memory plus swap, so give at least as much, or --memory-swap=-1 for unlimited swap", f.MemorySwap, f.Memory)
		}
	}
	if f.CPUs != "" {
		if l.CPUQuota, err = cpuQuota(f.CPUs, numCPU); err != nil {
			return Limits{}, err
		}
	}
	if (f.CPUWeight != 0 || f.CPUWeightSet) && (f.CPUWeight < 1 || f.CPUWeight > 10000) {
		return Limits{}, fmt.Errorf("--cpu-weight %d is out of range: give 1 to 10000 (the default is 100)", f.CPUWeight)
	}
	l.CPUWeight = f.CPUWeight
	switch {
	case f.PidsLimit < -1:
		return Limits{}, fmt.Errorf("--pids-limit %d: give a number of processes, like 64, or --pids-limit=-1 for no limit", f.PidsLimit)
	case f.PidsLimit == 0 && f.PidsLimitSet:
		return Limits{}, fmt.Errorf("--pids-limit 0 would allow no process at all: give at least %d, like 64, or --pids-limit=-1 for no limit", MinPids)
	case f.PidsLimit > 0 && f.PidsLimit < MinPids:
		return Limits{}, fmt.Errorf("--pids-limit %d is below the minimum of %d: threads count too, and the container's init alone has 8 to 10", f.PidsLimit, MinPids)
	}
	l.Pids = f.PidsLimit
	return l, nil
}

// sizeUnits are the units ParseSize takes: docker's, powers of 1024.
var sizeUnits = map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}

// ParseSize reads a size as docker does: a number, maybe with a fraction,
// and a unit b, k, m or g in either case ("mb" is "m").
func ParseSize(s string) (int64, error) {
	lower := strings.ToLower(s)
	i := strings.IndexFunc(lower, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(lower)
	}
	mult, known := sizeUnits[lower[i:]]
	n, err := strconv.ParseFloat(lower[:i], 64)
	if !known || err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size: give a number and a unit b, k, m or g, like 100m", s)
	}
	if n*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(n * float64(mult)), nil
}

// FormatSize prints bytes as --memory takes them: 100m, 1.5g, 4096.
func FormatSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		switch {
		case n >= u.size && n%u.size == 0:
			return strconv.FormatInt(n/u.size, 10) + u.unit
		case n >= u.size:
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

// cpuQuota converts --cpus into CPU time per period: 0.5 CPUs is 50 ms of
// every 100 ms, which the container's processes may use on any CPUs.
func cpuQuota(s string, numCPU int) (int64, error) {
	cpus, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(cpus) || math.IsInf(cpus, 0) {
		return 0, fmt.Errorf("--cpus %q is not a number: give CPUs like 0.5 or 2", s)
	}
	quota := int64(math.Round(cpus * CPUPeriod))
	// The kernel takes no quota below 1 ms (kernel/sched/core.c).
	if quota < 1000 || cpus > float64(numCPU) {
		return 0, fmt.Errorf("--cpus %s is out of range: give 0.01 to %d, the CPUs of this machine", s, numCPU)
	}
	return quota, nil
}

// The limits' keys in the container's state: the cgroup v2 files.
const (
	fileMemoryMax  = "memory.max"
	fileSwapMax    = "memory.swap.max"
	fileCPUMax     = "cpu.max"
	fileCPUWeight  = "cpu.weight"
	filePidsMax    = "pids.max"
	unlimitedValue = "max"
)

// Files are the limits as cgroup v2 files and the values written there,
// which is how the container's state keeps them (state.Config.Limits).
// v2's memory.swap.max is swap alone: docker's --memory-swap less -m.
func (l Limits) Files() map[string]string {
	files := map[string]string{}
	if l.Memory > 0 {
		files[fileMemoryMax] = strconv.FormatInt(l.Memory, 10)
		files[fileSwapMax] = unlimitedValue
		if l.MemorySwap > 0 {
			files[fileSwapMax] = strconv.FormatInt(l.MemorySwap-l.Memory, 10)
		}
	}
	if l.CPUQuota > 0 {
		files[fileCPUMax] = fmt.Sprintf("%d %d", l.CPUQuota, CPUPeriod)
	}
	if l.CPUWeight > 0 {
		files[fileCPUWeight] = strconv.FormatInt(l.CPUWeight, 10)
	}
	switch {
	case l.Pids > 0:
		files[filePidsMax] = strconv.FormatInt(l.Pids, 10)
	case l.Pids < 0:
		files[filePidsMax] = unlimitedValue
	}
	if len(files) == 0 {
		return nil
	}
	return files
}

// LimitsFromFiles reads limits back from Files' form.
func LimitsFromFiles(files map[string]string) (Limits, error) {
	var l Limits
	number := func(key string) (int64, error) { return strconv.ParseInt(files[key], 10, 64) }
	var err error
	for key, value := range files {
		switch key {
		case fileMemoryMax:
			l.Memory, err = number(key)
		case fileSwapMax:
		case fileCPUMax:
			quota, _, _ := strings.Cut(value, " ")
			l.CPUQuota, err = strconv.ParseInt(quota, 10, 64)
		case fileCPUWeight:
			l.CPUWeight, err = number(key)
		case filePidsMax:
			l.Pids = -1
			if value != unlimitedValue {
				l.Pids, err = number(key)
			}
		default:
			err = fmt.Errorf("unknown limit %s", key)
		}
		if err != nil {
			return Limits{}, fmt.Errorf("limit %s=%q: %w", key, value, err)
		}
	}
	if swap, ok := files[fileSwapMax]; ok {
		if swap == unlimitedValue {
			l.MemorySwap = -1
		} else {
			n, err := strconv.ParseInt(swap, 10, 64)
			if err != nil {
				return Limits{}, fmt.Errorf("limit %s=%q: %w", fileSwapMax, swap, err)
			}
			l.MemorySwap = l.Memory + n
		}
	}
	return l, nil
}

// controllers are the controllers the limits need.
func (l Limits) controllers() []string {
	var need []string
	if l.Memory != 0 {
		need = append(need, "memory")
	}
	if l.CPUQuota != 0 || l.CPUWeight != 0 {
		need = append(need, "cpu")
	}
	if l.Pids != 0 {
		need = append(need, "pids")
	}
	return need
}

// cpuShares converts a v2 cpu.weight (1 to 10000, default 100) into v1's
// cpu.shares (2 to 262144, default 1024) with the linear map runc and
// crun use. It maps range onto range, so the defaults do not meet: weight
// 100 is 2597 shares. Only the ratio between groups matters.
func cpuShares(weight int64) int64 { return 2 + (weight-1)*262142/9999 }

// Any tells whether any limit is set.
func (l Limits) Any() bool { return len(l.controllers()) > 0 }
