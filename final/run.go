package main

// run.go is the run command: check the input, record the container, and
// start it in the foreground (this process supervises it) or, with -d, in
// the background (a monitor process supervises it, see monitor.go).

import (
	"box/final/internal/users"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"box/final/internal/namespaces"
	"box/final/internal/rootfs"
	"box/final/internal/runinit"
	"box/final/internal/state"
	"box/final/internal/sys"
)

type runCmd struct {
	Detach      bool          `short:"d" help:"Run in the background and print the container ID; see its output with logs."`
	Name        string        `help:"Name the container (default: its short ID)."`
	Rm          bool          `help:"Remove the container when it exits."`
	Interactive bool          `short:"i" help:"Keep stdin open, so the command reads your input."`
	TTY         bool          `short:"t" help:"Give the command a pseudo-terminal; with -i, an interactive shell with job control."`
	Env         []string      `short:"e" name:"env" sep:"none" placeholder:"K=V" help:"Set an environment variable; K alone takes its value from here."`
	Workdir     string        `short:"w" placeholder:"DIR" help:"Working directory in the container, created if missing (default /)."`
	Volumes     []string      `short:"v" name:"volume" sep:"none" placeholder:"HOST:CTR[:ro]" help:"Bind-mount host path HOST at CTR; :ro makes it read-only."`
	Hostname    string        `placeholder:"NAME" help:"The container's hostname (default: its short ID)."`
	ReadOnly    bool          `name:"read-only" help:"Mount the container's root read-only."`
	NoInit      bool          `name:"no-init" help:"Make the command PID 1 itself, without the small init that reaps zombies and forwards signals."`
	UsernsMap   string        `name:"userns-map" placeholder:"HOSTID:SIZE" help:"Map container uids and gids 0..SIZE-1 to host ids from HOSTID (default 100000:65536)."`
	Userns      string        `name:"userns" enum:",host" default:"" placeholder:"host" help:"host: no user namespace, so root inside is root on the host (less safe)."`
	Rootfs      string        `placeholder:"DIR" help:"Run on this root filesystem directory instead of an image."`
	User        string        `short:"u" placeholder:"USER[:GROUP]" help:"Run the command as this user (a name from the container's /etc/passwd, or a uid) and group; default the image's USER, or root."`
	Entrypoint  *string       `placeholder:"CMD" help:"Run CMD instead of the image's ENTRYPOINT (\"\" for none); the image's CMD is then not used."`
	SecurityOpt []string      `name:"security-opt" sep:"none" placeholder:"seccomp=unconfined" help:"seccomp=unconfined: no syscall filter (unshare, keyctl, io_uring... work again)."`
	Network     networkFlags  `embed:""`
	Resources   resourceFlags `embed:""`
	Pull        pullFlags     `embed:""`
	Log         logFlags      `embed:""`
	Args        []string      `arg:"" optional:"" passthrough:"partial" name:"cmd" help:"IMAGE CMD [ARG...], or with --rootfs: CMD [ARG...]."`
}

// defaultPath is the PATH of a container whose image sets none.
const defaultPath = runinit.DefaultPath

