package main

import (
	"testing"

	"box/final/internal/runccli"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

// TestParseFastAgreesWithKong checks that the command lines parseFast
// reads come out as kong reads them, and that it leaves to kong what it
// should not read itself.
func TestParseFastAgreesWithKong(t *testing.T) {
	read := [][]string{
		{"create", "--bundle", "/b", "id"},
		{"--root", "/r", "create", "-b", "/b", "--pid-file", "/p", "id"},
		{"--root=/r", "--log", "/l", "--log-format", "json", "create", "--bundle=/b", "--console-socket", "/s", "--no-pivot", "--preserve-fds", "2", "id"},
		{"create", "id", "--bundle", "/b", "--explain-log", "/x", "--debug"},
		{"--explain", "create", "--no-new-keyring", "id"},
		{"start", "id"},
		{"--root", "/r", "state", "id"},
		{"delete", "--force", "id"},
		{"delete", "-f", "id"},
		{"kill", "id"},
		{"kill", "id", "9"},
		{"kill", "--all", "id", "KILL"},
		{"--systemd-cgroup", "--criu", "x", "start", "id"},
	}
	for _, args := range read {
		var fast ociCLI
		if _, ok := runccli.ParseFast(&fast.CLI, args); !ok {
			t.Errorf("%q: parseFast left it to kong", args)
			continue
		}
		var slow ociCLI
		parser, err := kong.New(&slow, kong.Name("box-runc"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := parser.Parse(args)
		if err != nil {
			t.Errorf("%q: kong: %v", args, err)
			continue
		}
		// Only what the command reads: kong sets every command's defaults.
		pick := func(g *ociCLI) any {
			global := []any{g.Root, g.Log, g.LogFormat, g.Debug, g.SystemdCgroup, g.Explain, g.ExplainLog, g.Criu}
			switch ctx.Command() {
			case "create <id>":
				return append(global, g.Create)
			case "start <id>":
				return append(global, g.Start)
			case "state <id>":
				return append(global, g.State)
			case "delete <id>":
				return append(global, g.Delete)
			case "kill <id>", "kill <id> <signal>":
				return append(global, g.Kill)
			}
			t.Fatalf("%q: command %q", args, ctx.Command())
			return nil
		}
		if diff := cmp.Diff(pick(&slow), pick(&fast)); diff != "" {
			t.Errorf("%q (-kong +parseFast):\n%s", args, diff)
		}
	}
	left := [][]string{
		{},
		{"--help"},
		{"--version"},
		{"-v"},
		{"start", "--version", "id"},
		{"create", "--help"},
		{"create", "-h", "id"},
		{"create"},
		{"create", "a", "b"},
		{"create", "--bundle"},
		{"create", "--preserve-fds", "x", "id"},
		{"create", "--no-pivot=true", "id"},
		{"--log-format", "xml", "start", "id"},
		{"--force", "delete", "id"},
		{"kill", "id", "-9"},
		{"kill", "id", "9", "x"},
		{"start", "--", "id"},
		{"list"},
		{"exec", "id", "sh"},
		{"run", "id"},
	}
	for _, args := range left {
		var g ociCLI
		if _, ok := runccli.ParseFast(&g.CLI, args); ok {
			t.Errorf("%q: parseFast read it; kong should", args)
		}
	}
}
