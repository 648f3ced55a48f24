package main

// oci.go is box's second front door: the runc command line, which podman,
// docker (through containerd's shim) and the OCI validation suite call.
// The same binary answers to it when started under a name holding "runc"
// (make build links bin/box-runc to bin/box), so box's own run, exec,
// kill and ps keep docker's meaning. The work is package lifecycle's.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"box/final/internal/lifecycle"
	"box/final/internal/oci"
	"box/final/internal/runccli"
	"box/final/internal/security"
	"box/final/internal/sys"

	"github.com/alecthomas/kong"
)

const ociDescription = `box's runc command line: an OCI runtime that container engines drive
(podman --runtime, docker's "runtimes", containerd's runc shim).`

// ociCLI is the runc command line: the everyday commands an engine runs
// for every container, which box-runc runs without box (internal/runccli),
// and the rest, which it hands to box.
type ociCLI struct {
	runccli.CLI
	Version kong.VersionFlag `short:"v" help:"Print the version, as runc does (engines and the bench read its first line), and exit."`

	Exec     ociExecCmd     `cmd:"" help:"Run a process in a running container."`
	Pause    ociPauseCmd    `cmd:"" help:"Freeze a container's processes."`
	Resume   ociResumeCmd   `cmd:"" help:"Thaw a paused container."`
	Ps       ociPsCmd       `cmd:"" help:"List a container's processes."`
	List     ociListCmd     `cmd:"" help:"List containers."`
	Run      ociRunCmd      `cmd:"" help:"Create and start a container, and wait for it (unless --detach)."`
	Spec     ociSpecCmd     `cmd:"" help:"Write a default config.json."`
	Features ociFeaturesCmd `cmd:"" help:"Print what this runtime supports, as JSON."`
	Console  ociConsoleCmd  `cmd:"" help:"Listen on a console socket as an engine does, and relay the terminal a container sends (not runc's: for trying process.terminal by hand)."`
}

// kongCommand is the command kong parsed, ready to run.
func kongCommand(ctx *kong.Context, g *ociCLI) runccli.Command {
	c := runccli.Command{Run: func(narration *os.File) error { return ctx.Run(g, &g.Globals, narration) }}
	if n := ctx.Selected(); n != nil && n.Target.CanAddr() {
		c.On, _ = n.Target.Addr().Interface().(runccli.ContainerCommand)
	}
	return c
}

// ociMain runs the runc command line and returns the exit status.
func ociMain(args []string) int {
	var g ociCLI
	normalized := runccli.NormalizeFlags(args)
	// An engine's everyday commands without kong (internal/runccli); the
	// rest with the model of the one command run, as box's (newParser,
	// main.go).
	cmd, fast := runccli.ParseFast(&g.CLI, normalized)
	if !fast {
		g = ociCLI{}
		parser, parsed, err := newParser(&g, normalized, kong.Name("box-runc"), kong.Description(ociDescription),
			kong.Vars{"version": runccli.Version()},
			kong.ConfigureHelp(kong.HelpOptions{Compact: true}), kong.Exit(func(code int) { os.Exit(code) }))
		if err != nil {
			fmt.Fprintf(os.Stderr, "box-runc: %v\n", err)
			return 1
		}
		ctx, err := parser.Parse(normalized)
		parsed() // even after an error: LogError reads --log
		if err != nil {
			g.LogError(fmt.Errorf("%v (see box-runc --help)", err))
			return 1
		}
		cmd = kongCommand(ctx, &g)
	}
	return runccli.Main(&g.Globals, cmd, args)
}

type ociPauseCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *ociPauseCmd) Run(g *ociCLI) error { return g.Runtime().SetPaused(c.ID, true) }

func (c *ociPauseCmd) ContainerID() string { return c.ID }

type ociResumeCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *ociResumeCmd) Run(g *ociCLI) error { return g.Runtime().SetPaused(c.ID, false) }

func (c *ociResumeCmd) ContainerID() string { return c.ID }

type ociExecCmd struct {
	Process       string   `short:"p" placeholder:"FILE" help:"The process to run, as config.json's process object."`
	TTY           bool     `short:"t" name:"tty" help:"Give the process a terminal (sent to --console-socket)."`
	Cwd           string   `placeholder:"DIR" help:"Working directory in the container."`
	Env           []string `short:"e" sep:"none" placeholder:"K=V" help:"Add an environment variable."`
	User          string   `short:"u" placeholder:"UID[:GID]" help:"Run as this uid and gid."`
	Detach        bool     `short:"d" help:"Return once the process runs; the caller reaps it."`
	PidFile       string   `name:"pid-file" placeholder:"FILE" help:"Write the process's pid here."`
	ConsoleSocket string   `name:"console-socket" placeholder:"SOCKET" help:"Unix socket to send the terminal's master side to."`
	PreserveFds   int      `name:"preserve-fds" placeholder:"N" help:"Pass descriptors 3 to 3+N-1 on."`
	Cap           []string `short:"c" sep:"none" hidden:"" help:"Accepted for compatibility; ignored."`
	NoNewPrivs    bool     `name:"no-new-privs" hidden:""`
	ProcessLabel  string   `name:"process-label" hidden:""`
	Apparmor      string   `hidden:""`
	ID            string   `arg:"" name:"id"`
	Args          []string `arg:"" optional:"" passthrough:"" name:"command"`
}

func (c *ociExecCmd) ContainerID() string { return c.ID }

