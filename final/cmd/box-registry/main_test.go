package main

import (
	"reflect"
	"strings"
	"testing"
)

// TestParse reads the command lines box gives (final/pull.go's
// runRegistry), and refuses what box never gives.
func TestParse(t *testing.T) {
	global := []string{"--state-dir", "/run/box", "--store", "/var/lib/box"}
	tests := []struct {
		args []string
		want request
	}{
		{append(global, "pull", "--", "alpine"),
			request{store: "/var/lib/box", command: "pull", ref: "alpine"}},
		{append(global, "--explain", "pull", "--platform", "linux/arm64", "--insecure-registry", "a:5000", "--insecure-registry", "b", "--auth-file", "/x.json", "--for-run", "--", "-odd"),
			request{store: "/var/lib/box", explain: true, command: "pull", ref: "-odd", forRun: true, platform: "linux/arm64", insecure: []string{"a:5000", "b"}, authFile: "/x.json"}},
		{append(global, "push", "--auth-file", "/x.json", "--", "127.0.0.1:5000/a:1"),
			request{store: "/var/lib/box", command: "push", ref: "127.0.0.1:5000/a:1", authFile: "/x.json"}},
	}
	for _, tt := range tests {
		got, err := parse(tt.args)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parse(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
	for _, args := range [][]string{
		nil,
		{"pull", "--", "alpine"},         // no --store
		append(global, "pull", "alpine"), // no --
		append(global, "--", "alpine"),   // no command
		append(global, "push", "--for-run", "--", "x"),   // only a pull is run's
		append(global, "pull", "--bogus", "--", "x"),     // not a flag box gives
		append(global, "pull", "--", "a", "b"),           // one image
		append(global, "pull", "--platform"),             // no value
		append(global, "pull", "push", "--", "alpine:1"), // two commands
	} {
		if _, err := parse(args); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("parse(%q): %v, want one line of error", args, err)
		}
	}
}
