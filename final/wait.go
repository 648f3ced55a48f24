package main

// wait.go is the wait command: block until containers exit, and print
// their exit codes, as docker wait does. It waits on the supervisor lock,
// which is released only after the exit has been recorded.

import (
	"fmt"
)

type waitCmd struct {
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

func (w *waitCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	for _, ref := range w.Containers {
		c, err := store.Get(ref)
		if err != nil {
			return err
		}
		if err := store.WaitSupervisor(c); err != nil {
			return err
		}
		c, err = store.Get(c.ID)
		if err != nil {
			return fmt.Errorf("container %s was removed when it exited (run --rm)", ref)
		}
		if c.ExitCode == nil {
			return fmt.Errorf("container %s has no exit code: its runtime was killed (see cleanup)", c.Name)
		}
		fmt.Println(*c.ExitCode)
	}
	return nil
}
