package main

// load.go is the load command: the images of a docker save archive or of
// an OCI image layout, a directory or a tar of one, offline.

import (
	"fmt"
	"strings"

	"box/final/internal/image"
)

type loadCmd struct {
	File string `arg:"" type:"existingfile|existingdir" help:"A docker save archive (tar, maybe gzipped), or an OCI image layout: a directory or a tar of one."`
	Name string `arg:"" optional:"" help:"Name for the image, instead of the name the archive gives."`
}

func (l *loadCmd) Run(g *cli) error {
	if err := needImageRoot("load"); err != nil {
		return err
	}
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	imgs, err := s.Load(l.File, l.Name)
	if err != nil {
		return err
	}
	// One line per image, with all its names.
	type loaded struct {
		id     string
		names  []string
		layers int
	}
	var lines []*loaded
	for _, img := range imgs {
		if n := len(lines); n > 0 && lines[n-1].id == img.ID {
			lines[n-1].names = append(lines[n-1].names, img.Name)
			continue
		}
		lines = append(lines, &loaded{id: img.ID, names: []string{img.Name}, layers: len(img.Layers)})
	}
	for _, l := range lines {
		fmt.Printf("Loaded %s: %s\n", strings.Join(l.names, ", "), image.Plural(l.layers, "layer"))
	}
	return nil
}
