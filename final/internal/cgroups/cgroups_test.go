package cgroups

import (
	"strings"
	"testing"

	"box/final/internal/golden"
	"box/final/internal/sys"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags Flags
		want  map[string]string // Limits.Files
		err   string            // the start of the one-line error
	}{
		{name: "none", flags: Flags{}, want: nil},
		{name: "memory", flags: Flags{Memory: "100m"}, want: map[string]string{"memory.max": "104857600", "memory.swap.max": "104857600"}},
		{name: "memory in bytes, swap unlimited", flags: Flags{Memory: "7000000", MemorySwap: "-1"}, want: map[string]string{"memory.max": "7000000", "memory.swap.max": "max"}},
		{name: "no swap", flags: Flags{Memory: "1g", MemorySwap: "1G"}, want: map[string]string{"memory.max": "1073741824", "memory.swap.max": "0"}},
		{name: "fraction", flags: Flags{Memory: "1.5g"}, want: map[string]string{"memory.max": "1610612736", "memory.swap.max": "1610612736"}},
		{name: "cpus", flags: Flags{CPUs: "0.5"}, want: map[string]string{"cpu.max": "50000 100000"}},
		{name: "weight and pids", flags: Flags{CPUWeight: 500, PidsLimit: 64}, want: map[string]string{"cpu.weight": "500", "pids.max": "64"}},
		{name: "pids unlimited", flags: Flags{PidsLimit: -1}, want: map[string]string{"pids.max": "max"}},
		{name: "not a size", flags: Flags{Memory: "lots"}, err: `--memory "lots" is not a size`},
		{name: "unknown unit", flags: Flags{Memory: "10t"}, err: `--memory "10t" is not a size`},
		{name: "negative size", flags: Flags{Memory: "-5m"}, err: "--memory -5m is not a size"},
		{name: "too little memory", flags: Flags{Memory: "1m"}, err: "--memory 1m is below the minimum of 6m"},
		{name: "swap without memory", flags: Flags{MemorySwap: "1g"}, err: "--memory-swap needs --memory"},
		{name: "swap below memory", flags: Flags{Memory: "100m", MemorySwap: "50m"}, err: "--memory-swap 50m is less than --memory 100m"},
		{name: "cpus not a number", flags: Flags{CPUs: "half"}, err: `--cpus "half" is not a number`},
		{name: "cpus zero", flags: Flags{CPUs: "0"}, err: "--cpus 0 is out of range: give 0.01 to 2"},
		{name: "cpus too many", flags: Flags{CPUs: "3"}, err: "--cpus 3 is out of range: give 0.01 to 2"},
		{name: "cpus NaN", flags: Flags{CPUs: "NaN"}, err: `--cpus "NaN" is not a number`},
		{name: "weight too big", flags: Flags{CPUWeight: 10001}, err: "--cpu-weight 10001 is out of range"},
		{name: "weight negative", flags: Flags{CPUWeight: -1}, err: "--cpu-weight -1 is out of range"},
		{name: "pids negative", flags: Flags{PidsLimit: -2}, err: "--pids-limit -2: give a number of processes"},
		{name: "pids too few", flags: Flags{PidsLimit: 3}, err: "--pids-limit 3 is below the minimum of 16"},
		{name: "weight 0 given", flags: Flags{CPUWeightSet: true}, err: "--cpu-weight 0 is out of range: give 1 to 10000"},
		{name: "pids 0 given", flags: Flags{PidsLimitSet: true}, err: "--pids-limit 0 would allow no process at all"},
		{name: "memory -1", flags: Flags{Memory: "-1"}, err: "--memory -1 is not a size: give one like 100m, or leave -m out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.flags.Parse(2)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line starting %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, l.Files()); diff != "" {
				t.Errorf("Files mismatch (-want +got):\n%s", diff)
			}
			back, err := LimitsFromFiles(l.Files())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(l, back); diff != "" {
				t.Errorf("LimitsFromFiles(Files) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{4096: "4k", 100 << 20: "100m", 3 << 29: "1.5g", 1000: "1000"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCPUShares(t *testing.T) {
	for weight, want := range map[int64]int64{1: 2, 100: 2597, 10000: 262144} {
		if got := cpuShares(weight); got != want {
			t.Errorf("cpuShares(%d) = %d, want %d", weight, got, want)
		}
	}
}

func TestParseV1Parents(t *testing.T) {
	mountinfo := `25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
28 25 0:25 /docker/abc /sys/fs/cgroup/pids rw,nosuid shared:12 - cgroup cgroup rw,pids
29 25 0:26 / /sys/fs/cgroup/systemd rw,nosuid shared:13 - cgroup cgroup rw,name=systemd
30 25 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:14 - cgroup2 cgroup2 rw
`
	own := `5:pids:/docker/abc
4:memory:/user.slice/session-1.scope
3:cpu,cpuacct:/
1:name=systemd:/user.slice
0::/user.slice
`
	want := []Dir{
		{Path: "/sys/fs/cgroup/cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}},
		{Path: "/sys/fs/cgroup/memory/user.slice/session-1.scope", Controllers: []string{"memory"}},
		{Path: "/sys/fs/cgroup/pids", Controllers: []string{"pids"}},
	}
	if diff := cmp.Diff(want, parseV1Parents(mountinfo, own)); diff != "" {
		t.Errorf("parseV1Parents mismatch (-want +got):\n%s", diff)
	}
}

func TestDeviceRule(t *testing.T) {
	for _, tt := range []struct {
		d    Device
		want string
	}{
		{Device{'c', 1, 3}, "c 1:3 rwm"},
		{Device{'c', 136, -1}, "c 136:* rwm"},
		{Device{'b', 8, 0}, "b 8:0 rwm"},
	} {
		if got := tt.d.Rule(); got != tt.want {
			t.Errorf("Rule = %q, want %q", got, tt.want)
		}
	}
}

func TestKeyedValue(t *testing.T) {
	stat := "nr_periods 11\nnr_throttled 10\nthrottled_time 850594368\n"
	if n, ok := keyedValue(stat, "nr_throttled"); !ok || n != 10 {
		t.Errorf("nr_throttled = %d, %v", n, ok)
	}
	if _, ok := keyedValue(stat, "missing"); ok {
		t.Error("found a key that is not there")
	}
	if n, ok := keyedValue("123\n", ""); !ok || n != 123 {
		t.Errorf("plain number = %d, %v", n, ok)
	}
}

// TestConfigureCalls records the writes that set limits and devices, in
// v1 and v2, for the same flags.
func TestConfigureCalls(t *testing.T) {
	l, err := Flags{Memory: "32m", CPUs: "0.5", CPUWeight: 200, PidsLimit: 64}.Parse(2)
	if err != nil {
		t.Fatal(err)
	}
	devices := []Device{{'c', 1, 3}, {'c', 136, -1}}
	tests := []struct {
		name string
		v    version
		cg   *Cgroup
	}{
		{"configure_v1", v1{}, &Cgroup{Version: 1, Dirs: []Dir{
			{Path: "/sys/fs/cgroup/cpu,cpuacct/box-1", Controllers: []string{"cpu", "cpuacct"}},
			{Path: "/sys/fs/cgroup/memory/box-1", Controllers: []string{"memory"}},
			{Path: "/sys/fs/cgroup/pids/box-1", Controllers: []string{"pids"}},
			{Path: "/sys/fs/cgroup/devices/box-1", Controllers: []string{"devices"}},
		}}},
		{"configure_v2", v2{}, &Cgroup{Version: 2, Dirs: []Dir{
			{Path: "/sys/fs/cgroup/box/box-1", Controllers: []string{"cpu", "memory", "pids"}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := sys.RecordNarration(&sys.Script{}, func() error { return tt.v.configure(tt.cg, l, devices) })
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, tt.name, out)
		})
	}
}

func TestUsageString(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	u := Usage{MemoryPeak: n(32 << 20), OOMKills: n(1), CPUTime: n(1500), ThrottledPeriods: n(3)}
	want := "peak memory 32m, OOM kills 1, CPU time 1.5ms, throttled periods 3"
	if got := u.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
