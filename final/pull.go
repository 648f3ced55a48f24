package main

// pull.go is the pull command, and run's --pull: an image from a registry
// into the store. The registry client (internal/registry) is a program of
// its own, box-registry, next to box (cmd/box-registry): box parses the
// command line, and box-registry does the talking, prints what a pull
// prints and exits with box's status, so that net/http and crypto/tls are
// linked into no other box process (see runRegistry).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"box/final/internal/image"
	"box/final/internal/sys"
)

// registryFlags say how to reach registries; pull, push and run take them.
type registryFlags struct {
	Platform string   `placeholder:"OS/ARCH[/VARIANT]" help:"The platform to take from a multi-platform image (default: this machine's, like linux/amd64)."`
	Insecure []string `name:"insecure-registry" sep:"none" placeholder:"HOST[:PORT]" help:"Speak plain HTTP to this registry (loopback registries always are); repeatable."`
	AuthFile string   `name:"auth-file" placeholder:"FILE" help:"Credentials, as docker's config.json (\"auths\"); default $DOCKER_CONFIG/config.json or ~/.docker/config.json."`
}

// args are the flags as box-registry takes them: box's names.
func (f registryFlags) args() []string {
	var args []string
	if f.Platform != "" {
		args = append(args, "--platform", f.Platform)
	}
	for _, host := range f.Insecure {
		args = append(args, "--insecure-registry", host)
	}
	if f.AuthFile != "" {
		args = append(args, "--auth-file", f.AuthFile)
	}
	return args
}

type pullCmd struct {
	Ref      string        `arg:"" name:"image" help:"[REGISTRY[:PORT]/]NAME[:TAG|@sha256:DIGEST]; alpine is docker.io/library/alpine:latest."`
	Registry registryFlags `embed:""`
}

func (p *pullCmd) Run(g *cli) error {
	if err := needImageRoot("pull"); err != nil {
		return err
	}
	return runRegistry(g, "pull", p.Registry.args(), p.Ref)
}

// runRegistry runs box-registry, found next to box, with the global flags,
// command (pull or push), its flags and the image: box-registry prints
// what the command prints, its errors as box's, on box's stdout and
// stderr, and box exits with its status. Ctrl-C reaches both (the
// terminal's process group): box waits for box-registry to stop cleanly,
// and passes on a SIGINT or SIGTERM sent to box alone; SIGKILL kills both.
// Starting it is not narrated: it is a program of box's own, which
// narrates what it asks of the kernel itself with --explain.
func runRegistry(g *cli, command string, flags []string, ref string) error {
	path, err := sys.RegistryProgram()
	if err != nil {
		return err
	}
	args := append(append(append(g.globalArgs(), command), flags...), "--", ref)
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Killed with box (SIGKILL), it stops with it: the parent death signal
	// follows the thread that started it, so that thread stays ours.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-signals:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				return err // nil: it succeeded
			}
			if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
				return exitCode(128 + int(status.Signal()))
			}
			return exitCode(exit.ExitCode())
		}
	}
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
	// box-registry says "image REF is not in the store, and" why not.
	return runRegistry(g, "pull", append(f.Registry.args(), "--for-run"), ref)
}
