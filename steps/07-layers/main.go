package main

// main.go is the command line and the parent side of run: it checks the
// input, starts the container process, forwards signals to it, waits for it
// and cleans up after it.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"
)

// lesson is what --help says this program adds to the one before it.
const lesson = `Run a command in a container built from an image: import a rootfs tarball
into a store of read-only layers named by their sha256; run --image then
mounts the layers as an overlay (overlayfs) under a writable upper dir of
the container's own, from inside the user namespace, and shows what the
container changed: copy-on-write, whiteouts and all. run --commit stores
the upper dir as a new layer on top: a new image.`

// cli is the command line; kong builds the parser and --help from it.
type cli struct {
	Quiet       bool           `short:"q" help:"Do not narrate the system calls on stderr."`
	Run         runCmd         `cmd:"" help:"Run CMD in a container."`
	Rootfs      rootfsCmd      `cmd:"" help:"Build or import a root filesystem to run containers on."`
	Escape      escapeCmd      `cmd:"" help:"Try the classic chroot escape; copy this program into a rootfs and run it inside."`
	Cleanup     cleanupCmd     `cmd:"" help:"Remove host network interfaces, cgroups and container dirs left behind by a runtime that was killed."`
	ShiftRootfs shiftRootfsCmd `cmd:"" name:"shift-rootfs" help:"Give a rootfs to the host ids of a user namespace range (chown every file)."`
	Child       childCmd       `cmd:"" hidden:"" help:"Internal: the container side of run, started by run."`

	// Layers: images in a store, and run --image.
	Store  string    `default:"/var/lib/box-layers" placeholder:"DIR" help:"Where images, layers and containers' dirs are kept (apart from the final runtime's /var/lib/box)."`
	Import importCmd `cmd:"" help:"Store a rootfs tarball (plain or gzipped) as a one-layer image."`
}

// containerOptions is what run takes and hands to the child unchanged.
type containerOptions struct {
	Rootfs   string   `default:"rootfs" placeholder:"DIR" help:"Root filesystem of the container (make one with: rootfs build DIR)."`
	Volumes  []string `short:"v" name:"volume" placeholder:"HOST:CTR[:ro]" help:"Bind-mount host directory HOST at CTR in the container; :ro makes it read-only."`
	Hostname string   `placeholder:"NAME" help:"Hostname inside the container (default: a random container id)."`
	Net      string   `enum:"none,veth" default:"none" help:"Network: none (only lo) or veth (a veth pair to the host, addressed from --subnet)."`
	Subnet   string   `default:"10.200.0.0/30" placeholder:"CIDR" help:"IPv4 subnet of --net veth (default 10.200.0.0/30): the host end gets the first address, the container the second."`
	Command  []string `arg:"" passthrough:"partial" name:"cmd" help:"The command to run and its arguments; put -- before it."`
}

// command is CMD without the "--" that kong passes through in front of it.
func (o *containerOptions) command() ([]string, error) {
	cmd := o.Command
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, errors.New("no command given; put it after --, like: run --rootfs DIR -- sh")
	}
	return cmd, nil
}

type runCmd struct {
	containerOptions
	cgroupOptions
	layerOptions
	UsernsMap string `placeholder:"HOSTID:SIZE" help:"Map container ids 0..SIZE-1 to host ids from HOSTID (default 100000:65536; without root, your own uid only)."`
}

// exitCode carries the container's exit status out of Run to main.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitSetupFailed is the status of a run whose container could not be set up,
// as docker uses 125, so it is not mistaken for the command's own status.
const exitSetupFailed = 125

// Shell statuses for a command that cannot be run, or does not exist.
const (
	exitCannotRun = 126
	exitNotFound  = 127
)

func main() {
	var c cli
	// Hyphen-prefixed values, so that --pids-limit -1 means no limit, as in docker.
	ctx := kong.Parse(&c, kong.Name(programName()), kong.Description(lesson), kong.WithHyphenPrefixedParameters(true))
	setupNarration(c.Quiet)
	err := ctx.Run()
	var code exitCode
	switch {
	case errors.As(err, &code):
		os.Exit(int(code))
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
		os.Exit(exitSetupFailed)
	}
}

