// Command box is a small container runtime with docker's commands, built
// from the kernel features the steps introduce one at a time: namespaces,
// pivot_root, capabilities, and (through the cgroup, network and image
// packages) cgroups, network interfaces and overlay layers.
//
// This file is only the command line. Each command is in a file of its
// own (run.go, exec.go, ps.go, ...), and the kernel work is in packages by
// concern under internal/, all of it through internal/sys, the one package
// that makes system calls and narrates them with --explain.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"box/final/internal/narrate"
	"box/final/internal/runinit"
	"box/final/internal/state"
	"box/final/internal/sys"

	"github.com/alecthomas/kong"
)

const description = `A container runtime that shows its work: run --explain prints every system
call it makes to build a container, as C, with one sentence saying why.`

// cli is the command line; kong builds the parser and --help from it.
type cli struct {
	StateDir string `name:"state-dir" default:"/run/box" placeholder:"DIR" help:"Where container state lives (a tmpfs, forgotten at reboot)."`
	Store    string `name:"store" default:"/var/lib/box" placeholder:"DIR" help:"Where images and layers are kept."`
	Explain  bool   `help:"Narrate every system call on stderr, as C, grouped by kernel feature."`
	Quiet    bool   `short:"q" help:"Do not narrate (the default); wins over --explain."`

	Run     runCmd     `cmd:"" help:"Run a command in a new container."`
	Exec    execCmd    `cmd:"" help:"Run a command in a running container, in all its namespaces."`
	Ps      psCmd      `cmd:"" help:"List containers."`
	Top     topCmd     `cmd:"" help:"List a container's processes, with their PIDs on the host and inside."`
	Stats   statsCmd   `cmd:"" help:"Show running containers' CPU, memory and processes, from their cgroups."`
	Inspect inspectCmd `cmd:"" help:"Show a container's state, namespaces and limits as JSON."`
	Logs    logsCmd    `cmd:"" help:"Print the output of a detached container."`
	Stop    stopCmd    `cmd:"" help:"Stop containers: SIGTERM, then SIGKILL after a grace period."`
	Kill    killCmd    `cmd:"" help:"Send a signal to containers."`
	Rm      rmCmd      `cmd:"" help:"Remove stopped containers (-f: running ones too)."`
	Pause   pauseCmd   `cmd:"" help:"Freeze every process of containers (cgroup freezer)."`
	Unpause unpauseCmd `cmd:"" help:"Thaw paused containers."`
	Wait    waitCmd    `cmd:"" help:"Wait for containers to exit and print their exit codes."`
	Cleanup cleanupCmd `cmd:"" help:"Remove what a killed runtime left behind: state, mounts, processes."`

	ImageCommands // images, import, load, history, rmi, build: see image.go

	Pull pullCmd `cmd:"" help:"Pull an image from a registry (distribution API v2) into the store."`
	Push pushCmd `cmd:"" help:"Push a stored image to a registry."`

	Monitor monitorCmd `cmd:"" hidden:"" help:"Internal: supervises a detached container."`
	Escape  escapeCmd  `cmd:"" hidden:"" help:"Try the classic chroot escape; copy this program into a rootfs and run it inside."`
}

// exitCode carries a status out of a command to main, after any message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Exit statuses, as docker uses them, so the runtime's failures are not
// mistaken for the command's own status.
const (
	exitSetupFailed = runinit.ExitSetupFailed // the container could not be set up, or bad input
	exitCannotRun   = runinit.ExitCannotRun   // the command exists but cannot be executed
	exitNotFound    = runinit.ExitNotFound    // the command does not exist in the container
)

func main() {
	// Started as box-runc (or any name holding "runc"): the runc command
	// line, for container engines (oci.go).
	if strings.Contains(filepath.Base(os.Args[0]), "runc") {
		os.Exit(ociMain(os.Args[1:]))
	}
	// A detached container's monitor lives as long as the container: it
	// skips building the parser too (monitor_memory.go).
	if g, m, ok := monitorArgs(os.Args[1:]); ok {
		runtime.MemProfileRate = 0 // no heap profile: its buckets stay
		narrate.Setup(g.Explain, os.Stderr, sys.IsTerminal(int(os.Stderr.Fd())))
		exitWith(m.Run(g))
		return
	}
	var c cli
	// box run's everyday command lines without kong (run_args.go).
	if parseRunFast(&c, os.Args[1:]) {
		narrate.Setup(c.Explain && !c.Quiet, os.Stderr, sys.IsTerminal(int(os.Stderr.Fd())))
		exitWith(c.Run.Run(&c))
		return
	}
	c = cli{}
	parser, parsed, err := newParser(&c, os.Args[1:], kong.Name(programName), kong.Description(description),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}))
	if err != nil {
		fail(err)
	}
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		// One line: what is wrong, and where to look.
		fmt.Fprintf(os.Stderr, "%s: %v (see %s --help)\n", programName, err, programName)
		os.Exit(exitSetupFailed)
	}
	parsed()
	narrate.Setup(c.Explain && !c.Quiet, os.Stderr, sys.IsTerminal(int(os.Stderr.Fd())))
	exitWith(ctx.Run(&c))
}

