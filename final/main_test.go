package main

import (
	"reflect"
	"testing"

	"box/final/internal/runccli"

	"github.com/alecthomas/kong"
)

// TestNarrowParserKnowsEveryCommand checks that each command of the whole
// model (hidden ones too) gets a narrow model holding it, found by the name
// kong gives it, and that words which are not a plain command get the
// whole model.
func TestNarrowParserKnowsEveryCommand(t *testing.T) {
	var c cli
	full, err := kong.New(&c, kong.Name(programName))
	if err != nil {
		t.Fatal(err)
	}
	checkEveryCommand(t, full, reflect.TypeOf(cli{}), []string{"--state-dir", "/run/x", "-q"})
	var g ociCLI
	ociFull, err := kong.New(&g, kong.Name("box-runc"))
	if err != nil {
		t.Fatal(err)
	}
	checkEveryCommand(t, ociFull, reflect.TypeOf(ociCLI{}), []string{"--root", "/run/x", "--log-format=json", "--debug"})
	for _, args := range [][]string{
		nil, {"--help"}, {"-h", "ps"}, {"nope"}, {"Run"}, {"--", "ps"}, {"--bogus", "ps"},
		{"--explain=true", "ps"}, {"-qq", "ps"}, {"--state-dir"}, {"--state-dir", "ps"}, {"--state-dir", "-q", "ps"},
	} {
		if fields, _ := narrowModel(reflect.TypeOf(cli{}), args); fields != nil {
			t.Errorf("%q: got a narrow model, want the whole one", args)
		}
	}
}

// checkEveryCommand checks that each command of the whole model full of
// root type t has a narrow model holding it, after global flags global.
func checkEveryCommand(t *testing.T, full *kong.Kong, root reflect.Type, global []string) {
	t.Helper()
	for _, node := range full.Model.Children {
		for _, name := range append([]string{node.Name}, node.Aliases...) {
			fields, _ := narrowModel(root, append(global, name))
			if fields == nil {
				t.Errorf("command %q: no narrow model", name)
				continue
			}
			if last := fields[len(fields)-1]; !reflect.DeepEqual(last.Type, node.Target.Type()) {
				t.Errorf("command %q: narrow model holds %s, want %s", name, last.Type, node.Target.Type())
			}
		}
	}
}

// TestNarrowParserParsesAsTheWholeOne parses command lines, box's and
// box-runc's, with both models: what kong sets in the global flags and the
// command run must be the same.
func TestNarrowParserParsesAsTheWholeOne(t *testing.T) {
	for _, args := range [][]string{
		{"ps"},
		{"--state-dir=/run/x", "--store", "/var/x", "--explain", "ps", "-a", "--quiet"},
		{"-q", "run", "--rm", "-e", "A=1", "--memory", "64m", "--pull", "never", "--insecure-registry", "h:5000", "img", "sh", "-c", "echo hi"},
		{"run", "--rootfs", "/srv/root", "--", "ls", "-l"},
		{"exec", "-it", "c1", "sh"},
		{"stop", "-t", "3", "a", "b"},
		{"pull", "--platform", "linux/arm64", "alpine"},
		{"build", "-t", "x:1", "."},
		{"images"},
		{"rmi", "x:1"},
		{"--explain", "monitor", "abc"},
	} {
		var whole, narrow cli
		sameParse(t, &whole, &narrow, args)
	}
	for _, args := range [][]string{
		{"--root", "/r", "create", "--bundle", "b", "--pid-file", "p", "id"},
		{"-root", "/r", "-log", "l", "-log-format", "json", "create", "-b", "b", "--no-pivot", "id"},
		{"--log-format=json", "delete", "--force", "id"},
		{"kill", "id", "9"},
		{"--debug", "state", "id"},
		{"exec", "--pid-file", "p", "--process", "p.json", "--detach", "id"},
		{"ps", "-f", "json", "id"},
	} {
		var whole, narrow ociCLI
		sameParse(t, &whole, &narrow, runccli.NormalizeFlags(args))
	}
}

// sameParse parses args into whole with the whole model of its type and
// into narrow with newParser's.
func sameParse[T any](t *testing.T, whole, narrow *T, args []string) {
	t.Helper()
	full, err := kong.New(whole, kong.Name(programName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.Parse(args); err != nil {
		t.Fatalf("%q: whole model: %v", args, err)
	}
	parser, parsed, err := newParser(narrow, args, kong.Name(programName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(args); err != nil {
		t.Fatalf("%q: narrow model: %v", args, err)
	}
	parsed()
	// The whole model also sets the defaults of the commands not run.
	fields, index := narrowModel(reflect.TypeOf(*whole), args)
	if fields == nil {
		t.Fatalf("%q: no narrow model", args)
	}
	for _, at := range index {
		w, n := reflect.ValueOf(*whole).FieldByIndex(at), reflect.ValueOf(*narrow).FieldByIndex(at)
		if !reflect.DeepEqual(w.Interface(), n.Interface()) {
			t.Errorf("%q: field %v parsed differently:\nwhole  %+v\nnarrow %+v", args, at, w, n)
		}
	}
}

// BenchmarkParser builds the parser of box run, with the whole model (as
// box --help does) and with run's alone (as box run does).
func BenchmarkParser(b *testing.B) {
	args := []string{"--quiet", "run", "--rm", "img", "/bin/true"}
	b.Run("whole", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var c cli
			if _, _, err := newParser(&c, nil, kong.Name(programName)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("narrow", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var c cli
			if _, _, err := newParser(&c, args, kong.Name(programName)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