// programName is the name the user typed; the re-executed child keeps it.
func programName() string { return filepath.Base(os.Args[0]) }

func (r *runCmd) Run(c *cli) error {
	// From the start, so that a Ctrl-C during the setup reaches the
	// container once it runs instead of killing this program halfway.
	signals := catchSignals()
	users, err := planUserNamespace(r.UsernsMap)
	if err != nil {
		return err
	}
	limits, err := r.cgroupOptions.parse()
	if err != nil {
		return err
	}
	if users.rootless && r.Net == netVeth {
		return errors.New("--net veth needs root: only root may create interfaces on the host; use --net none")
	}
	// With --image the root is an overlay of the image's layers, mounted by
	// the child on a dir of the container's own, which finish removes.
	ctr, err := r.prepareImage(c.Store, users)
	if err != nil {
		return err
	}
	defer ctr.finish()
	rootfs, err := filepath.Abs(r.Rootfs)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", r.Rootfs, err)
	}
	if info, err := os.Stat(rootfs); err != nil || !info.IsDir() {
		return fmt.Errorf("rootfs %s is not a directory; build one with: %s rootfs build %s", rootfs, programName(), r.Rootfs)
	}
	command, err := r.command()
	if err != nil {
		return err
	}
	volumes, err := parseVolumes(r.Volumes)
	if err != nil {
		return err
	}
	if err := checkReachable(rootfs, true, users); err != nil {
		return err
	}
	for _, v := range volumes {
		if err := checkReachable(v.host, false, users); err != nil {
			return err
		}
	}
	id, err := newContainerID()
	if err != nil {
		return err
	}
	hostname := r.Hostname
	if hostname == "" {
		hostname = id
	}
	if err := checkHostname(hostname); err != nil {
		return err
	}
	sub, err := parseSubnet(r.Subnet)
	if err != nil {
		return err
	}
	if _, err := ctr.findCommand(rootfs, command[0]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
		return exitCode(exitNotFound)
	}
	// A runtime killed by SIGKILL could not delete its interfaces: do it now.
	if !users.rootless {
		if _, err := removeStaleHostEnds(); err != nil {
			return err
		}
	}
	if r.Net == netVeth {
		if err := checkSubnetFree(sub); err != nil {
			return err
		}
	}
	cg, err := createCgroup(id, limits, users.rootless)
	if err != nil {
		return err
	}
	defer cg.remove()
	// An image's overlay is the container's own to write: the child makes
	// the mount points there.
	if ctr == nil {
		if err := makeMountPoints(rootfs, volumes); err != nil {
			return err
		}
	}

	args := []string{"child", "--rootfs", rootfs, "--hostname", hostname, "--net", r.Net, "--subnet", r.Subnet}
	args = append(args, ctr.childArgs()...)
	if c.Quiet {
		args = append(args, "--quiet")
	}
	for _, v := range volumes {
		args = append(args, "-v", v.String())
	}
	args = append(args, "--")
	args = append(args, command...)

	// Go cannot unshare a PID or user namespace in place: its runtime is
	// already multithreaded, and unshare(2) refuses (or affects only new
	// children). So we start a copy of ourselves (/proc/self/exe) with
	// clone(2) flags that put it in new namespaces, and that copy, the
	// "child" command, sets up the container and then execs the command.
	child := exec.Command("/proc/self/exe", args...)
	child.Args[0] = os.Args[0]
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The child blocks reading this pipe until we have done our part of the
	// setup from outside: some of it needs the child's pid.
	syncRead, syncWrite, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("make sync pipe: %w", err)
	}
	defer syncWrite.Close()
	child.ExtraFiles = []*os.File{syncRead}
	child.SysProcAttr = &syscall.SysProcAttr{
		// The kernel makes the user namespace first, and it owns the
		// others: root in it may mount, set the hostname and configure the
		// network, but only in the namespaces it owns.
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC,
		// os/exec writes these maps between clone and the child's execve.
		// It must be then: execve recomputes capabilities, and keeps them
		// only for uid 0 of the namespace, which does not exist before
		// uid_map is written. setgroups "deny" must come first for a
		// writer without root (user_namespaces(7)).
		UidMappings:                users.uids.idMappings(),
		GidMappings:                users.gids.idMappings(),
		GidMappingsEnableSetgroups: !users.rootless,
		// Then the child becomes uid and gid 0 of the namespace, so that
		// it execs as root there.
		Credential: &syscall.Credential{Uid: 0, Gid: 0},
		// If we die, the kernel kills the container's first process, and with
		// it the whole PID namespace: nothing outlives the runtime.
		Pdeathsig: syscall.SIGKILL,
	}
	explainRootfsOwner(rootfs, users)
	if err := closeInheritedFiles(); err != nil {
		return err
	}
	explain(featProcess, "Start the container process: a copy of this program in new user, PID, mount, UTS, network and IPC namespaces.")
	err = cg.start(child)
	syncRead.Close()
	if err != nil && users.rootless && errors.Is(err, unix.EPERM) {
		return fmt.Errorf("start container process: %w; the kernel refuses user namespaces to this user (a sysctl, or a seccomp filter around us): run as root", err)
	}
	if err != nil {
		return fmt.Errorf("start container process: %w", err)
	}
	var hostEnd string
	if r.Net == netVeth {
		hostEnd, err = connectVeth(id, child.Process.Pid, sub)
		if err != nil {
			_ = child.Process.Kill()
			_ = child.Wait()
			return err
		}
	}
	explain(featProcess, "Let the container go on: it waits for one byte on a pipe (its fd 3) until our part of the setup is done.")
	if err := releaseChild(syncWrite); err != nil {
		_ = child.Process.Kill()
		_ = child.Wait()
		return err
	}
	stop := forwardSignals(child.Process, signals)
	err = child.Wait()
	stop()
	if hostEnd != "" {
		if err := disconnectVeth(hostEnd); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v; run: %s cleanup\n", programName(), err, programName())
		}
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return fmt.Errorf("wait for container process: %w", err)
	}
	status := exitStatus(child.ProcessState)
	cg.reportOOM(status)
	if err := ctr.exited(status); err != nil {
		return err
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}

