package cgroups

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHugepageName(t *testing.T) {
	for kb, want := range map[int]string{64: "64KB", 2048: "2MB", 32768: "32MB", 1 << 20: "1GB", 16 << 20: "16GB"} {
		if got := hugepageName(kb); got != want {
			t.Errorf("hugepageName(%d) = %q, want %q", kb, got, want)
		}
	}
}

func TestNeeded(t *testing.T) {
	parents := []Dir{{Path: "/sys/fs/cgroup/cpu", Controllers: []string{"cpu"}}, {Path: "/sys/fs/cgroup/devices", Controllers: []string{"devices"}}}
	files := []File{
		{Name: "cpu.shares", Value: "1024"},
		{Name: "devices.allow", Value: "c 1:3 rwm"},
		{Name: "blkio.throttle.read_bps_device", Value: "8:0 1", Field: "linux.resources.blockIO.throttleReadBpsDevice[0]"},
		{Name: "net_cls.classid", Value: "1", Field: "linux.resources.network.classID"},
		{Name: "blkio.weight", Value: "500", Field: "linux.resources.blockIO.weight"},
	}
	names, by := needed(files, parents)
	if diff := cmp.Diff([]string{"blkio", "net_cls"}, names); diff != "" {
		t.Errorf("needed mismatch (-want +got):\n%s", diff)
	}
	if by["blkio"].Field != "linux.resources.blockIO.throttleReadBpsDevice[0]" {
		t.Errorf("blkio is needed first by %q, want the throttle", by["blkio"].Field)
	}
}

func TestParseV1ParentsOf(t *testing.T) {
	mountinfo := `26 25 0:23 / /sys/fs/cgroup/cpu rw,nosuid shared:10 - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:11 - cgroup cgroup rw,net_cls,net_prio
28 25 0:25 / /sys/fs/cgroup/blkio rw,nosuid shared:12 - cgroup cgroup rw,blkio
`
	own := "3:net_cls,net_prio:/a\n2:blkio:/\n1:cpu:/\n"
	want := []Dir{
		{Path: "/sys/fs/cgroup/net_cls,net_prio/a", Controllers: []string{"net_cls", "net_prio"}},
		{Path: "/sys/fs/cgroup/blkio", Controllers: []string{"blkio"}},
	}
	if diff := cmp.Diff(want, parseV1ParentsOf(mountinfo, own, []string{"net_cls", "net_prio", "blkio", "hugetlb"})); diff != "" {
		t.Errorf("parseV1ParentsOf mismatch (-want +got):\n%s", diff)
	}
}
