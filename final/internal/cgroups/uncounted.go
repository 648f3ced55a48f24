package cgroups

// uncounted.go removes a cgroup for a caller that keeps nothing the kernel
// counted in it: box-runc's delete. An engine reads a container's usage
// from its cgroup's files while the container runs (podman stats, the
// containerd shim), not from the runtime at delete, so reading the
// counter files there would be work whose result nobody sees.

import (
	"errors"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// RemoveUncounted deletes the cgroup as Remove does, without reading its
// counters: rmdir at once, and only on EBUSY (processes left, as in a
// container sharing the host's PID namespace) wait for the cgroup to
// empty, kill what stays, and remove again. A cgroup gone already is no
// error.
func (cg *Cgroup) RemoveUncounted() error {
	held := len(cg.locks) == len(cg.Dirs) && len(cg.locks) > 0
	defer cg.release()
	if !held && !cg.Exists() {
		return nil
	}
	v, err := versionOf(cg.Version)
	if err != nil {
		return err
	}
	narrate.Explain(narrate.Cgroup, "Remove the container's cgroup, now that its last process has left.")
	err = cg.removeDirs(sys.Rmdir)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	narrate.Explain(narrate.Cgroup, "EBUSY: processes are still in the container's cgroup. Wait for them to leave, and kill them if they do not.")
	if !cg.waitEmpty(2 * time.Second) {
		if err := v.kill(cg); err != nil {
			return err
		}
		cg.waitEmpty(2 * time.Second)
	}
	return cg.removeDirs(removeDir)
}
