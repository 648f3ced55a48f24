package cgroups

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFilesOf checks the names inspect shows: v2's files as the state
// keeps them, and on v1 the files v1.go writes, with the values written.
func TestFilesOf(t *testing.T) {
	l := Limits{Memory: 64 << 20, MemorySwap: 128 << 20, CPUQuota: 50000, CPUWeight: 100, Pids: 50}
	v2 := map[string]string{"memory.max": "67108864", "memory.swap.max": "67108864", "cpu.max": "50000 100000", "cpu.weight": "100", "pids.max": "50"}
	if diff := cmp.Diff(v2, l.Files()); diff != "" {
		t.Fatalf("Files (-want +got):\n%s", diff)
	}
	got, err := FilesOf(l.Files(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v2, got); diff != "" {
		t.Errorf("v2 (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name  string
		files map[string]string
		swap  bool
		want  map[string]string
	}{
		{"every limit", l.Files(), true, map[string]string{"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "134217728",
			"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000", "cpu.shares": "2597", "pids.max": "50"}},
		{"no swap accounting", Limits{Memory: 32 << 20, MemorySwap: 64 << 20}.Files(), false, map[string]string{"memory.limit_in_bytes": "33554432"}},
		{"unlimited", Limits{Memory: 32 << 20, MemorySwap: -1, Pids: -1}.Files(), true,
			map[string]string{"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "-1", "pids.max": "max"}},
		{"none", nil, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v1Files(tt.files, tt.swap)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("v1 (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := FilesOf(nil, 3); err == nil {
		t.Error("FilesOf(nil, 3): want an error")
	}
}
