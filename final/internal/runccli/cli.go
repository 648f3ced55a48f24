// Package runccli is the part of runc's command line an engine runs for
// every container: create, start, state, kill and delete, read without
// kong (fast.go) and run. box-runc (final/cmd/box-runc), a program of its
// own, runs these, and hands any other command line to box, which runs
// them too under a name holding "runc", with the rest of runc's commands
// and kong's parser, help and errors (final/oci.go). A program that links
// no command line parser, image store or registry client starts in a
// little over half of box's time, and an engine starts three or four of
// them per container.
package runccli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"box/final/internal/lifecycle"
	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// Globals are runc's global flags, which kong accepts after the command
// too.
type Globals struct {
	Root          string `default:"/run/box-runc" placeholder:"DIR" help:"Where containers' state lives."`
	Log           string `placeholder:"FILE" help:"Write errors (and --debug lines) here instead of only to stderr."`
	LogFormat     string `name:"log-format" enum:"text,json" default:"text" help:"text, or json lines with level and msg (containerd's shim reads those)."`
	Debug         bool   `help:"Log each command line."`
	SystemdCgroup bool   `name:"systemd-cgroup" help:"Not supported: box manages cgroupfs paths; configure the engine with cgroup_manager=cgroupfs."`
	Explain       bool   `help:"Narrate every system call, as C, on stderr (or in --log with text format)."`
	ExplainLog    string `name:"explain-log" placeholder:"FILE" help:"Narrate as --explain does, appended to FILE instead of stderr: create's, the container process's, and every later command's on the container (engines keep create's stderr)."`
	Criu          string `hidden:"" help:"Accepted for compatibility; ignored."`
}

// CLI is the global flags and the commands of this package, as kong reads
// them in box's whole runc command line, which embeds CLI.
type CLI struct {
	Globals

	Create CreateCmd `cmd:"" help:"Create a container from a bundle; its process waits for start."`
	Start  StartCmd  `cmd:"" help:"Start a created container's program."`
	State  StateCmd  `cmd:"" help:"Print a container's state as the OCI spec's JSON."`
	Kill   KillCmd   `cmd:"" help:"Send a signal (default SIGTERM) to a container's process."`
	Delete DeleteCmd `cmd:"" help:"Delete a stopped container (--force: a running one too)."`
}

// Command is a command read from the command line, ready to run.
type Command struct {
	Run func(narration *os.File) error
	// On is the command's container, for the explain log; nil for create.
	On ContainerCommand
}

// ExitCode is an error that asks for an exit status: the container
// process's, for run and exec, after no message.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// ociRuntime is the command's state directory: one for the command, so
// the record it loaded is read once, by openExplainLog and the command.
var ociRuntime *lifecycle.Runtime

// Runtime is the state directory.
func (g *Globals) Runtime() *lifecycle.Runtime {
	if ociRuntime == nil || ociRuntime.Root != g.Root {
		ociRuntime = &lifecycle.Runtime{Root: g.Root}
	}
	return ociRuntime
}

// Main runs cmd, read from args into g, and returns the exit status.
func Main(g *Globals, cmd Command, args []string) int {
	if g.Debug {
		g.logLine("debug", "box-runc "+strings.Join(args, " "))
	}
	narration, explain := os.Stderr, g.Explain
	var out io.Writer = os.Stderr
	if f, err := g.openExplainLog(cmd.On); err != nil {
		g.LogError(err)
		return 1
	} else if f != nil {
		defer f.Close()
		narration, explain = f, true
		out = &headed{w: f, header: explainLogHeader(args)}
	} else if g.Log != "" && g.LogFormat == "text" && g.Explain {
		if f, err := os.OpenFile(g.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			narration, out = f, f
		}
	}
	narrate.Setup(explain, out, explain && narration == os.Stderr && sys.IsTerminal(2))
	if g.SystemdCgroup {
		g.LogError(errors.New("--systemd-cgroup is not supported: box-runc manages cgroupfs paths; set the engine's cgroup manager to cgroupfs"))
		return 1
	}
	err := cmd.Run(narration)
	var code ExitCode
	switch {
	case errors.As(err, &code):
		return int(code)
	case err != nil:
		g.LogError(err)
		return 1
	}
	return 0
}

// NormalizeFlags accepts runc's single-dash long flags (-root, -bundle),
// which urfave/cli takes and some callers use, as double-dash ones.
func NormalizeFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a[2:3], "abcdefghijklmnopqrstuvwxyz") {
			if name, _, _ := strings.Cut(a[1:], "="); len(name) > 1 {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// LogError reports err as one line on stderr, and in --log.
func (g *Globals) LogError(err error) {
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintf(os.Stderr, "box-runc: %s\n", msg)
	if g.Log != "" {
		g.logLine("error", msg)
	}
}

// logLine appends one line to --log, as text or as a JSON object with
// level, msg and time, as runc writes it.
func (g *Globals) logLine(level, msg string) {
	if g.Log == "" {
		return
	}
	f, err := os.OpenFile(g.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if g.LogFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(f, "%s\n", b)
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}
