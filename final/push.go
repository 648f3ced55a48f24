package main

// push.go is the push command: a stored image to a registry.

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"box/final/internal/image"
	"box/final/internal/registry"
)

type pushCmd struct {
	Ref      string        `arg:"" name:"image" help:"A stored image, named with its registry: 127.0.0.1:5000/team/app:v1."`
	Registry registryFlags `embed:""`
}

func (p *pushCmd) Run(g *cli) error {
	if err := needImageRoot("push"); err != nil {
		return err
	}
	ref, err := image.ParseReference(p.Ref)
	if err != nil {
		return err
	}
	opts, err := p.Registry.options()
	if err != nil {
		return err
	}
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	img, err := s.Image(p.Ref)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	digest, err := registry.Push(ctx, s, img, ref, opts)
	if err != nil {
		return err
	}
	fmt.Printf("Pushed %s: %s, manifest %s\n", ref.Familiar(), image.Plural(len(img.Layers), "layer"), digest)
	return nil
}
