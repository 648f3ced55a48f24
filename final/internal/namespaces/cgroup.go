package namespaces

import (
	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// UnshareCgroup gives the calling thread, and the processes it starts, a
// cgroup namespace rooted at its current cgroup (cgroup_namespaces(7)):
// inside, /proc/self/cgroup shows the container's cgroup as "/", and the
// host's cgroup paths, which name the runtime and the container, stay out
// of sight. The init is multithreaded, but unshare(CLONE_NEWCGROUP), unlike
// CLONE_NEWUSER, needs no single thread: it changes the caller's own
// namespace set, which the command, forked from this thread, inherits.
func UnshareCgroup() error {
	narrate.Explain(narrate.Cgroup, "Make a cgroup namespace rooted at the cgroup the runtime just put us in: inside, /proc/self/cgroup shows \"/\".")
	return sys.Unshare(unix.CLONE_NEWCGROUP)
}
