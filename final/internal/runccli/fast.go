package runccli

// fast.go reads the command lines an engine runs for every container,
// create, start, state, kill and delete, without kong: building kong's
// parser reflects over every command's struct and parses every tag, some
// milliseconds of CPU in each of the three or four box-runc processes a
// container costs. Anything else, and anything here that is not plainly
// well-formed (help, an unknown flag, a missing or extra argument, a
// value kong would check), goes to kong in box, whose errors and help are
// the command line's; both fill the same structs and run the same Run
// methods.

import (
	"os"
	"strconv"
	"strings"
)

// ParseFast reads args (normalized: --root, not -root) into g and one
// command, or returns false for kong to read them.
func ParseFast(g *CLI, args []string) (Command, bool) {
	g.Root, g.LogFormat = "/run/box-runc", "text" // kong's defaults
	var cmd string
	var positional []string
	var local map[string]func(string) bool // the command's flags with a value
	var localBool map[string]*bool
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			if cmd == "" {
				cmd = a
				var ok bool
				if local, localBool, ok = g.fastFlags(cmd); !ok {
					return Command{}, false
				}
				continue
			}
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		if b, ok := globalBool(g, name); ok && !hasValue {
			*b = true
			continue
		}
		if b, ok := localBool[name]; ok && !hasValue {
			*b = true
			continue
		}
		set, ok := globalValue(g, name)
		if !ok {
			set, ok = local[name]
		}
		if !ok {
			return Command{}, false // --help, -h, --version, --, or a flag kong must judge
		}
		if !hasValue {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
				return Command{}, false
			}
			i++
			value = args[i]
		}
		if !set(value) {
			return Command{}, false
		}
	}
	if g.LogFormat != "text" && g.LogFormat != "json" {
		return Command{}, false
	}
	return g.fastCommand(cmd, positional)
}

// globalBool and globalValue are the global flags, which kong accepts after
// the command too.
func globalBool(g *CLI, name string) (*bool, bool) {
	switch name {
	case "--debug":
		return &g.Debug, true
	case "--systemd-cgroup":
		return &g.SystemdCgroup, true
	case "--explain":
		return &g.Explain, true
	}
	return nil, false
}

func globalValue(g *CLI, name string) (func(string) bool, bool) {
	var p *string
	switch name {
	case "--root":
		p = &g.Root
	case "--log":
		p = &g.Log
	case "--log-format":
		p = &g.LogFormat
	case "--explain-log":
		p = &g.ExplainLog
	case "--criu":
		p = &g.Criu
	default:
		return nil, false
	}
	return func(v string) bool { *p = v; return true }, true
}

// fastFlags are the flags of command cmd, which g's command struct for
// it gets; ok is false for a command parseFast leaves to kong.
func (g *CLI) fastFlags(cmd string) (values map[string]func(string) bool, bools map[string]*bool, ok bool) {
	str := func(p *string) func(string) bool { return func(v string) bool { *p = v; return true } }
	switch cmd {
	case "create":
		c := &g.Create
		c.Bundle = "."
		return map[string]func(string) bool{
				"--bundle": str(&c.Bundle), "-b": str(&c.Bundle),
				"--pid-file": str(&c.PidFile), "--console-socket": str(&c.ConsoleSocket),
				"--preserve-fds": func(v string) bool {
					n, err := strconv.Atoi(v)
					c.PreserveFds = n
					return err == nil
				},
			}, map[string]*bool{"--no-pivot": &c.NoPivot, "--no-new-keyring": &c.NoNewKeyring},
			true
	case "delete":
		return nil, map[string]*bool{"--force": &g.Delete.Force, "-f": &g.Delete.Force}, true
	case "kill":
		return nil, map[string]*bool{"--all": &g.Kill.All, "-a": &g.Kill.All}, true
	case "start", "state":
		return nil, nil, true
	}
	return nil, nil, false
}

// fastCommand fills in the command's arguments and says how to run it.
func (g *CLI) fastCommand(cmd string, args []string) (Command, bool) {
	if len(args) == 0 || args[0] == "" {
		return Command{}, false
	}
	one := len(args) == 1
	switch cmd {
	case "create":
		c := &g.Create
		c.ID = args[0]
		return Command{Run: func(n *os.File) error { return c.Run(&g.Globals, n) }}, one
	case "start":
		c := &g.Start
		c.ID = args[0]
		return Command{Run: func(*os.File) error { return c.Run(&g.Globals) }, On: c}, one
	case "state":
		c := &g.State
		c.ID = args[0]
		return Command{Run: func(*os.File) error { return c.Run(&g.Globals) }}, one
	case "delete":
		c := &g.Delete
		c.ID = args[0]
		return Command{Run: func(*os.File) error { return c.Run(&g.Globals) }, On: c}, one
	case "kill":
		c := &g.Kill
		c.ID, c.Signal = args[0], "SIGTERM"
		if len(args) == 2 {
			c.Signal = args[1]
		}
		return Command{Run: func(*os.File) error { return c.Run(&g.Globals) }, On: c}, len(args) <= 2
	}
	return Command{}, false
}
