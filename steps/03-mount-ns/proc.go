package main

// proc.go mounts /proc for the container's PID namespace.

import "golang.org/x/sys/unix"

// mountProc mounts a new proc filesystem at target. A proc mount shows the
// PID namespace of the process that mounts it, so ps inside sees only the
// container's processes.
func mountProc(target string) error {
	explain(featPID, "Mount a fresh /proc, so ps and top see only this PID namespace.")
	return mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}
