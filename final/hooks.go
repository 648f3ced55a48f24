package main

// hooks.go is where the code for cgroups, networks and images plugs into a
// container's life, so run.go, exec.go and cleanup.go need not know them.
// Each such package registers a plugin in an init function of a file here
// (cgroups.go, network.go, image.go); until then the lists are empty and
// containers run with namespaces only, on a --rootfs directory.

import (
	"errors"
	"sync"
	"syscall"

	"box/final/internal/narrate"
	"box/final/internal/state"
)

// plugin is one concern that adds to a container on the host side.
type plugin interface {
	// Create prepares the container on the host before its process exists
	// (make a cgroup, mount an overlay), recording in c what it made, and
	// may add to c.Config (Rootfs, Layers, Limits, Namespaces, Env).
	Create(c *state.Container) error
	// Started runs once the container's init exists, before it sets
	// anything up: move it into the cgroup, a veth into its network
	// namespace, write its id maps.
	Started(c *state.Container, pid int) error
	// Exec runs in box exec, with pid the exec process itself, after it
	// joined the container's namespaces and before it forks the command,
	// which inherits what Exec sets (join the container's cgroup).
	Exec(c *state.Container, pid int) error
	// Remove undoes Create. cleanup runs it too, for containers that a
	// killed runtime left behind, so it must work from the stored state
	// alone and accept that some of it is already gone.
	Remove(c *state.Container) error
}

// cloneHook is a plugin that takes part in the clone(2) of the container's
// init itself: the cgroup code sets SysProcAttr.UseCgroupFD, so that the
// kernel creates the init right in its cgroup (clone3 CLONE_INTO_CGROUP).
type cloneHook interface {
	CloneAttr(c *state.Container, attr *syscall.SysProcAttr) error
}

// threadHook is a plugin that moves the thread that forks the container's
// init, before the clone(2), since a child starts where that thread is,
// and back with leave after: the cgroup code does in v1, where clone3
// cannot create the init in a cgroup. The thread is locked to its
// goroutine and forks nothing else.
type threadHook interface {
	EnterThread(c *state.Container) (leave func() error, err error)
}

// runningHook is a plugin with something to do once the container's
// command runs, and so once the init has made its own mounts private: the
// image code unmounts the host's copy of the container's root then.
type runningHook interface {
	Running(c *state.Container)
}

// sweeper is a plugin that can find what killed runtimes left behind
// without a container's state (a cgroup, a veth pair's host end): cleanup
// runs Sweep before it looks at the containers, and reports each removal.
type sweeper interface {
	Sweep() (removed []string, err error)
}

// plugins are the registered plugins, called in this order (Remove in the
// reverse order).
var plugins []plugin

// freezer pauses (freeze) or resumes a container; the cgroup code sets it.
var freezer func(c *state.Container, freeze bool) error

// errNoFreezer is pause's answer while no cgroup code is registered.
var errNoFreezer = errors.New("pause needs cgroups (the freezer), which this build does not have yet")

// imageRootfs resolves run's IMAGE argument to a root filesystem, filling
// c.Rootfs, c.Image, c.Layers and the image's defaults (c.Command is its
// CMD), and returns the image's ENTRYPOINT; the image store sets it.
var imageRootfs func(g *cli, image string, c *state.Config) (entrypoint []string, err error)

// createPlugins runs Create of every plugin; on failure it removes what the
// others made. What they make is independent (a cgroup, the overlay root,
// a sweep of stale veth ends) and most of their time is the kernel's, so
// without narration they work at once, a thread each; with it they take
// turns, so that the story reads in the order the calls were made.
func createPlugins(c *state.Container) error {
	if narrate.Enabled() {
		for i, p := range plugins {
			if err := p.Create(c); err != nil {
				removePlugins(c, plugins[:i])
				return err
			}
		}
		return nil
	}
	errs := eachPlugin(plugins, func(p plugin) error { return p.Create(c) })
	var made []plugin
	var first error
	for i, err := range errs {
		if err == nil {
			made = append(made, plugins[i])
		} else if first == nil {
			first = err
		}
	}
	if first != nil {
		removePlugins(c, made)
	}
	return first
}

// removePlugins runs Remove of the given plugins and returns the first
// error after trying them all: last first with narration, else at once,
// as createPlugins does.
func removePlugins(c *state.Container, ps []plugin) error {
	if !narrate.Enabled() {
		for _, err := range eachPlugin(ps, func(p plugin) error { return p.Remove(c) }) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	var first error
	for i := len(ps) - 1; i >= 0; i-- {
		if err := ps[i].Remove(c); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// eachPlugin calls do for each plugin at once, the first in this goroutine
// and each other in one of its own, and returns their errors in order.
func eachPlugin(ps []plugin, do func(p plugin) error) []error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i := 1; i < len(ps); i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = do(ps[i])
		}(i)
	}
	if len(ps) > 0 {
		errs[0] = do(ps[0])
	}
	wg.Wait()
	return errs
}
