package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseArgs checks the command line final/monitor_memory.go builds.
func TestParseArgs(t *testing.T) {
	got, err := parseArgs([]string{"box-monitor", "42", "8", "9", "-1", "/run/box/containers/abc/container.log", "10485760", "3",
		"/usr/bin/box", "--state-dir", "/run/box", "monitor", "abc"})
	if err != nil {
		t.Fatal(err)
	}
	want := args{pid: 42, output: 8, box: 9, explain: -1, log: "/run/box/containers/abc/container.log", maxSize: 10 << 20, maxFiles: 3,
		boxArgv: []string{"/usr/bin/box", "--state-dir", "/run/box", "monitor", "abc"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(args{})); diff != "" {
		t.Errorf("parseArgs (-want +got):\n%s", diff)
	}
	for _, bad := range [][]string{
		{"box-monitor"},
		{"box-monitor", "42", "8", "9", "-1", "/log", "0", "1"},
		{"box-monitor", "x", "8", "9", "-1", "/log", "0", "1", "box"},
		{"box-monitor", "42", "8", "9", "-1", "/log", "10m", "1", "box"},
	} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) took it", bad)
		}
	}
}
