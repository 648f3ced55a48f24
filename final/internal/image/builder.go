package image

// builder.go builds an image from a Dockerfile: one layer for each step
// that changes files (ADD, COPY, RUN), content addressed like every other
// layer, and a history entry for each step, those that change only the
// config (ENV, WORKDIR, CMD) marked empty_layer, as docker marks them.

import (
	"box/final/internal/users"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"box/final/internal/image/dockerfile"
)

// Builder builds images into a store.
type Builder struct {
	Store   *Store
	Context string    // the build context: the directory COPY and ADD read from
	Out     io.Writer // the steps, as they run
	// Run runs the RUN step ins (its command is ins.Args) in a container
	// of img, with img's environment and working directory, the way run
	// does, and stores what the container changed as a layer (see
	// LayerFromUpper). isNew says whether the store did not have that
	// layer before.
	Run func(img Image, ins dockerfile.Instruction) (l Layer, isNew bool, err error)

	img   Image
	added []string // layers this build added to the store
	// cmdSetHere says whether CMD was set since the last FROM: ENTRYPOINT
	// keeps such a CMD and drops an inherited one.
	cmdSetHere bool
}

// Build runs the instructions and stores the image as name.
func (b *Builder) Build(instructions []dockerfile.Instruction, name string) (img Image, err error) {
	if name, err = NormalizeName(name); err != nil {
		return Image{}, err
	}
	info, err := os.Stat(b.Context)
	if err != nil || !info.IsDir() {
		return Image{}, fmt.Errorf("build context %s is not a directory", b.Context)
	}
	unlock, err := b.Store.beginAdding()
	if err != nil {
		return Image{}, err
	}
	defer func() { unlock(); b.Store.undoAdding(err, b.added) }()
	for i, ins := range instructions {
		fmt.Fprintf(b.Out, "Step %d/%d : %s\n", i+1, len(instructions), ins.Text)
		if err := b.step(ins); err != nil {
			return Image{}, err
		}
	}
	b.img.Name, b.img.Created = name, time.Now().UTC()
	if err := b.img.setID(); err != nil {
		return Image{}, err
	}
	if err := b.Store.SaveImage(b.img); err != nil {
		return Image{}, err
	}
	return b.img, nil
}

// expanded are the instructions whose arguments get the image's
// environment variables substituted before they run, as in docker.
var expanded = map[string]bool{"ENV": true, "WORKDIR": true, "COPY": true, "ADD": true, "USER": true}

// step runs one instruction.
func (b *Builder) step(ins dockerfile.Instruction) error {
	if expanded[ins.Command] {
		args := make([]string, len(ins.Args))
		for i, a := range ins.Args {
			var err error
			if args[i], err = dockerfile.Expand(a, b.img.Config.Env); err != nil {
				return fmt.Errorf("Dockerfile line %d: %w", ins.Line, err)
			}
		}
		ins.Args = args
	}
	switch ins.Command {
	case "FROM":
		return b.from(ins)
	case "ENV":
		for _, kv := range ins.Args {
			b.img.Config.Env = setEnv(b.img.Config.Env, kv)
		}
	case "USER":
		if err := users.Check(ins.Args[0]); err != nil {
			return fmt.Errorf("Dockerfile line %d: %w", ins.Line, err)
		}
		b.img.Config.User = ins.Args[0]
	case "WORKDIR":
		b.img.Config.WorkingDir = b.resolve(ins.Args[0])
	case "CMD":
		b.img.Config.Cmd = ins.Args
		b.cmdSetHere = true
	case "ENTRYPOINT":
		// As docker does: a new ENTRYPOINT drops the CMD inherited from
		// FROM, which was written for the old one.
		if !b.cmdSetHere {
			b.img.Config.Cmd = nil
		}
		b.img.Config.Entrypoint = ins.Args
	case "ADD", "COPY":
		return b.addFiles(ins)
	case "RUN":
		return b.run(ins)
	default:
		return fmt.Errorf("Dockerfile line %d: %s is not supported", ins.Line, ins.Command)
	}
	b.record(ins, nil)
	fmt.Fprintf(b.Out, " ---> config only, no layer\n")
	return nil
}

// record adds the step to the history and its layer, if it made one.
func (b *Builder) record(ins dockerfile.Instruction, l *Layer) {
	h := History{Created: time.Now().UTC().Format(time.RFC3339), CreatedBy: ins.Text, EmptyLayer: l == nil}
	b.img.History = append(b.img.History, h)
	if l != nil {
		b.img.Layers = append(b.img.Layers, *l)
		fmt.Fprintf(b.Out, " ---> layer %s, %s\n", l.Digest, HumanSize(l.Size))
	}
}

// from starts from nothing, or from an image of the store.
func (b *Builder) from(ins dockerfile.Instruction) error {
	b.cmdSetHere = false
	if ins.Args[0] == "scratch" {
		b.img = Image{}
		fmt.Fprintf(b.Out, " ---> an empty image\n")
		return nil
	}
	base, err := b.Store.Image(ins.Args[0])
	if err != nil {
		return fmt.Errorf("Dockerfile line %d: FROM %s: %w", ins.Line, ins.Args[0], err)
	}
	b.img = base
	b.img.History = append([]History(nil), base.History...)
	fmt.Fprintf(b.Out, " ---> %s, %s\n", base.Name, Plural(len(base.Layers), "layer"))
	return nil
}

// run runs a command in a container of the image so far, and keeps what
// it changed as a layer.
func (b *Builder) run(ins dockerfile.Instruction) error {
	if len(b.img.Layers) == 0 {
		return fmt.Errorf("Dockerfile line %d: RUN needs files to run on, and the image has none yet: ADD a root filesystem first", ins.Line)
	}
	if b.Run == nil {
		return fmt.Errorf("Dockerfile line %d: this builder cannot RUN", ins.Line)
	}
	l, isNew, err := b.Run(b.img, ins)
	if err != nil {
		return fmt.Errorf("Dockerfile line %d: %s: %w", ins.Line, ins.Text, err)
	}
	b.keep(l, isNew)
	b.record(ins, &l)
	return nil
}

// keep notes a layer this build added, to delete it if the build fails.
func (b *Builder) keep(l Layer, isNew bool) {
	if isNew {
		b.added = append(b.added, l.Digest)
	}
}

// resolve makes a container path absolute from the working directory, as
// docker resolves COPY's destination and WORKDIR.
func (b *Builder) resolve(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	wd := b.img.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	return path.Join(wd, p)
}

// setEnv replaces or adds the KEY=VALUE setting kv in env.
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	out := append([]string(nil), env...)
	for i, e := range out {
		if strings.HasPrefix(e, key+"=") {
			out[i] = kv
			return out
		}
	}
	return append(out, kv)
}
