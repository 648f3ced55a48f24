package main

import (
	"reflect"
	"testing"

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
	for _, node := range full.Model.Children {
		for _, name := range append([]string{node.Name}, node.Aliases...) {
			fields, _ := narrowCLI([]string{"--state-dir", "/run/x", "-q", name})
			if fields == nil {
				t.Errorf("command %q: no narrow model", name)
				continue
			}
			if last := fields[len(fields)-1]; !reflect.DeepEqual(last.Type, node.Target.Type()) {
				t.Errorf("command %q: narrow model holds %s, want %s", name, last.Type, node.Target.Type())
			}
		}
	}
	for _, args := range [][]string{
		nil, {"--help"}, {"-h", "ps"}, {"nope"}, {"Run"}, {"--", "ps"}, {"--bogus", "ps"},
		{"--explain=true", "ps"}, {"-qq", "ps"}, {"--state-dir"}, {"--state-dir", "ps"}, {"--state-dir", "-q", "ps"},
	} {
		if fields, _ := narrowCLI(args); fields != nil {
			t.Errorf("%q: got a narrow model, want the whole one", args)
		}
	}
}

// TestNarrowParserParsesAsTheWholeOne parses command lines with both
// models: what kong sets in the global flags and the command run must be
// the same.
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
		full, err := kong.New(&whole, kong.Name(programName))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := full.Parse(args); err != nil {
			t.Fatalf("%q: whole model: %v", args, err)
		}
		parser, parsed, err := newParser(&narrow, args)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(args); err != nil {
			t.Fatalf("%q: narrow model: %v", args, err)
		}
		parsed()
		// The whole model also sets the defaults of the commands not run.
		_, index := narrowCLI(args)
		for _, at := range index {
			w, n := reflect.ValueOf(whole).FieldByIndex(at), reflect.ValueOf(narrow).FieldByIndex(at)
			if !reflect.DeepEqual(w.Interface(), n.Interface()) {
				t.Errorf("%q: field %v parsed differently:\nwhole  %+v\nnarrow %+v", args, at, w, n)
			}
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
			if _, _, err := newParser(&c, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("narrow", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var c cli
			if _, _, err := newParser(&c, args); err != nil {
				b.Fatal(err)
			}
		}
	})
}
