package main

// build.go is the build command: an image from a Dockerfile, one layer for
// each step that changes files. A RUN step runs in a container of the
// image so far, through run itself; the container's upper dir, which
// holds everything the command changed, becomes the step's layer.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"box/final/internal/image"
	"box/final/internal/image/dockerfile"
	"box/final/internal/state"

	"github.com/alecthomas/kong"
)

type buildCmd struct {
	File    string `short:"f" placeholder:"FILE" help:"The Dockerfile (default: CONTEXT/Dockerfile)."`
	Tag     string `short:"t" required:"" placeholder:"NAME" help:"Name for the image, like hello:1.0."`
	Context string `arg:"" optional:"" help:"The directory COPY and ADD read from (default: the Dockerfile's directory, or .)."`
}

func (b *buildCmd) Run(g *cli) error {
	if err := needImageRoot("build"); err != nil {
		return err
	}
	file, context := b.File, b.Context
	switch {
	case context == "" && file == "":
		context, file = ".", "Dockerfile"
	case context == "":
		context = filepath.Dir(file)
	case file == "":
		file = filepath.Join(context, "Dockerfile")
	}
	context, err := filepath.Abs(context)
	if err != nil {
		return fmt.Errorf("build context %s: %w", b.Context, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	instructions, err := dockerfile.Parse(f)
	f.Close()
	if err != nil {
		return err
	}
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	builder := &image.Builder{Store: s, Context: context, Out: os.Stdout}
	builder.Run = func(img image.Image, ins dockerfile.Instruction) (image.Layer, bool, error) {
		return runBuildStep(g, s, img, ins)
	}
	img, err := builder.Build(instructions, b.Tag)
	if err != nil {
		return err
	}
	fmt.Printf("Built %s: %s, image ID %s\n", img.Name, image.Plural(len(img.Layers), "layer"), img.ID)
	return nil
}

// runBuildStep runs the RUN step ins in a container of img through run
// itself, as "box run --rm IMAGE CMD..." (so every run flag has its
// default), and stores the container's upper dir as a layer, captured
// as the container is removed.
func runBuildStep(g *cli, s *image.Store, img image.Image, ins dockerfile.Instruction) (image.Layer, bool, error) {
	// Not a valid image name, so no image of the store can answer to it.
	ref := fmt.Sprintf("<Dockerfile line %d>", ins.Line)
	img.Name = ref
	buildImages[ref] = img
	defer delete(buildImages, ref)
	var layer image.Layer
	var isNew, captured bool
	upperCaptures[ref] = func(c *state.Container, upper string) error {
		if c.ExitCode == nil || *c.ExitCode != 0 {
			return nil // a failed step makes no layer
		}
		var err error
		layer, isNew, err = s.LayerFromUpper(upper, c.Config.IDMap, ins.Text)
		captured = err == nil
		return err
	}
	defer delete(upperCaptures, ref)
	var c cli
	parser, err := kong.New(&c, kong.Name(programName))
	if err != nil {
		return image.Layer{}, false, err
	}
	// RUN ignores ENTRYPOINT, as in docker: --entrypoint= clears it.
	ctx, err := parser.Parse(append(append(g.globalArgs(), "run", "--rm", "--entrypoint=", ref), ins.Args...))
	if err != nil {
		return image.Layer{}, false, fmt.Errorf("run: %w", err)
	}
	err = ctx.Run(&c)
	var code exitCode
	switch {
	case errors.As(err, &code):
		return image.Layer{}, false, fmt.Errorf("the command exited with status %d", int(code))
	case err != nil:
		return image.Layer{}, false, err
	case !captured:
		return image.Layer{}, false, errors.New("the container's changes could not be kept as a layer")
	}
	return layer, isNew, nil
}
