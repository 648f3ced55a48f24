package main

import (
	"strings"
	"testing"

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
		{name: "nothing"},
		{name: "memory", opts: cgroupOptions{Memory: "100m"}, want: cgroupLimits{memory: 100 << 20, memoryText: "100m"}},
		{name: "everything", opts: cgroupOptions{Memory: "1g", CPUs: "0.5", CPUWeight: 200, PidsLimit: 64},
			want: cgroupLimits{memory: 1 << 30, memoryText: "1g", cpuQuota: 50000, cpuWeight: 200, pids: 64}},
		{name: "no pids limit", opts: cgroupOptions{PidsLimit: -1}, want: cgroupLimits{pids: -1}},
		{name: "bad memory", opts: cgroupOptions{Memory: "lots"}, wantErr: `--memory "lots" is not a size`},
		{name: "tiny memory", opts: cgroupOptions{Memory: "1m"}, wantErr: "below the minimum of 6m"},
		{name: "bad weight", opts: cgroupOptions{CPUWeight: 20000}, wantErr: "--cpu-weight 20000 is out of range"},
		{name: "negative pids", opts: cgroupOptions{PidsLimit: -5}, wantErr: "--pids-limit -5"},
		{name: "too few pids", opts: cgroupOptions{PidsLimit: 3}, wantErr: "below the minimum of 8"},
		{name: "bad cpus", opts: cgroupOptions{CPUs: "lots"}, wantErr: `--cpus "lots" is not a number`},
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

func TestLimitFiles(t *testing.T) {
	tests := []struct {
		name   string
		limits cgroupLimits
		v1, v2 []string // "controller file value"
	}{
		{name: "none"},
		{name: "all", limits: cgroupLimits{memory: 100 << 20, cpuQuota: 50000, cpuWeight: 100, pids: 64},
			v1: []string{"memory memory.limit_in_bytes 104857600", "memory memory.memsw.limit_in_bytes 104857600",
				"cpu cpu.cfs_quota_us 50000", "cpu cpu.shares 2597", "pids pids.max 64"},
			v2: []string{"memory memory.max 104857600", "memory memory.swap.max 0",
				"cpu cpu.max 50000 100000", "cpu cpu.weight 100", "pids pids.max 64"}},
		{name: "no pids limit", limits: cgroupLimits{pids: -1},
			v1: []string{"pids pids.max max"}, v2: []string{"pids pids.max max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v1, v2 []string
			for _, f := range tt.limits.limitFiles() {
				v1 = append(v1, f.controller+" "+f.file[0]+" "+f.value[0])
				v2 = append(v2, f.controller+" "+f.file[1]+" "+f.value[1])
			}
			if diff := cmp.Diff(tt.v1, v1); diff != "" {
				t.Errorf("v1 mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.v2, v2); diff != "" {
				t.Errorf("v2 mismatch (-want +got):\n%s", diff)
			}
		})
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
