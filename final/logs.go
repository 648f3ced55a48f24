package main

// logs.go is the logs command: the output of a detached container, which
// its monitor wrote to a file in the container's state directory.

import (
	"fmt"
	"io"
	"os"
	"time"
)

type logsCmd struct {
	Follow    bool   `short:"f" help:"Keep printing what the container writes, until it exits."`
	Container string `arg:"" name:"container" help:"Name or ID of a container started with run -d."`
}

// followPoll is how often logs -f looks for more output: the log is a
// plain file, which has no way to say it grew.
const followPoll = 100 * time.Millisecond

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
	if _, err := io.Copy(os.Stdout, f); err != nil || !l.Follow {
		return err
	}
	// Follow: copy what is added, until the container has exited and
	// its last output is printed.
	for {
		running := c.CurrentStatus().Live()
		if _, err := io.Copy(os.Stdout, f); err != nil {
			return err
		}
		if !running {
			return nil
		}
		time.Sleep(followPoll)
		if c, err = store.Get(c.ID); err != nil {
			return nil // removed meanwhile (run -d --rm): its output ends here
		}
	}
}