// catchSignals starts catching the signals a user sends the runtime before
// the container exists: one that arrives while it starts is then forwarded
// to it, instead of killing the runtime before it can clean up.
func catchSignals() chan os.Signal {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	return signals
}

// stopGrace is how long the container may take to exit after the runtime
// forwarded it a signal that asks it to stop, before the runtime kills it,
// as docker stop waits 10 seconds. A PID 1 gets only the signals it has a
// handler for (pid_namespaces(7)): httpd or sleep as PID 1 ignore SIGTERM.
const stopGrace = 10 * time.Second

// forwardSignals passes the caught signals on to the container, until stop
// is called. After SIGINT, SIGTERM or SIGHUP the container has stopGrace to
// exit; a second one, or the end of the grace, kills it with SIGKILL, which
// a PID 1 cannot ignore when it comes from outside its namespace.
func forwardSignals(p *os.Process, signals chan os.Signal) (stop func()) {
	done := make(chan struct{})
	go func() {
		var grace <-chan time.Time
		for {
			select {
			case s := <-signals:
				if grace != nil && asksToStop(s) {
					fmt.Fprintf(os.Stderr, "%s: %s again: killing the container with SIGKILL\n", programName(), unix.SignalName(s.(syscall.Signal)))
					_ = p.Signal(syscall.SIGKILL)
					continue
				}
				_ = p.Signal(s)
				if asksToStop(s) {
					grace = time.After(stopGrace)
				}
			case <-grace:
				fmt.Fprintf(os.Stderr, "%s: the container is still running %v after the signal (a PID 1 ignores those it has no handler for): killing it with SIGKILL\n", programName(), stopGrace)
				_ = p.Signal(syscall.SIGKILL)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(signals)
		close(done)
	}
}

// asksToStop tells whether s is a signal a user sends to stop a container.
func asksToStop(s os.Signal) bool {
	return s == unix.SIGINT || s == unix.SIGTERM || s == unix.SIGHUP
}

// exitStatus is the status a shell would report: the exit code, or 128+N
// for a process killed by signal N.
func exitStatus(state *os.ProcessState) int {
	ws, ok := state.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}
