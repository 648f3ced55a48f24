package main

// rmi.go is the rmi command: forget images, and delete the layers no
// other image has. A container that still runs on an image keeps it,
// unless -f, and keeps its layers even then.

import (
	"fmt"
	"strings"

	"box/final/internal/image"
	"box/final/internal/state"
)

type rmiCmd struct {
	Force  bool     `short:"f" help:"Remove the image even if a container runs on it; the layers it runs on stay until it is removed."`
	Images []string `arg:"" name:"image" help:"Images, like alpine:3.19."`
}

func (r *rmiCmd) Run(g *cli) error {
	if err := needImageRoot("rmi"); err != nil {
		return err
	}
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	containers, err := g.openStore()
	if err != nil {
		return err
	}
	for _, ref := range r.Images {
		img, err := s.Image(ref)
		if err != nil {
			return err
		}
		users, pinned, err := imageUsers(containers, img.Name)
		if err != nil {
			return err
		}
		if len(users) > 0 && !r.Force {
			return fmt.Errorf("image %s is in use by container %s; remove the container first (box rm -f %s), or use rmi -f", img.Name, strings.Join(users, ", "), users[0])
		}
		_, deleted, err := s.RemoveImage(img.Name, pinned)
		if err != nil {
			return err
		}
		fmt.Printf("Untagged: %s\n", img.Name)
		for _, d := range deleted {
			fmt.Printf("Deleted: %s\n", d)
		}
	}
	return nil
}

// imageUsers lists the containers that still have a root on their image
// (all but those that exited, whose root is gone), the names of those on
// image, and the layers they all run on, which must stay.
func imageUsers(containers *state.Store, image string) (users []string, pinned map[string]bool, err error) {
	all, err := containers.List()
	if err != nil {
		return nil, nil, err
	}
	pinned = map[string]bool{}
	for _, c := range all {
		if c.Config.Image == "" || c.CurrentStatus() == state.Exited {
			continue
		}
		for _, d := range c.Config.Layers {
			pinned[d] = true
		}
		if c.Config.Image == image {
			users = append(users, c.Name)
		}
	}
	return users, pinned, nil
}
