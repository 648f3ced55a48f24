package main

// ps.go is the ps command: a table of containers, as docker ps prints it.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"box/final/internal/state"
)

type psCmd struct {
	All bool `short:"a" help:"Show every container, not only running ones."`
	IDs bool `name:"quiet-ids" help:"Print only the IDs."`
}

func (p *psCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	all, err := store.List()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	if !p.IDs {
		fmt.Fprintln(w, "NAME\tID\tPID\tSTATUS\tCREATED\tCOMMAND")
	}
	for _, c := range all {
		st := c.CurrentStatus()
		if !p.All && !st.Live() {
			continue
		}
		if p.IDs {
			fmt.Fprintln(w, c.ShortID())
			continue
		}
		pid := "-"
		if st.Live() {
			pid = strconv.Itoa(c.Pid)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.ShortID(), pid, describeStatus(c, st),
			ago(c.Created), shorten(strings.Join(c.Config.Command, " "), 40))
	}
	return w.Flush()
}

// describeStatus says the status as docker ps does: "exited (0)".
func describeStatus(c *state.Container, st state.Status) string {
	if st == state.Exited && c.ExitCode != nil {
		return fmt.Sprintf("exited (%d)", *c.ExitCode)
	}
	return string(st)
}

// ago is how long ago t was, roughly: "3 minutes ago".
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// shorten cuts s to n characters, with an ellipsis.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
