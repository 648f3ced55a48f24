package main

// history.go is the history command: the steps that made an image, the
// newest (the top of the stack of layers) first, as docker history lists
// them, with the digest and size of the layer each step made.

import (
	"fmt"
	"os"
	"text/tabwriter"

	"box/final/internal/image"
)

type historyCmd struct {
	Image string `arg:"" name:"image" help:"The image, like alpine:3.19."`
}

func (h *historyCmd) Run(g *cli) error {
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	img, err := s.Image(h.Image)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "LAYER\tSIZE\tCREATED\tCREATED BY")
	for _, row := range img.HistoryRows() {
		layer, created, createdBy := row.Layer, row.Created, row.CreatedBy
		if layer == "" {
			layer = "-" // a step that changed only the config
		}
		if created == "" {
			created = "-"
		}
		if createdBy == "" {
			createdBy = "(unknown)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", layer, image.HumanSize(row.Size), created, createdBy)
	}
	return w.Flush()
}
