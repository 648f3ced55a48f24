package main

// oci.go is box's second front door: the runc command line, which podman,
// docker (through containerd's shim) and the OCI validation suite call.
// The same binary answers to it when started under a name holding "runc"
// (make build links bin/box-runc to bin/box), so box's own run, exec,
// kill and ps keep docker's meaning. The work is package lifecycle's.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"box/final/internal/lifecycle"
	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/security"
	"box/final/internal/sys"

	"github.com/alecthomas/kong"
)

const ociDescription = `box's runc command line: an OCI runtime that container engines drive
(podman --runtime, docker's "runtimes", containerd's runc shim).`

// ociCLI is the runc command line.
type ociCLI struct {
	Root          string           `default:"/run/box-runc" placeholder:"DIR" help:"Where containers' state lives."`
	Log           string           `placeholder:"FILE" help:"Write errors (and --debug lines) here instead of only to stderr."`
	LogFormat     string           `name:"log-format" enum:"text,json" default:"text" help:"text, or json lines with level and msg (containerd's shim reads those)."`
	Debug         bool             `help:"Log each command line."`
	SystemdCgroup bool             `name:"systemd-cgroup" help:"Not supported: box manages cgroupfs paths; configure the engine with cgroup_manager=cgroupfs."`
	Explain       bool             `help:"Narrate every system call, as C, on stderr (or in --log with text format)."`
	ExplainLog    string           `name:"explain-log" placeholder:"FILE" help:"Narrate as --explain does, appended to FILE instead of stderr: create's, the container process's, and every later command's on the container (engines keep create's stderr)."`
	Criu          string           `hidden:"" help:"Accepted for compatibility; ignored."`
	Version       kong.VersionFlag `short:"v" help:"Print the version, as runc does (engines and the bench read its first line), and exit."`

	Create   ociCreateCmd   `cmd:"" help:"Create a container from a bundle; its process waits for start."`
	Start    ociStartCmd    `cmd:"" help:"Start a created container's program."`
	State    ociStateCmd    `cmd:"" help:"Print a container's state as the OCI spec's JSON."`
	Kill     ociKillCmd     `cmd:"" help:"Send a signal (default SIGTERM) to a container's process."`
	Delete   ociDeleteCmd   `cmd:"" help:"Delete a stopped container (--force: a running one too)."`
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
func kongCommand(ctx *kong.Context, g *ociCLI) fastCommand {
	c := fastCommand{run: func(narration *os.File) error { return ctx.Run(g, narration) }}
	if n := ctx.Selected(); n != nil && n.Target.CanAddr() {
		c.on, _ = n.Target.Addr().Interface().(containerCommand)
	}
	return c
}

// ociRuntime is the command's state directory: one for the command, so
// the record it loaded is read once, by openExplainLog and the command.
var ociRuntime *lifecycle.Runtime

// runtime is the state directory.
func (g *ociCLI) runtime() *lifecycle.Runtime {
	if ociRuntime == nil || ociRuntime.Root != g.Root {
		ociRuntime = &lifecycle.Runtime{Root: g.Root}
	}
	return ociRuntime
}

// ociMain runs the runc command line and returns the exit status.
func ociMain(args []string) int {
	var g ociCLI
	ociRuntime = nil
	normalized := normalizeFlags(args)
	// An engine's everyday commands without kong (oci_args.go); the rest
	// with the model of the one command run, as box's (newParser, main.go).
	cmd, fast := parseFast(&g, normalized)
	if !fast {
		g = ociCLI{}
		parser, parsed, err := newParser(&g, normalized, kong.Name("box-runc"), kong.Description(ociDescription),
			kong.Vars{"version": ociVersion()},
			kong.ConfigureHelp(kong.HelpOptions{Compact: true}), kong.Exit(func(code int) { os.Exit(code) }))
		if err != nil {
			fmt.Fprintf(os.Stderr, "box-runc: %v\n", err)
			return 1
		}
		ctx, err := parser.Parse(normalized)
		parsed() // even after an error: logError reads --log
		if err != nil {
			logError(&g, fmt.Errorf("%v (see box-runc --help)", err))
			return 1
		}
		cmd = kongCommand(ctx, &g)
	}
	if g.Debug {
		logLine(&g, "debug", "box-runc "+strings.Join(args, " "))
	}
	narration, explain := os.Stderr, g.Explain
	var out io.Writer = os.Stderr
	if f, err := g.openExplainLog(cmd.on); err != nil {
		logError(&g, err)
		return 1
	} else if f != nil {
		defer f.Close()
		narration, explain = f, true
		out = &headed{w: f, header: explainLogHeader(args)}
	} else if g.Log != "" && g.LogFormat == "text" && g.Explain {
		if f, err := os.OpenFile(g.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			narration, out = f, f
		}
	}
	narrate.Setup(explain, out, explain && narration == os.Stderr && sys.IsTerminal(2))
	if g.SystemdCgroup {
		logError(&g, errors.New("--systemd-cgroup is not supported: box-runc manages cgroupfs paths; set the engine's cgroup manager to cgroupfs"))
		return 1
	}
	err := cmd.run(narration)
	var code exitCode
	switch {
	case errors.As(err, &code):
		return int(code)
	case err != nil:
		logError(&g, err)
		return 1
	}
	return 0
}

// normalizeFlags accepts runc's single-dash long flags (-root, -bundle),
// which urfave/cli takes and some callers use, as double-dash ones.
func normalizeFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a[2:3], "abcdefghijklmnopqrstuvwxyz") {
			if name, _, _ := strings.Cut(a[1:], "="); len(name) > 1 {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// logError reports err as one line on stderr, and in --log.
func logError(g *ociCLI, err error) {
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintf(os.Stderr, "box-runc: %s\n", msg)
	if g.Log != "" {
		logLine(g, "error", msg)
	}
}

// logLine appends one line to --log, as text or as a JSON object with
// level, msg and time, as runc writes it.
func logLine(g *ociCLI, level, msg string) {
	if g.Log == "" {
		return
	}
	f, err := os.OpenFile(g.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if g.LogFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(f, "%s\n", b)
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

type ociCreateCmd struct {
	Bundle        string `short:"b" default:"." placeholder:"DIR" help:"The bundle: the directory holding config.json."`
	PidFile       string `name:"pid-file" placeholder:"FILE" help:"Write the container process's pid here."`
	ConsoleSocket string `name:"console-socket" placeholder:"SOCKET" help:"Unix socket to send the terminal's master side to (process.terminal)."`
	NoPivot       bool   `name:"no-pivot" help:"Move the root with MS_MOVE and chroot instead of pivot_root (a ramdisk root)."`
	NoNewKeyring  bool   `name:"no-new-keyring" help:"Accepted: box never makes a session keyring."`
	PreserveFds   int    `name:"preserve-fds" placeholder:"N" help:"Pass descriptors 3 to 3+N-1 on to the container."`
	ID            string `arg:"" name:"id" help:"The container's id."`
}

func (c *ociCreateCmd) Run(g *ociCLI, narration *os.File) error {
	return g.runtime().Create(c.options(g, narration))
}

func (c *ociCreateCmd) options(g *ociCLI, narration *os.File) lifecycle.CreateOptions {
	return lifecycle.CreateOptions{ID: c.ID, Bundle: c.Bundle, PidFile: c.PidFile, ConsoleSocket: c.ConsoleSocket,
		NoPivot: c.NoPivot, NoNewKeyring: c.NoNewKeyring, PreserveFDs: c.PreserveFds, Narration: narration,
		ExplainLog: g.ExplainLog}
}

type ociStartCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *ociStartCmd) Run(g *ociCLI) error { return g.runtime().Start(c.ID) }

type ociStateCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *ociStateCmd) Run(g *ociCLI) error {
	ct, err := g.runtime().Load(c.ID)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(ct.State(), "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

type ociKillCmd struct {
	All    bool   `short:"a" help:"Signal every process of the container."`
	ID     string `arg:"" name:"id"`
	Signal string `arg:"" optional:"" default:"SIGTERM" help:"TERM, SIGTERM or 15."`
}

func (c *ociKillCmd) Run(g *ociCLI) error {
	sig, err := lifecycle.ParseSignal(c.Signal)
	if err != nil {
		return err
	}
	return g.runtime().Kill(c.ID, sig, c.All)
}

type ociDeleteCmd struct {
	Force bool   `short:"f" help:"Kill the container first if it runs."`
	ID    string `arg:"" name:"id"`
}

func (c *ociDeleteCmd) Run(g *ociCLI) error { return g.runtime().Delete(c.ID, c.Force) }

type ociPauseCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *ociPauseCmd) Run(g *ociCLI) error { return g.runtime().SetPaused(c.ID, true) }

type ociResumeCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *ociResumeCmd) Run(g *ociCLI) error { return g.runtime().SetPaused(c.ID, false) }

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
	status, err := g.runtime().Exec(o)
	if err != nil {
		return err
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}

type ociPsCmd struct {
	Format string   `short:"f" enum:"table,json" default:"table" help:"table or json (a list of pids)."`
	ID     string   `arg:"" name:"id"`
	PsArgs []string `arg:"" optional:"" passthrough:"" help:"Ignored: box reads /proc itself."`
}

func (c *ociPsCmd) Run(g *ociCLI) error {
	pids, err := g.runtime().Pids(c.ID)
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
	list, err := g.runtime().List()
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
	ociCreateCmd
	Detach bool `short:"d" help:"Return once the program runs."`
}

func (c *ociRunCmd) Run(g *ociCLI, narration *os.File) error {
	rt := g.runtime()
	if err := rt.Create(c.options(g, narration)); err != nil {
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
		return exitCode(128 + int(ws.Signal()))
	}
	if ws.ExitStatus() != 0 {
		return exitCode(ws.ExitStatus())
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
