package main

// pull.go is the pull command, and run's --pull: an image from a registry
// into the store (internal/registry does the talking).

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"box/final/internal/image"
	"box/final/internal/registry"
	"box/final/internal/sys"
)

// registryFlags say how to reach registries; pull, push and run take them.
type registryFlags struct {
	Platform string   `placeholder:"OS/ARCH[/VARIANT]" help:"The platform to take from a multi-platform image (default: this machine's, like linux/amd64)."`
	Insecure []string `name:"insecure-registry" sep:"none" placeholder:"HOST[:PORT]" help:"Speak plain HTTP to this registry (loopback registries always are); repeatable."`
	AuthFile string   `name:"auth-file" placeholder:"FILE" help:"Credentials, as docker's config.json (\"auths\"); default $DOCKER_CONFIG/config.json or ~/.docker/config.json."`
}

// options turns the flags into the registry package's options.
func (f registryFlags) options() (registry.Options, error) {
	p, err := registry.ParsePlatform(f.Platform)
	if err != nil {
		return registry.Options{}, err
	}
	return registry.Options{Insecure: f.Insecure, AuthFile: f.AuthFile, Platform: p}, nil
}

type pullCmd struct {
	Ref      string        `arg:"" name:"image" help:"[REGISTRY[:PORT]/]NAME[:TAG|@sha256:DIGEST]; alpine is docker.io/library/alpine:latest."`
	Registry registryFlags `embed:""`
}

func (p *pullCmd) Run(g *cli) error {
	if err := needImageRoot("pull"); err != nil {
		return err
	}
	img, err := pullImage(g, p.Ref, p.Registry, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("Pulled %s: %s, id %s\n", img.Name, image.Plural(len(img.Layers), "layer"), image.ShortDigest(img.ID))
	return nil
}

// pullImage pulls ref into the store, showing progress on out. Ctrl-C
// stops it cleanly: what was downloaded stays for the next pull to resume.
func pullImage(g *cli, ref string, flags registryFlags, out *os.File) (image.Image, error) {
	r, err := image.ParseReference(ref)
	if err != nil {
		return image.Image{}, err
	}
	opts, err := flags.options()
	if err != nil {
		return image.Image{}, err
	}
	s, err := image.Open(g.Store)
	if err != nil {
		return image.Image{}, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return registry.Pull(ctx, s, r, opts, out, sys.IsTerminal(int(out.Fd())))
}

// pullFlags are run's: when to pull, and how.
type pullFlags struct {
	Pull     string        `enum:"missing,always,never" default:"missing" help:"Pull the image first: when it is not in the store (missing), always, or never."`
	Registry registryFlags `embed:""`
}

// ensure pulls the image run names, as --pull asks, with progress on
// stderr: the container's stdout stays its own.
func (f pullFlags) ensure(g *cli, ref string) error {
	if f.Pull == "never" {
		return nil
	}
	if f.Pull == "missing" {
		if _, ok := buildImages[ref]; ok {
			return nil
		}
		s, err := image.Open(g.Store)
		if err != nil {
			return err
		}
		if _, err := s.Image(ref); err == nil {
			return nil
		}
		r, err := image.ParseReference(ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Image %s is not in the store; pulling it from %s\n", r.Familiar(), r.Domain)
	}
	if _, err := pullImage(g, ref, f.Registry, os.Stderr); err != nil {
		return fmt.Errorf("image %s is not in the store, and %w", ref, err)
	}
	return nil
}
