package main

import (
	"reflect"
	"sort"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

// TestRunFastAgreesWithKong checks that the run command lines
// parseRunFast reads come out as kong reads them (the global flags and
// run's, defaults included), and that it leaves to kong what it should.
func TestRunFastAgreesWithKong(t *testing.T) {
	read := [][]string{
		{"run", "img"},
		{"run", "--rm", "bench-busybox:1", "/bin/true"},
		{"--state-dir", "/s", "--store=/st", "run", "--rm", "--userns", "host", "img", "true"},
		{"-q", "--explain", "run", "-it", "--name", "web", "img", "sh", "-c", "echo -n hi; ls -l"},
		{"run", "-d", "-e", "A=1", "--env", "B=2", "--env=C", "-v", "/h:/c:ro", "--volume=/a:/b", "img"},
		{"run", "--explain", "-w", "/srv", "-u", "1000:1000", "--hostname", "h1", "--read-only", "--no-init", "img", "id"},
		{"run", "--userns-map", "200000:65536", "--rootfs", "/srv/root", "ls", "-l", "--", "x"},
		{"run", "--security-opt", "seccomp=unconfined", "--net", "veth", "--subnet", "10.9.0.0/16", "-p", "8080:80", "img"},
		{"run", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--cpu-weight", "200", "--pids-limit", "100", "img"},
		{"run", "--pull", "never", "--platform", "linux/arm64", "--insecure-registry", "h:5000", "--auth-file", "/a.json", "img"},
		{"run", "-d", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "--name=", "img"},
		{"run", "-ti", "-d", "--rm", "--rm", "--userns=", "img", "--rm"},
		{"-qq", "run", "-itd", "img"}, {"--state-dir", "run", "run", "img"},
	}
	for _, args := range read {
		var fast cli
		if !parseRunFast(&fast, args) {
			t.Errorf("%q: parseRunFast left it to kong", args)
			continue
		}
		var slow cli
		parser, err := kong.New(&slow, kong.Name(programName))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(args); err != nil {
			t.Errorf("%q: kong: %v", args, err)
			continue
		}
		// Only what run reads: kong sets every command's defaults.
		pick := func(c *cli) any { return []any{c.StateDir, c.Store, c.Explain, c.Quiet, c.Run} }
		if diff := cmp.Diff(pick(&slow), pick(&fast), cmp.AllowUnexported(intFlag{})); diff != "" {
			t.Errorf("%q (-kong +parseRunFast):\n%s", args, diff)
		}
	}
	left := [][]string{
		{}, {"run"}, {"run", "--rm"}, {"--help", "run", "img"}, {"run", "-h", "img"}, {"run", "--help"},
		{"ps"}, {"exec", "c", "sh"}, {"run", "--", "img"}, {"run", "--bogus", "img"},
		{"run", "--userns", "guest", "img"}, {"run", "--pull", "sometimes", "img"},
		{"run", "--memory-swap", "-1", "-m", "64m", "img"}, {"run", "--pids-limit", "-1", "img"},
		{"run", "--pids-limit", "x", "img"}, {"run", "--entrypoint", "", "img"}, {"run", "--rm=true", "img"},
		{"run", "-m=64m", "img"}, {"run", "-e=C", "img"}, {"run", "-eA=1", "img"}, {"run", "-ix", "img"}, {"run", "--name"},
		{"--state-dir", "run", "img"},
	}
	for _, args := range left {
		var c cli
		if parseRunFast(&c, args) {
			t.Errorf("%q: parseRunFast read it; kong should", args)
		}
	}
}

// TestRunFastKnowsKongsFlags: the flags parseRunFast finds by their tags
// are the flags kong's model of run has, by the same names.
func TestRunFastKnowsKongsFlags(t *testing.T) {
	var c cli
	parser, err := kong.New(&c, kong.Name(programName))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, node := range parser.Model.Children {
		if node.Name != "run" {
			continue
		}
		for _, group := range node.AllFlags(false) {
			for _, f := range group {
				if f.Name == "help" {
					continue
				}
				want = append(want, "--"+f.Name)
				if f.Short != 0 {
					want = append(want, "-"+string(f.Short))
				}
			}
		}
	}
	byName := map[string]fastFlag{}
	cv := reflect.ValueOf(&c).Elem()
	fastFlags(cv, byName, func(f reflect.StructField) bool { _, cmd := f.Tag.Lookup("cmd"); return !cmd })
	fastFlags(cv.FieldByName("Run"), byName, func(f reflect.StructField) bool { _, arg := f.Tag.Lookup("arg"); return !arg })
	var got []string
	for name := range byName {
		got = append(got, name)
	}
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags (-kong +parseRunFast):\n%s", diff)
	}
}
