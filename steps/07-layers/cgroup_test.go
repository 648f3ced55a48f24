package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "100", want: 100},
		{in: "100b", want: 100},
		{in: "4k", want: 4096},
		{in: "4KB", want: 4096},
		{in: "100m", want: 100 << 20},
		{in: "100M", want: 100 << 20},
		{in: "100mb", want: 100 << 20},
		{in: "1.5g", want: 3 << 29},
		{in: "2G", want: 2 << 30},
		{in: "", wantErr: true},
		{in: "m", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-1m", wantErr: true},
		{in: "100x", wantErr: true},
		{in: "100 m", wantErr: true},
		{in: "1.2.3m", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "100mib", wantErr: true},
		{in: "99999999999g", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseSize(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseSize(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestCPUQuota(t *testing.T) {
	tests := []struct {
		cpus    string
		want    int64
		wantErr string
	}{
		{cpus: "0.5", want: 50000},
		{cpus: "1", want: 100000},
		{cpus: "1.5", want: 150000},
		{cpus: "0.01", want: 1000},
		{cpus: "0.1", want: 10000},
		{cpus: "2", want: 200000},
		{cpus: "0.001", wantErr: "out of range"},
		{cpus: "0", wantErr: "out of range"},
		{cpus: "-1", wantErr: "out of range"},
		{cpus: "3", wantErr: "give 0.01 to 2"},
		{cpus: "half", wantErr: "not a number"},
		{cpus: "NaN", wantErr: "not a number"},
		{cpus: "Inf", wantErr: "not a number"},
	}
	for _, tt := range tests {
		got, err := cpuQuota(tt.cpus, 2)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("cpuQuota(%q) error = %v, want one containing %q", tt.cpus, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("cpuQuota(%q): %v", tt.cpus, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("cpuQuota(%q) mismatch (-want +got):\n%s", tt.cpus, diff)
		}
	}
}

func TestCPUShares(t *testing.T) {
	tests := []struct{ weight, want int64 }{
		{1, 2},
		{39, 998},
		{100, 2597},
		{5000, 131059},
		{10000, 262144},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, cpuShares(tt.weight)); diff != "" {
			t.Errorf("cpuShares(%d) mismatch (-want +got):\n%s", tt.weight, diff)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    cgroupOptions
		want    cgroupLimits
		wantErr string
	}{
		{name: "nothing", opts: cgroupOptions{FreezeFor: time.Second}, want: cgroupLimits{freezeFor: time.Second}},
		{name: "memory gets as much swap", opts: cgroupOptions{Memory: "100m", FreezeFor: time.Second},
			want: cgroupLimits{memory: 100 << 20, memorySwap: 200 << 20, freezeFor: time.Second}},
		{name: "memory and swap", opts: cgroupOptions{Memory: "100m", MemorySwap: "150m", FreezeFor: time.Second},
			want: cgroupLimits{memory: 100 << 20, memorySwap: 150 << 20, freezeFor: time.Second}},
		{name: "unlimited swap", opts: cgroupOptions{Memory: "100m", MemorySwap: "-1", FreezeFor: time.Second},
			want: cgroupLimits{memory: 100 << 20, memorySwap: -1, freezeFor: time.Second}},
		{name: "everything", opts: cgroupOptions{Memory: "1g", CPUs: "0.5", CPUWeight: 200, PidsLimit: 64, FreezeAfter: time.Second, FreezeFor: 2 * time.Second},
			want: cgroupLimits{memory: 1 << 30, memorySwap: 2 << 30, cpuQuota: 50000, cpuWeight: 200, pids: 64, freezeAfter: time.Second, freezeFor: 2 * time.Second}},
		{name: "no pids limit", opts: cgroupOptions{PidsLimit: -1, FreezeFor: time.Second}, want: cgroupLimits{pids: -1, freezeFor: time.Second}},
		{name: "bad memory", opts: cgroupOptions{Memory: "lots", FreezeFor: time.Second}, wantErr: `--memory "lots" is not a size`},
		{name: "tiny memory", opts: cgroupOptions{Memory: "1m", FreezeFor: time.Second}, wantErr: "below the minimum of 6m"},
		{name: "swap without memory", opts: cgroupOptions{MemorySwap: "1g", FreezeFor: time.Second}, wantErr: "--memory-swap needs --memory"},
		{name: "swap below memory", opts: cgroupOptions{Memory: "100m", MemorySwap: "50m", FreezeFor: time.Second}, wantErr: "is less than --memory"},
		{name: "bad swap", opts: cgroupOptions{Memory: "100m", MemorySwap: "-2", FreezeFor: time.Second}, wantErr: `--memory-swap "-2" is not a size`},
		{name: "bad weight", opts: cgroupOptions{CPUWeight: 20000, FreezeFor: time.Second}, wantErr: "--cpu-weight 20000 is out of range"},
		{name: "negative pids", opts: cgroupOptions{PidsLimit: -5, FreezeFor: time.Second}, wantErr: "--pids-limit -5"},
		{name: "too few pids", opts: cgroupOptions{PidsLimit: 3, FreezeFor: time.Second}, wantErr: "below the minimum of 8"},
		{name: "bad cpus", opts: cgroupOptions{CPUs: "lots", FreezeFor: time.Second}, wantErr: `--cpus "lots" is not a number`},
		{name: "no freeze time", opts: cgroupOptions{FreezeAfter: time.Second}, wantErr: "positive durations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.parse()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse() error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q has more than one line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(): %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(cgroupLimits{})); diff != "" {
				t.Errorf("parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// writeLines shows cgroup writes as "controller file value", the part
// that matters to the kernel.
func writeLines(writes []cgroupWrite) []string {
	var lines []string
	for _, w := range writes {
		lines = append(lines, w.controller+" "+w.file+" "+w.value)
	}
	return lines
}

func TestCgroupWrites(t *testing.T) {
	all := cgroupLimits{memory: 100 << 20, memorySwap: 300 << 20, cpuQuota: 50000, cpuWeight: 100, pids: 64}
	tests := []struct {
		name     string
		limits   cgroupLimits
		swapFile bool
		v1, v2   []string
	}{
		{name: "none"},
		{name: "all", limits: all, swapFile: true,
			v1: []string{"memory memory.limit_in_bytes 104857600", "memory memory.memsw.limit_in_bytes 314572800",
				"cpu cpu.cfs_period_us 100000", "cpu cpu.cfs_quota_us 50000", "cpu cpu.shares 2597", "pids pids.max 64"},
			v2: []string{"memory memory.max 104857600", "memory memory.swap.max 209715200",
				"cpu cpu.max 50000 100000", "cpu cpu.weight 100", "pids pids.max 64"}},
		{name: "no swap accounting", limits: cgroupLimits{memory: 100 << 20, memorySwap: 200 << 20},
			v1: []string{"memory memory.limit_in_bytes 104857600"},
			v2: []string{"memory memory.max 104857600"}},
		{name: "unlimited swap and pids", limits: cgroupLimits{memory: 64 << 20, memorySwap: -1, pids: -1}, swapFile: true,
			v1: []string{"memory memory.limit_in_bytes 67108864", "memory memory.memsw.limit_in_bytes -1", "pids pids.max max"},
			v2: []string{"memory memory.max 67108864", "memory memory.swap.max max", "pids pids.max max"}},
		{name: "no swap", limits: cgroupLimits{memory: 64 << 20, memorySwap: 64 << 20}, swapFile: true,
			v1: []string{"memory memory.limit_in_bytes 67108864", "memory memory.memsw.limit_in_bytes 67108864"},
			v2: []string{"memory memory.max 67108864", "memory memory.swap.max 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.v1, writeLines(tt.limits.v1Writes(tt.swapFile))); diff != "" {
				t.Errorf("v1Writes mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.v2, writeLines(tt.limits.v2Writes(tt.swapFile))); diff != "" {
				t.Errorf("v2Writes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseV1Hierarchies(t *testing.T) {
	// As on a v1-hybrid host, with cpu and cpuacct mounted apart.
	hostMountinfo := `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:31 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:32 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:34 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:35 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`
	hostCgroups := `9:name=systemd:/
8:pids:/
6:freezer:/
5:devices:/
4:memory:/process_api/5c1b
2:cpuacct:/
1:cpu:/
0::/`
	// As inside docker on a v1 host: every mount shows only the
	// container's own cgroup, /docker/abc, and cpu,cpuacct are one.
	dockerMountinfo := `700 690 0:60 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs rw,mode=755
701 700 0:30 /docker/abc /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
702 700 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
703 700 0:34 /docker/abc /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
704 700 0:32 /docker/abc /sys/fs/cgroup/freezer rw,nosuid - cgroup cgroup rw,freezer`
	dockerCgroups := `12:pids:/docker/abc
7:freezer:/docker/abc
4:memory:/docker/abc/sub
3:cpu,cpuacct:/docker/abc
0::/`
	tests := []struct {
		name               string
		mountinfo, cgroups string
		want               []v1Hierarchy
	}{
		{name: "host", mountinfo: hostMountinfo, cgroups: hostCgroups, want: []v1Hierarchy{
			{controllers: []string{"memory"}, parent: "/sys/fs/cgroup/memory/process_api/5c1b"},
			{controllers: []string{"cpu"}, parent: "/sys/fs/cgroup/cpu"},
			{controllers: []string{"cpuacct"}, parent: "/sys/fs/cgroup/cpuacct"},
			{controllers: []string{"pids"}, parent: "/sys/fs/cgroup/pids"},
			{controllers: []string{"freezer"}, parent: "/sys/fs/cgroup/freezer"},
		}},
		{name: "docker", mountinfo: dockerMountinfo, cgroups: dockerCgroups, want: []v1Hierarchy{
			{controllers: []string{"memory"}, parent: "/sys/fs/cgroup/memory/sub"},
			{controllers: []string{"cpu", "cpuacct"}, parent: "/sys/fs/cgroup/cpu,cpuacct"},
			{controllers: []string{"pids"}, parent: "/sys/fs/cgroup/pids"},
			{controllers: []string{"freezer"}, parent: "/sys/fs/cgroup/freezer"},
		}},
		{name: "v2 only", mountinfo: "41 31 0:36 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw", cgroups: "0::/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseV1Hierarchies(tt.mountinfo, tt.cgroups)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(v1Hierarchy{})); diff != "" {
				t.Errorf("parseV1Hierarchies mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyedValue(t *testing.T) {
	cpuStat := "usage_usec 1520\nuser_usec 1000\nnr_periods 12\nnr_throttled 3\n"
	tests := []struct {
		text, key string
		want      int64
		found     bool
	}{
		{cpuStat, "usage_usec", 1520, true},
		{cpuStat, "nr_throttled", 3, true},
		{cpuStat, "throttled_usec", 0, false},
		{"oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill", 2, true},
		{"104857600\n", "", 104857600, true},
		{"max\n", "", 0, false},
	}
	for _, tt := range tests {
		got, found := keyedValue(tt.text, tt.key)
		if diff := cmp.Diff([]any{tt.want, tt.found}, []any{got, found}); diff != "" {
			t.Errorf("keyedValue(%q, %q) mismatch (-want +got):\n%s", tt.text, tt.key, diff)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{100 << 20, "100m"},
		{3 << 29, "1.5g"},
		{4096, "4k"},
		{745472, "728k"},
		{1000, "1000"},
		{2072576, "2.0m"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, formatSize(tt.n)); diff != "" {
			t.Errorf("formatSize(%d) mismatch (-want +got):\n%s", tt.n, diff)
		}
	}
}

func TestParseKernelRelease(t *testing.T) {
	tests := []struct {
		release      string
		major, minor int
		ok           bool
	}{
		{"6.1.0-18-amd64", 6, 1, true},
		{"5.7.0", 5, 7, true},
		{"5.4-rc1", 5, 4, true},
		{"6.18.44-fc-v657", 6, 18, true},
		{"garbage", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, ok := parseKernelRelease(tt.release)
		if diff := cmp.Diff([]any{tt.major, tt.minor, tt.ok}, []any{major, minor, ok}); diff != "" {
			t.Errorf("parseKernelRelease(%q) mismatch (-want +got):\n%s", tt.release, diff)
		}
	}
}

func TestUsageString(t *testing.T) {
	u := usage{peakMemory: 100 << 20, cpuTime: 1500 * time.Millisecond, peakPids: 3, oomKills: 1, memoryMax: 7, pidsMax: -1, throttled: 12}
	want := "peak memory 100m (104857600 bytes), CPU time 1.5s, peak processes 3, OOM kills 1, memory limit reached 7 times, throttled periods 12"
	if diff := cmp.Diff(want, u.String()); diff != "" {
		t.Errorf("usage.String mismatch (-want +got):\n%s", diff)
	}
}

func TestLeftoverName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"box-3f2a9c", true},
		{"box-3F2A9C", false},
		{"box-3f2a9", false},
		{"box-" + strings.Repeat("ab", 32), false}, // another runtime's, with a 64-digit id
		{"init", false},
		{"box", false},
	}
	for _, tt := range tests {
		if got := leftoverName.MatchString(tt.name); got != tt.want {
			t.Errorf("leftoverName.MatchString(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
