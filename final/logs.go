package main

// logs.go is the logs command: the output of a detached container, which
// its monitor wrote to a file in the container's state directory.

import (
	"fmt"
	"io"
	"os"
)

type logsCmd struct {
	Container string `arg:"" name:"container" help:"Name or ID of a container started with run -d."`
}

func (l *logsCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	c, err := store.Get(l.Container)
	if err != nil {
		return err
	}
	if !c.Config.Detach {
		return fmt.Errorf("container %s ran in the foreground, so its output went to the terminal; logs are kept for run -d", c.Name)
	}
	f, err := os.Open(c.LogPath())
	if err != nil {
		return fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	defer f.Close()
	_, err = io.Copy(os.Stdout, f)
	return err
}
