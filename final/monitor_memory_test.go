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
		args   []string
		want   *cli // nil: not the monitor's command line
		id     string
		resume *monitorResume
	}{
		{append(given, "monitor", "abc"), &cli{StateDir: "/run/box", Store: "/var/lib/box"}, "abc", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "--explain", "monitor", "abc"}, &cli{StateDir: "/s", Store: "/i", Explain: true}, "abc", nil},
		{append(given, "monitor", "abc", "resume", "42", "-1", "7", "0"), &cli{StateDir: "/run/box", Store: "/var/lib/box"}, "abc",
			&monitorResume{pid: 42, status: -1, output: 7, unwritten: 0}},
		{[]string{"--state-dir", "/s", "--store", "/i", "--explain", "monitor", "abc", "resume", "42", "256", "-1", "10"}, &cli{StateDir: "/s", Store: "/i", Explain: true}, "abc",
			&monitorResume{pid: 42, status: 256, output: -1, unwritten: 10}},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor", "abc", "resume", "42", "x", "-1", "0"}, nil, "", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor", "abc", "resume", "42"}, nil, "", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor", "abc", "resum", "42", "0", "-1", "0"}, nil, "", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor"}, nil, "", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "monitor", "a", "b"}, nil, "", nil},
		{[]string{"--store", "/i", "monitor", "abc"}, nil, "", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "--quiet", "monitor", "abc"}, nil, "", nil},
		{[]string{"--state-dir", "/s", "--store", "/i", "ps", "abc"}, nil, "", nil},
		{[]string{"monitor", "abc"}, nil, "", nil},
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
		g, m, ok := monitorArgs(tc.args)
		id, resume := "", (*monitorResume)(nil)
		if m != nil {
			id, resume = m.ID, m.resume
		}
		if diff := cmp.Diff(flags(tc.want), flags(g)); diff != "" || ok != (tc.want != nil) || id != tc.id {
			t.Errorf("monitorArgs(%q) = _, %q, %v; want %q, %v; flags (-want +got):\n%s", tc.args, id, ok, tc.id, tc.want != nil, diff)
		}
		if diff := cmp.Diff(tc.resume, resume, cmp.AllowUnexported(monitorResume{})); diff != "" {
			t.Errorf("monitorArgs(%q): resume (-want +got):\n%s", tc.args, diff)
		}
	}
}