// validHostname is what sethostname accepts and resolvers expect: labels
// of letters, digits and dashes, at most 64 characters in all.
func checkHostname(name string) error {
	if len(name) > 64 {
		return fmt.Errorf("hostname %q is longer than 64 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
			strings.IndexFunc(label, func(r rune) bool {
				return !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			}) >= 0 {
			return fmt.Errorf("hostname %q is not valid: use letters, digits and dashes, like --hostname web-1", name)
		}
	}
	return nil
}

func (r *runCmd) Run(g *cli) error {
	if err := needRoot("run"); err != nil {
		return err
	}
	cfg, err := r.config(g)
	if err != nil {
		return err
	}
	if r.Name != "" {
		if err := state.CheckName(r.Name); err != nil {
			return err
		}
	}
	if r.TTY && r.Interactive && !r.Detach && !sys.IsTerminal(int(os.Stdin.Fd())) {
		return errors.New("-it needs a terminal on stdin, and this is not one; drop -t, or run from a terminal")
	}
	// An image's root exists once mounted: the image store looks there.
	if _, err := findCommand(cfg.Rootfs, cfg.Command[0], envValue(cfg.Env, "PATH")); cfg.Image == "" && err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return exitCode(exitNotFound)
	}
	if err := sys.CloseInheritedFiles(); err != nil {
		return err
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	c, err := store.Create(r.Name, cfg)
	if err != nil {
		return err
	}
	if r.Detach {
		return startDetached(g, store, c)
	}
	return runForeground(g, store, c)
}

// config checks the command line and turns it into the container's Config.
func (r *runCmd) config(g *cli) (state.Config, error) {
	cfg := state.Config{
		Workdir: "/", Hostname: r.Hostname, ReadOnly: r.ReadOnly, TTY: r.TTY,
		Interactive: r.Interactive, NoInit: r.NoInit, Detach: r.Detach, AutoRemove: r.Rm,
		Namespaces: append([]string(nil), namespaces.Default()...), Network: "none",
	}
	for _, opt := range r.SecurityOpt {
		if opt != "seccomp=unconfined" {
			return cfg, fmt.Errorf("--security-opt %q is not supported: the one option is seccomp=unconfined", opt)
		}
		cfg.Unconfined = true
	}
	if r.Userns == "host" {
		if r.UsernsMap != "" {
			return cfg, errors.New("--userns host and --userns-map contradict each other; give one")
		}
	} else {
		m := namespaces.DefaultIDMap
		if r.UsernsMap != "" {
			var err error
			if m, err = namespaces.ParseIDMap(r.UsernsMap); err != nil {
				return cfg, err
			}
		}
		cfg.IDMap = &m
		cfg.Namespaces = append([]string{"user"}, cfg.Namespaces...)
	}
	args := r.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if r.Rootfs == "" {
		if len(args) == 0 {
			return cfg, errors.New("nothing to run: give IMAGE CMD, or --rootfs DIR CMD")
		}
		if imageRootfs == nil {
			return cfg, fmt.Errorf("%q: images come with the image store, not in this build; run on a directory with --rootfs DIR", args[0])
		}
		// The image's record is read once when the store has it: the
		// pull, as --pull asks, comes only when it does not (or always).
		var entrypoint []string
		err := errors.New("not resolved yet")
		if r.Pull.Pull != "always" {
			entrypoint, err = imageRootfs(g, args[0], &cfg)
		}
		if err != nil && r.Pull.Pull != "never" {
			if err := r.Pull.ensure(g, args[0]); err != nil {
				return cfg, err
			}
			entrypoint, err = imageRootfs(g, args[0], &cfg)
		}
		if err != nil {
			return cfg, err
		}
		if r.Entrypoint != nil {
			entrypoint = nil // --entrypoint "" runs the command alone
			if *r.Entrypoint != "" {
				entrypoint = []string{*r.Entrypoint}
			}
		}
		// As docker does: ENTRYPOINT, then the command given, or else the
		// image's CMD (which --entrypoint drops, as in docker).
		args = args[1:]
		if len(args) == 0 && r.Entrypoint == nil {
			args = cfg.Command
		}
		args = append(entrypoint, args...)
		if len(args) == 0 {
			return cfg, fmt.Errorf("image %s has no ENTRYPOINT or CMD; give the command: run %s sh", cfg.Image, cfg.Image)
		}
	} else {
		if r.Entrypoint != nil {
			return cfg, errors.New("--entrypoint needs an image; with --rootfs, give the whole command")
		}
		dir, err := filepath.Abs(r.Rootfs)
		if err != nil {
			return cfg, fmt.Errorf("rootfs %s: %w", r.Rootfs, err)
		}
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return cfg, fmt.Errorf("rootfs %s is not a directory; build one with a step's \"rootfs build %s\", or unpack a root filesystem there", dir, r.Rootfs)
		}
		if dir == "/" {
			return cfg, errors.New("rootfs / is the host's own root; give a separate directory")
		}
		cfg.Rootfs = dir
	}
	if len(args) == 0 || args[0] == "" {
		return cfg, errors.New("no command given: put it after the options, like: run --rootfs DIR sh")
	}
	if r.User != "" {
		if err := users.Check(r.User); err != nil {
			return cfg, err
		}
		cfg.User = r.User
	}
	cfg.Command = args
	if r.Workdir != "" {
		if !filepath.IsAbs(r.Workdir) {
			return cfg, fmt.Errorf("working directory %q must be absolute, like -w /srv", r.Workdir)
		}
		cfg.Workdir = filepath.Clean(r.Workdir)
	}
	if r.Hostname != "" {
		if err := checkHostname(r.Hostname); err != nil {
			return cfg, err
		}
	}
	volumes, err := rootfs.ParseVolumes(r.Volumes)
	if err != nil {
		return cfg, err
	}
	cfg.Volumes = volumes
	env := []string{"PATH=" + defaultPath, "HOME=/root"}
	for _, kv := range cfg.Env { // the image's ENV, over the defaults
		env = setEnv(env, kv)
	}
	if r.TTY {
		env = append(env, "TERM=xterm")
	}
	if cfg.Env, err = mergeEnv(env, r.Env); err != nil {
		return cfg, err
	}
	if err := r.Network.apply(&cfg); err != nil {
		return cfg, err
	}
	if err := r.Resources.apply(&cfg); err != nil {
		return cfg, err
	}
	if err := r.Log.apply(&cfg); err != nil {
		return cfg, err
	}
	if cfg.IDMap != nil {
		// An image's root is made reachable by the image store, at Create.
		if cfg.Image == "" {
			if err := namespaces.CheckReachable(cfg.Rootfs, true, *cfg.IDMap); err != nil {
				return cfg, err
			}
		}
		for _, v := range cfg.Volumes {
			if err := namespaces.CheckReachable(v.Host, false, *cfg.IDMap); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, nil
}

// mergeEnv applies -e settings over base: K=V sets K, K alone copies K
// from our environment (or is skipped if we have none, as docker does).
func mergeEnv(base, settings []string) ([]string, error) {
	env := append([]string(nil), base...)
	for _, s := range settings {
		key, _, hasValue := strings.Cut(s, "=")
		if key == "" || strings.ContainsAny(key, " \t\n") {
			return nil, fmt.Errorf("environment variable %q: want KEY=VALUE, like -e LANG=C.UTF-8", s)
		}
		if !hasValue {
			v, ok := os.LookupEnv(key)
			if !ok {
				continue
			}
			s = key + "=" + v
		}
		env = setEnv(env, s)
	}
	return env, nil
}

// setEnv replaces or adds the K=V setting kv in env.
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// runForeground runs the container with this process as its supervisor and
// returns with the command's status.
func runForeground(g *cli, store *state.Store, c *state.Container) error {
	lock, err := store.HoldSupervisor(c)
	if err != nil {
		_ = store.Remove(c)
		return err
	}
	defer lock.Close()
	s := &supervisor{store: store, c: c, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, narration: os.Stderr}
	if c.Config.TTY {
		s.terminalOut = os.Stdout
		if c.Config.Interactive {
			s.terminalIn = os.Stdin
		}
	}
	if !c.Config.Interactive || c.Config.TTY {
		devNull, err := sys.DevNull(os.O_RDONLY)
		if err != nil {
			return err
		}
		defer devNull.Close()
		s.stdin = devNull
	}
	// Catch signals from before the container exists: one that comes as
	// soon as the command runs must reach it, not kill us.
	signals := catchSignals()
	if err := s.start(); err != nil {
		signal.Stop(signals)
		return err
	}
	stop := forwardCaught(signals, func(sig os.Signal) { s.signal(sig.(syscall.Signal)) })
	status := s.wait()
	stop()
	if status != 0 {
		return exitCode(status)
	}
	return nil
}
