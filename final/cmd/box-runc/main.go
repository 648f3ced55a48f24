// Command box-runc is box's runc command line, for container engines
// (podman --runtime, docker's "runtimes", containerd's runc shim). It
// runs the commands an engine runs for every container, create, start,
// state, kill and delete (internal/runccli), and executes box, which it
// finds next to its own executable, for any other command line: box
// answers to the whole runc command line, help and errors included, when
// started under a name holding "runc" (final/oci.go). It is a program of
// its own so that the three or four processes an engine starts per
// container are small: without box's command line parser, image store
// and registry client, one starts in a little over half of box's time.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"box/final/internal/runccli"

	"golang.org/x/sys/unix"
)

func main() {
	var g runccli.CLI
	if cmd, ok := runccli.ParseFast(&g, runccli.NormalizeFlags(os.Args[1:])); ok {
		os.Exit(runccli.Main(&g.Globals, cmd, os.Args[1:]))
	}
	// The rest is box's: the same program under our name (argv[0] holds
	// "runc"), so that what an engine sees stays the same.
	self, err := os.Executable()
	if err == nil {
		box := filepath.Join(filepath.Dir(self), "box")
		err = unix.Exec(box, os.Args, os.Environ())
		err = fmt.Errorf("this command line is box's, and box is not next to box-runc (%s: %w): build it there with make build, or go build -o %s ./final", box, err, box)
	}
	g.LogError(err)
	os.Exit(1)
}
