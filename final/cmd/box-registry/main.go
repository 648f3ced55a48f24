// Command box-registry is box's registry client: box pull, box push and
// box run --pull start it, with box's global flags and the command's. It
// is a program of its own, not box itself, so that the registry client's
// net/http and crypto/tls, whose package initialization alone is a third
// of box's, are linked into no other box process: not into box run, ps or
// stop, nor box-runc. box parses and checks the command line (its --help
// and errors are box's) and finds box-registry next to its own executable
// (make build puts it in bin/ beside box); what box-registry prints, and
// its exit status, are box's.
//
//	box-registry [--state-dir DIR] --store DIR [--explain] pull [FLAGS] [--for-run] -- IMAGE
//	box-registry [--state-dir DIR] --store DIR [--explain] push [FLAGS] -- IMAGE
//
// FLAGS are the registry flags of box pull and push (--platform,
// --insecure-registry, --auth-file), each as --name VALUE. --for-run is
// box run --pull's pull: progress on stderr (the container's stdout stays
// its own), no summary, and the error says the image is not in the store.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"box/final/internal/image"
	"box/final/internal/narrate"
	"box/final/internal/registry"
	"box/final/internal/sys"
)

// exitSetupFailed is box's status for its own failures, as docker's.
const exitSetupFailed = 125

// request is one pull or push, as box asks it.
type request struct {
	store    string
	explain  bool
	command  string // pull or push
	ref      string
	forRun   bool
	platform string
	insecure []string
	authFile string
}

func main() {
	r, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "box-registry: %v: it is box's registry client, started by box pull, box push and box run --pull (see box --help)\n", err)
		os.Exit(exitSetupFailed)
	}
	narrate.Setup(r.explain, os.Stderr, sys.IsTerminal(int(os.Stderr.Fd())))
	// Ctrl-C stops a pull cleanly: what was downloaded stays for the next
	// pull to resume.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if r.command == "pull" {
		err = pull(ctx, r)
	} else {
		err = push(ctx, r)
	}
	stop()
	if err != nil {
		// One line, as box prints its errors.
		fmt.Fprintf(os.Stderr, "box: %s\n", strings.TrimSpace(err.Error()))
		os.Exit(exitSetupFailed)
	}
}

// parse reads the command line box gives; its flags are box's names.
func parse(args []string) (request, error) {
	var r request
	value := func(i *int) (string, error) {
		if *i+1 >= len(args) {
			return "", fmt.Errorf("%s needs a value", args[*i])
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		var err error
		switch a := args[i]; {
		case a == "--":
			if r.command == "" || len(args)-i != 2 {
				return r, errors.New("want pull or push, then -- IMAGE")
			}
			r.ref = args[i+1]
			if r.store == "" {
				return r, errors.New("no --store")
			}
			return r, nil
		case a == "--state-dir":
			_, err = value(&i)
		case a == "--store":
			r.store, err = value(&i)
		case a == "--explain":
			r.explain = true
		case (a == "pull" || a == "push") && r.command == "":
			r.command = a
		case a == "--for-run" && r.command == "pull":
			r.forRun = true
		case a == "--platform" && r.command != "":
			r.platform, err = value(&i)
		case a == "--insecure-registry" && r.command != "":
			var host string
			host, err = value(&i)
			r.insecure = append(r.insecure, host)
		case a == "--auth-file" && r.command != "":
			r.authFile, err = value(&i)
		default:
			return r, fmt.Errorf("unexpected %q", a)
		}
		if err != nil {
			return r, err
		}
	}
	return r, errors.New("want pull or push, then -- IMAGE")
}

// options turns the flags into the registry package's options.
func (r request) options() (registry.Options, error) {
	p, err := registry.ParsePlatform(r.platform)
	if err != nil {
		return registry.Options{}, err
	}
	return registry.Options{Insecure: r.insecure, AuthFile: r.authFile, Platform: p}, nil
}

// pull pulls r.ref into the store, showing progress on stdout, or on
// stderr for run.
func pull(ctx context.Context, r request) error {
	out := os.Stdout
	if r.forRun {
		out = os.Stderr
	}
	img, err := pullImage(ctx, r, out)
	if r.forRun {
		if err != nil {
			return fmt.Errorf("image %s is not in the store, and %w", r.ref, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Printf("Pulled %s: %s, id %s\n", img.Name, image.Plural(len(img.Layers), "layer"), image.ShortDigest(img.ID))
	return nil
}

// pullImage pulls r.ref into the store, showing progress on out.
func pullImage(ctx context.Context, r request, out *os.File) (image.Image, error) {
	ref, err := image.ParseReference(r.ref)
	if err != nil {
		return image.Image{}, err
	}
	opts, err := r.options()
	if err != nil {
		return image.Image{}, err
	}
	s, err := image.Open(r.store)
	if err != nil {
		return image.Image{}, err
	}
	return registry.Pull(ctx, s, ref, opts, out, sys.IsTerminal(int(out.Fd())))
}

// push pushes the stored image r.ref to the registry its name says.
func push(ctx context.Context, r request) error {
	ref, err := image.ParseReference(r.ref)
	if err != nil {
		return err
	}
	opts, err := r.options()
	if err != nil {
		return err
	}
	s, err := image.Open(r.store)
	if err != nil {
		return err
	}
	img, err := s.Image(r.ref)
	if err != nil {
		return err
	}
	digest, err := registry.Push(ctx, s, img, ref, opts)
	if err != nil {
		return err
	}
	fmt.Printf("Pushed %s: %s, manifest %s\n", ref.Familiar(), image.Plural(len(img.Layers), "layer"), digest)
	return nil
}
