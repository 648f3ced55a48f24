package cgroups

// uncounted.go removes a cgroup for a caller that keeps nothing the kernel
// counted in it: box-runc's delete. An engine reads a container's usage
// from its cgroup's files while the container runs (podman stats, the
// containerd shim), not from the runtime at delete, so reading the
// counter files there would be work whose result nobody sees.

// RemoveUncounted deletes the cgroup as Remove does, without reading its
// counters. A cgroup gone already is no error.
func (cg *Cgroup) RemoveUncounted() error {
	_, err := cg.remove(nil)
	return err
}
