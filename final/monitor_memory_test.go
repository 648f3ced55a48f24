package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMonitorArgs checks that main's fast path for the monitor takes the
// command line startDetached gives it, and nothing else.
func TestMonitorArgs(t *testing.T) {
	given := (&cli{StateDir: "/run/box", Store: "/var/lib/box"}).globalArgs()
	for _, tc := range []struct {
		args []string
		want *cli // nil: not the monitor's command line
		id   string
	}{
		{append(given, "monitor", "abc"), &cli{StateDir: "/run/box", Store: "/var/lib/box"}, "abc"},
		{[]string{"--state-dir", "/s", "--store", "/i", "--explain", "monitor", "abc"}, &cli{StateDir: "/s", Store: "/i", Explain: true}, "abc"},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor"}, nil, ""},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor", "a", "b"}, nil, ""},
		{[]string{"--store", "/i", "monitor", "abc"}, nil, ""},
		{[]string{"--state-dir", "/s", "--store", "/i", "--quiet", "monitor", "abc"}, nil, ""},
		{[]string{"--state-dir", "/s", "--store", "/i", "ps", "abc"}, nil, ""},
		{[]string{"monitor", "abc"}, nil, ""},
	} {
		type globals struct {
			StateDir, Store string
			Explain         bool
		}
		flags := func(c *cli) *globals {
			if c == nil {
				return nil
			}
			return &globals{c.StateDir, c.Store, c.Explain}
		}
		g, id, ok := monitorArgs(tc.args)
		if diff := cmp.Diff(flags(tc.want), flags(g)); diff != "" || ok != (tc.want != nil) || id != tc.id {
			t.Errorf("monitorArgs(%q) = _, %q, %v; want %q, %v; flags (-want +got):\n%s", tc.args, id, ok, tc.id, tc.want != nil, diff)
		}
	}
}
