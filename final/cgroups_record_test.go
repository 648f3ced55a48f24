package main

import (
	"encoding/json"
	"testing"

	"box/final/internal/cgroups"
)

// TestEncodeCgroupRecordLikeMarshalIndent: cgroup.json by hand is
// json.MarshalIndent's, byte for byte.
func TestEncodeCgroupRecordLikeMarshalIndent(t *testing.T) {
	peak := int64(1 << 20)
	dirs := []cgroups.Dir{{Path: "/sys/fs/cgroup/memory/box-1", Controllers: []string{"memory"}},
		{Path: "/sys/fs/cgroup/cpu,cpuacct/box-<1>&", Controllers: nil}}
	for name, rec := range map[string]cgroupRecord{
		"v1":         {Cgroup: &cgroups.Cgroup{Version: 1, Dirs: dirs}},
		"v2, no dir": {Cgroup: &cgroups.Cgroup{Version: 2}},
		"none":       {},
		"usage":      {Cgroup: &cgroups.Cgroup{Version: 2, Dirs: dirs[:1]}, Usage: &cgroups.Usage{MemoryPeak: &peak}},
		"not UTF-8":  {Cgroup: &cgroups.Cgroup{Version: 1, Dirs: []cgroups.Dir{{Path: "/x\xff"}}}},
	} {
		want, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeCgroupRecord(rec)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: encodeCgroupRecord:\n%s (%v)\njson.MarshalIndent:\n%s", name, got, err, want)
		}
	}
}