// newParser builds kong's parser of args for root, a pointer to a struct
// of global flags and commands (cli; box-runc's ociCLI). kong builds its
// model of a command line by reflection over every field of every
// command's struct: a millisecond and more at each start, cold, to parse
// one command. So when args plainly name a command (the first word, after
// global flags only), the model is of a struct made at run time of root's
// global flags and that one command's field, with their tags: the same
// flags, help and errors, from the same source. parsed then copies what
// kong set into root; call it after Parse, even a failed one. Anything
// else (no command, an unknown one, --help, a flag this does not look
// for) gets the model of the whole struct, so --help and the error for an
// unknown command read as they always did.
func newParser(root any, args []string, options ...kong.Option) (parser *kong.Kong, parsed func(), err error) {
	fields, index := narrowModel(reflect.TypeOf(root).Elem(), args)
	if fields == nil {
		parser, err = kong.New(root, options...)
		return parser, func() {}, err
	}
	narrow := reflect.New(reflect.StructOf(fields)).Elem()
	parser, err = kong.New(narrow.Addr().Interface(), options...)
	return parser, func() {
		whole := reflect.ValueOf(root).Elem()
		for i := range fields {
			whole.FieldByIndex(index[i]).Set(narrow.Field(i))
		}
	}, err
}

// narrowModel returns the fields of the struct newParser builds for args
// from struct type t, each with its index in t: the global flags and the
// command args name; or nil when args name none plainly.
func narrowModel(t reflect.Type, args []string) (fields []reflect.StructField, index [][]int) {
	var commands []reflect.StructField
	takesValue := map[string]bool{} // the global flags
	eachField(t, nil, func(f reflect.StructField) {
		if _, cmd := f.Tag.Lookup("cmd"); cmd {
			commands = append(commands, f)
			return
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		index = append(index, f.Index)
		takesValue["--"+flagName(f)] = f.Type.Kind() != reflect.Bool
		if short := f.Tag.Get("short"); short != "" {
			takesValue["-"+short] = f.Type.Kind() != reflect.Bool
		}
	})
	name := firstCommand(args, takesValue)
	for _, f := range commands {
		if name != "" && slices.Contains(commandNames(f), name) {
			return append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}), append(index, f.Index)
		}
	}
	return nil, nil
}

// eachField calls visit with each field of struct type t, its Index the
// path to it from the outer struct, going into embedded structs (ImageCommands) as
// kong does.
func eachField(t reflect.Type, at []int, visit func(reflect.StructField)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		f.Index = append(append([]int(nil), at...), i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			eachField(f.Type, f.Index, visit)
			continue
		}
		visit(f)
	}
}

// firstCommand is the first word of args that is not a global flag or its
// value: the command. It is "" when a word before it is a flag that is not
// global (--help, -h, --) or written in a way not looked for here
// (--explain=true, -qq), or a flag's value looks like a flag: kong's
// whole model then parses, and says what it says.
func firstCommand(args []string, takesValue map[string]bool) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a
		}
		name, _, inline := strings.Cut(a, "=")
		value, global := takesValue[name]
		switch {
		case !global || inline && !value:
			return ""
		case value && !inline:
			if i+1 == len(args) || strings.HasPrefix(args[i+1], "-") {
				return ""
			}
			i++
		}
	}
	return ""
}

// commandNames are the names a command field answers to, as kong names
// it: its name tag, or its field name in lower case with dashes between
// words, and its aliases.
func commandNames(f reflect.StructField) []string {
	names := []string{flagName(f)}
	if aliases := f.Tag.Get("aliases"); aliases != "" {
		names = append(names, strings.Split(aliases, ",")...)
	}
	return names
}

// flagName is a field's name on the command line: kong's, from its name
// tag or else its Go name (StateDir: state-dir).
func flagName(f reflect.StructField) string {
	if name := f.Tag.Get("name"); name != "" {
		return name
	}
	var b strings.Builder
	for i, r := range f.Name {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(f.Name[i-1])) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// exitWith ends the program with err's exit code: the container's, or 125
// with one line for an error of the runtime itself.
func exitWith(err error) {
	var code exitCode
	switch {
	case errors.As(err, &code):
		os.Exit(int(code))
	case err != nil:
		fail(err)
	}
}

// programName is what error messages call the runtime.
const programName = "box"

// fail prints err as one line and exits with the setup-failure status.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", programName, strings.TrimSpace(err.Error()))
	os.Exit(exitSetupFailed)
}

// openStore opens the state directory, checking --state-dir first.
func (c *cli) openStore() (*state.Store, error) {
	if !filepath.IsAbs(c.StateDir) {
		return nil, fmt.Errorf("--state-dir %q must be an absolute path, like /run/box", c.StateDir)
	}
	if !filepath.IsAbs(c.Store) {
		return nil, fmt.Errorf("--store %q must be an absolute path, like /var/lib/box", c.Store)
	}
	return state.Open(c.StateDir)
}

// needRoot fails unless we are root: namespaces and mounts need it.
func needRoot(command string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s needs root: use sudo, or a container started with --privileged", command)
	}
	return nil
}

// globalArgs are the global flags to pass to a copy of ourselves.
func (c *cli) globalArgs() []string {
	args := []string{"--state-dir", c.StateDir, "--store", c.Store}
	if narrate.Enabled() {
		args = append(args, "--explain")
	}
	return args
}