func (c *ociExecCmd) Run(g *ociCLI, narration *os.File) error {
	o := lifecycle.ExecOptions{ID: c.ID, Args: c.Args, Env: c.Env, Cwd: c.Cwd, TTY: c.TTY,
		PidFile: c.PidFile, ConsoleSocket: c.ConsoleSocket, Detach: c.Detach, PreserveFDs: c.PreserveFds,
		Narration: narration}
	if c.Process != "" {
		b, err := os.ReadFile(c.Process)
		if err != nil {
			return fmt.Errorf("read --process: %w", err)
		}
		o.ProcessJSON, o.ProcessPath = b, c.Process
	}
	if c.User != "" {
		u, gr, hasGroup := strings.Cut(c.User, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return fmt.Errorf("--user %q: want UID[:GID] as numbers, like 1000:1000", c.User)
		}
		v := uint32(uid)
		o.UID = &v
		if hasGroup {
			gid, err := strconv.ParseUint(gr, 10, 32)
			if err != nil {
				return fmt.Errorf("--user %q: want UID[:GID] as numbers, like 1000:1000", c.User)
			}
			w := uint32(gid)
			o.GID = &w
		}
	}
	status, err := g.Runtime().Exec(o)
	if err != nil {
		return err
	}
	if status != 0 {
		return runccli.ExitCode(status)
	}
	return nil
}

type ociPsCmd struct {
	Format string   `short:"f" enum:"table,json" default:"table" help:"table or json (a list of pids)."`
	ID     string   `arg:"" name:"id"`
	PsArgs []string `arg:"" optional:"" passthrough:"" help:"Ignored: box reads /proc itself."`
}

func (c *ociPsCmd) Run(g *ociCLI) error {
	pids, err := g.Runtime().Pids(c.ID)
	if err != nil {
		return err
	}
	if c.Format == "json" {
		if pids == nil {
			pids = []int{}
		}
		b, _ := json.Marshal(pids)
		fmt.Println(string(b))
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCMD")
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		fmt.Fprintf(w, "%d\t%s\n", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return w.Flush()
}

type ociListCmd struct {
	Format string `short:"f" enum:"table,json" default:"table" help:"table or json."`
	Quiet  bool   `short:"q" help:"Only the ids."`
}

func (c *ociListCmd) Run(g *ociCLI) error {
	list, err := g.Runtime().List()
	if err != nil {
		return err
	}
	states := []oci.State{}
	for _, ct := range list {
		states = append(states, ct.State())
	}
	switch {
	case c.Quiet:
		for _, s := range states {
			fmt.Println(s.ID)
		}
	case c.Format == "json":
		b, _ := json.Marshal(states)
		fmt.Println(string(b))
	default:
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
		for _, s := range states {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created)
		}
		return w.Flush()
	}
	return nil
}

type ociRunCmd struct {
	runccli.CreateCmd
	Detach bool `short:"d" help:"Return once the program runs."`
}

func (c *ociRunCmd) Run(g *ociCLI, narration *os.File) error {
	rt := g.Runtime()
	if err := rt.Create(c.Options(&g.Globals, narration)); err != nil {
		return err
	}
	if err := rt.Start(c.ID); err != nil {
		_ = rt.Delete(c.ID, true)
		return err
	}
	if c.Detach {
		return nil
	}
	ct, err := rt.Load(c.ID)
	if err != nil {
		return err
	}
	// The container's process is our child here: wait for it like a shell.
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(ct.Pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	_ = rt.Delete(c.ID, true)
	if err != nil {
		return fmt.Errorf("wait for %d: %w", ct.Pid, err)
	}
	if ws.Signaled() {
		return runccli.ExitCode(128 + int(ws.Signal()))
	}
	if ws.ExitStatus() != 0 {
		return runccli.ExitCode(ws.ExitStatus())
	}
	return nil
}

type ociSpecCmd struct {
	Bundle   string `short:"b" default:"." placeholder:"DIR" help:"Write config.json in this directory."`
	Rootless bool   `help:"A spec for a rootless container: a user namespace mapping your ids to root."`
}

func (c *ociSpecCmd) Run(g *ociCLI) error {
	path := filepath.Join(c.Bundle, oci.ConfigName)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists already; remove it first", path)
	}
	b, err := json.MarshalIndent(oci.DefaultSpec(c.Rootless, uint32(os.Getuid()), uint32(os.Getgid())), "", "\t")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o666); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

type ociFeaturesCmd struct{}

func (c *ociFeaturesCmd) Run(g *ociCLI) error {
	f := oci.Features{
		OCIVersionMin: "1.0.0", OCIVersionMax: oci.Version,
		Hooks:        []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions: lifecycle.MountOptionNames(),
		Linux: oci.FeaturesLinux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
			Capabilities: sys.CapNames,
			Cgroup:       map[string]bool{"v1": true, "v2": true, "systemd": false, "systemdUser": false},
			Seccomp: oci.FeaturesSeccomp{Enabled: true, Actions: security.SeccompActions,
				Operators: security.SeccompOperators, Archs: []string{security.NativeSeccompArch()},
				Flags: []string{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}},
			Apparmor: map[string]bool{"enabled": false},
			Selinux:  map[string]bool{"enabled": false},
		},
		Annotations: map[string]string{"org.opencontainers.runc.version": "box"},
	}
	b, err := json.MarshalIndent(f, "", "    ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
