package main

// images.go is the images command: the store's images, as docker images
// lists them.

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"box/final/internal/image"
)

type imagesCmd struct{}

func (imagesCmd) Run(g *cli) error {
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tIMAGE ID\tLAYERS\tSIZE\tCREATED")
	for _, img := range imgs {
		created := "-"
		if !img.Created.IsZero() {
			created = img.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", img.Name, image.ShortDigest(img.ID), len(img.Layers), image.HumanSize(img.Size()), created)
	}
	return w.Flush()
}
