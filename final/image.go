package main

// image.go plugs the image store (internal/image) into a container's life:
// run IMAGE resolves the image to its layers, its environment, working
// directory and command; Create mounts the container's root, an overlay of
// the layers under a writable upper dir; Remove shows what the container
// changed and unmounts and deletes it all. The image commands (images,
// import, load, history, rmi, build) have a file each.

import (
	"fmt"
	"os"

	"box/final/internal/image"
	"box/final/internal/narrate"
	"box/final/internal/state"
)

// ImageCommands are the commands of the image store; the cli embeds them.
type ImageCommands struct {
	Images  imagesCmd  `cmd:"" help:"List the stored images."`
	Import  importCmd  `cmd:"" help:"Store a rootfs tarball (plain or gzipped) as a one-layer image."`
	Load    loadCmd    `cmd:"" help:"Store the images of a docker save archive or an OCI image layout."`
	History historyCmd `cmd:"" help:"List the steps that made an image, newest first, with the layer each made."`
	Rmi     rmiCmd     `cmd:"" help:"Remove images, and the layers no other image has."`
	Build   buildCmd   `cmd:"" help:"Build an image from a Dockerfile (FROM, ADD, COPY, ENV, WORKDIR, USER, CMD, ENTRYPOINT, RUN)."`
}

func init() {
	plugins = append(plugins, imagePlugin{})
	imageRootfs = resolveImage
}

// resolveImage fills what run takes from an image: the layers, the mount
// point of the container's root (under a new mount ID: the container has
// no ID yet), the environment, the working directory and CMD, the command
// when none is given; it returns ENTRYPOINT, which run puts in front.
func resolveImage(g *cli, ref string, cfg *state.Config) ([]string, error) {
	s, err := image.Open(g.Store)
	if err != nil {
		return nil, err
	}
	img, err := lookupImage(s, ref)
	if err != nil {
		return nil, err
	}
	cfg.Image = img.Name
	cfg.Layers = img.Digests()
	cfg.Rootfs = s.NewRoot().Rootfs()
	cfg.Env = append([]string(nil), img.Config.Env...)
	cfg.Command = append([]string(nil), img.Config.Cmd...)
	if img.Config.WorkingDir != "" {
		cfg.Workdir = img.Config.WorkingDir
	}
	cfg.User = img.Config.User
	return append([]string(nil), img.Config.Entrypoint...), nil
}

// buildImages are the images of build's steps so far, by the name the
// RUN steps' containers are run with; they live only while build runs.
var buildImages = map[string]image.Image{}

// upperCaptures take the upper dir of a container before it is deleted,
// by the image name the container runs: build keeps a RUN step's changes.
var upperCaptures = map[string]func(c *state.Container, upper string) error{}

// lookupImage finds an image: one of build's steps, or one in the store.
func lookupImage(s *image.Store, ref string) (image.Image, error) {
	if img, ok := buildImages[ref]; ok {
		return img, nil
	}
	return s.Image(ref)
}

// imagePlugin mounts and removes the root of containers run from images.
type imagePlugin struct{}

// Create mounts the container's root. The command is looked for in it
// now, on the host side, to say which image lacks it.
func (imagePlugin) Create(c *state.Container) error {
	if c.Config.Image == "" {
		return nil
	}
	root, err := image.RootOf(c.Config.Rootfs)
	if err != nil {
		return err
	}
	if err := root.Mount(c.Config.Layers, c.Config.IDMap, c.Dir()); err != nil {
		return err
	}
	path := envValue(c.Config.Env, "PATH")
	if _, err := findCommand(root.Rootfs(), c.Config.Command[0], path); err != nil {
		_ = root.Remove()
		if path == "" {
			path = defaultPath
		}
		fmt.Fprintf(os.Stderr, "%s: command %q not found in image %s (PATH %s)\n", programName, c.Config.Command[0], c.Config.Image, path)
		return exitCode(exitNotFound)
	}
	return nil
}

// Started has nothing to do: the root was ready before the container.
func (imagePlugin) Started(c *state.Container, pid int) error { return nil }

// Running unmounts the host's copy of the container's root: the
// container's mount namespace has its own, private by now, which its init
// stands on. Then the host's mount table does not hold it while the
// container runs, a killed runtime leaves no overlay mounted, and the
// exit costs one unmount less. A failure only leaves the mount to Remove.
func (imagePlugin) Running(c *state.Container) {
	if c.Config.Image == "" {
		return
	}
	if root, err := image.RootOf(c.Config.Rootfs); err == nil {
		_ = root.UnmountHostCopy()
	}
}

// Exec has nothing to do: exec joins the container's mount namespace,
// where the root already is.
func (imagePlugin) Exec(c *state.Container, pid int) error { return nil }

// Remove reports what the container changed (with --explain), hands the
// upper dir to build if it asked, and unmounts and deletes the root. It
// needs only the stored state, and does nothing if the root is gone.
func (imagePlugin) Remove(c *state.Container) error {
	if c.Config.Image == "" {
		return nil
	}
	root, err := image.RootOf(c.Config.Rootfs)
	if err != nil {
		return err
	}
	if _, err := os.Stat(root.Dir()); err != nil {
		return nil // removed already, or never made
	}
	if narrate.Enabled() {
		reportChanges(root, c.Config.Layers)
	}
	if capture := upperCaptures[c.Config.Image]; capture != nil {
		if err := capture(c, root.Upper()); err != nil {
			_ = root.Remove()
			return err
		}
	}
	return root.Remove()
}

// reportChanges narrates the container's changes, as docker diff lists
// them: all of them are in its upper dir, and the layers are untouched.
func reportChanges(root *image.Root, layers []string) {
	changes, err := image.Changes(root.Upper(), root.Lowers(layers))
	if err != nil {
		narrate.Explain(narrate.Layers, "Cannot list what the container changed: %v.", err)
		return
	}
	if len(changes) == 0 {
		narrate.Explain(narrate.Layers, "The container changed no file: its upper dir %s is empty.", root.Upper())
		return
	}
	narrate.Explain(narrate.Layers, "What the container changed is all in its upper dir %s (A added, C changed, D deleted); the layers are untouched:", root.Upper())
	for _, ch := range changes {
		narrate.Line(ch.String())
	}
}
