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
	"runtime"
	"strings"

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
	if g, id, ok := monitorArgs(os.Args[1:]); ok {
		runtime.MemProfileRate = 0 // no heap profile: its buckets stay
		narrate.Setup(g.Explain, os.Stderr, sys.IsTerminal(int(os.Stderr.Fd())))
		exitWith((&monitorCmd{ID: id}).Run(g))
		return
	}
	var c cli
	parser, err := kong.New(&c, kong.Name(programName), kong.Description(description),
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
	narrate.Setup(c.Explain && !c.Quiet, os.Stderr, sys.IsTerminal(int(os.Stderr.Fd())))
	exitWith(ctx.Run(&c))
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
