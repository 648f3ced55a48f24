package main

// rm.go is the rm command: forget a stopped container (with -f, kill a
// running one first), undoing what the plugins made for it.

import (
	"fmt"

	"box/final/internal/state"
)

type rmCmd struct {
	Force      bool     `short:"f" help:"Kill the container first if it runs."`
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

func (r *rmCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	for _, ref := range r.Containers {
		c, err := store.Get(ref)
		if err != nil {
			return err
		}
		switch st := c.CurrentStatus(); st {
		case state.Running, state.Paused:
			if !r.Force {
				return fmt.Errorf("container %s is %s; stop it first (box stop %s), or use rm -f", c.Name, st, c.Name)
			}
			if err := stopContainer(store, c, 0); err != nil {
				return err
			}
		case state.Created:
			if !r.Force {
				return fmt.Errorf("container %s is being created; wait, or use rm -f", c.Name)
			}
		}
		if err := removeContainer(store, c); err != nil {
			return err
		}
		fmt.Println(c.Name)
	}
	return nil
}

// removeContainer undoes what plugins made and deletes the state, after
// the supervisor (if any) has finished.
func removeContainer(store *state.Store, c *state.Container) error {
	if err := store.WaitSupervisor(c); err != nil {
		return err
	}
	if err := removePlugins(c, plugins); err != nil {
		return fmt.Errorf("remove %s: %w", c.Name, err)
	}
	if err := unmountBelow(c.Dir()); err != nil {
		return err
	}
	return store.Remove(c)
}
