// Package runinit is the container side of box run: what box-init (the
// small program in final/cmd/box-init) does when started as "box-init
// init" in the container's new namespaces. It builds the container's view
// of the system in order, then starts the command and stays as its init
// (or, with --no-init, becomes the command). box run's supervisor
// (final/supervise.go) imports only this file's types and descriptor
// numbers; the rest is linked into box-init alone.
package runinit

import (
	"box/final/internal/state"
	"box/final/internal/sys"
)

// The descriptors the init gets beyond stdin, stdout, stderr.
const (
	FDSpec      = 3 // a pipe: the Spec as JSON, closed once the host side is ready
	FDConsole   = 4 // with -t: a socket to send the terminal's master side back on
	FDNarration = 5 // where the init narrates and reports setup errors
	FDReady     = 6 // a pipe: the init writes "ready" when the command starts
	FDExec      = 7 // with a user namespace: the listening socket for box exec
	FDNarrateOn = 8 // detached, with --explain: explain.log, where the init narrates once the command runs
	// FDProgram is box-init itself, opened O_PATH by the supervisor and
	// executed as /proc/self/fd/9: the path of the program may not be
	// searchable by the container's root, whose host uid is unprivileged,
	// and the descriptor is the init's first close.
	FDProgram = 9
)

// Spec is what the runtime tells the container's init.
type Spec struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Config  state.Config `json:"config"`
	Explain bool         `json:"explain"`
	Color   bool         `json:"color"`
	Winsize sys.Winsize  `json:"winsize"`
}

// Exit statuses, as docker uses them, so the runtime's failures are not
// mistaken for the command's own status.
const (
	ExitSetupFailed = 125 // the container could not be set up, or bad input
	ExitCannotRun   = 126 // the command exists but cannot be executed
	ExitNotFound    = 127 // the command does not exist in the container
)

// DefaultPath is the PATH of a container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
