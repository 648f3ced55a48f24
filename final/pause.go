package main

// pause.go holds pause and unpause: the cgroup freezer stops every process
// of a container at once, without a signal they could see or handle.

import (
	"fmt"

	"box/final/internal/state"
)

type pauseCmd struct {
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

type unpauseCmd struct {
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

func (p *pauseCmd) Run(g *cli) error { return setFrozen(g, p.Containers, true) }

func (u *unpauseCmd) Run(g *cli) error { return setFrozen(g, u.Containers, false) }

// setFrozen freezes or thaws each container and records it.
func setFrozen(g *cli, refs []string, freeze bool) error {
	if freezer == nil {
		return errNoFreezer
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	for _, ref := range refs {
		c, err := store.Get(ref)
		if err != nil {
			return err
		}
		st := c.CurrentStatus()
		switch {
		case freeze && st != state.Running:
			return fmt.Errorf("container %s is %s, not running; only a running container can be paused", c.Name, st)
		case !freeze && st != state.Paused:
			return fmt.Errorf("container %s is %s, not paused", c.Name, st)
		}
		if err := freezer(c, freeze); err != nil {
			return err
		}
		next := state.Running
		if freeze {
			next = state.Paused
		}
		if err := store.Update(c, func(c *state.Container) error { c.Status = next; return nil }); err != nil {
			return err
		}
		fmt.Println(c.Name)
	}
	return nil
}
