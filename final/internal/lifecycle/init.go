package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/pty"
	"box/final/internal/rootfs"
	"box/final/internal/security"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Init is the container's process, "box-init oci-init BASE": it builds the
// container from the initConfig create sends on descriptor BASE, tells
// create it is ready, waits at the exec fifo until start, and executes
// the user's program in its place. It never returns: it exits to fail,
// after saying why to create (or, after create is gone, on stderr).
//
// Capabilities, credentials, namespaces joined and the seccomp filter are
// set on the calling thread, which then calls execve: Init must stay on
// it. It must be called from an init function of package main, which the
// Go runtime runs on the program's first thread, locked to it, without
// the extra thread runtime.LockOSThread starts.
func Init(base int) {
	if unix.Gettid() != unix.Getpid() {
		fmt.Fprintln(os.Stderr, "box-runc: oci-init runs on the program's first thread, from an init function of box-init's main package")
		os.Exit(127)
	}
	// Our own program's descriptor served execve, and nothing else (the
	// copy that joins a user namespace executes its own, close-on-exec).
	_ = sys.Close(base + fdProgram)
	for fd := base; fd < base+fdCount; fd++ {
		sys.CloseOnExec(fd) // none of them is the program's business
	}
	syncPipe := os.NewFile(uintptr(base+fdSync), "sync")
	fail := func(err error) {
		if syncPipe != nil {
			fmt.Fprintf(syncPipe, "error: %v", err)
			syncPipe.Close()
		} else {
			fmt.Fprintf(os.Stderr, "box-runc: %v\n", err)
		}
		os.Exit(127)
	}
	configFile := os.NewFile(uintptr(base+fdConfig), "config")
	// create closes the pipe once the host side (the cgroup) is ready:
	// reading to the end waits for both.
	var cfg initConfig
	raw, err := io.ReadAll(configFile)
	configFile.Close()
	if err == nil {
		err = decodeInitConfig(raw, &cfg)
	}
	if err != nil {
		fail(fmt.Errorf("read the container's config: %w", err))
	}
	parsed, err := oci.Parse(oci.ConfigName, cfg.Config)
	if err != nil {
		fail(err)
	}
	cfg.Spec, cfg.Config = parsed, nil
	if cfg.Explain {
		narrate.Setup(true, os.NewFile(uintptr(base+fdNarration), "narration"), cfg.Color)
	}
	if err := closeInherited(base); err != nil {
		fail(err)
	}

	spec := cfg.Spec
	filter, err := compileSeccomp(spec.Linux.Seccomp)
	if err != nil {
		fail(err)
	}
	if cfg.Exec {
		// exec into a container with a user namespace: already in all its
		// namespaces and its cgroup (see execJoined); become the process.
		// The container's processes run beside us: none may ptrace or read
		// the memory of a thread that still has our capabilities there.
		narrate.Explain(narrate.Security, "Make this process non-dumpable: the container's processes, running beside it, may not ptrace it or open its /proc files.")
		if err := sys.SetNotDumpable(); err != nil {
			fail(err)
		}
		path, err := setupProcess(cfg, base, filter)
		if err != nil {
			fail(err)
		}
		if spec.Process.NoNewPrivileges {
			if err := filter.install(); err != nil {
				fail(err)
			}
		}
		// Success closes the sync pipe (close-on-exec): exec waits for that.
		fail(sys.Execve(path, spec.Process.Args, spec.Process.Env))
	}
	path, err := setupContainer(cfg, base, filter)
	if err != nil {
		fail(err)
	}
	narrate.Explain(narrate.Process, "Ready: tell create, which exits; the engine holds our pid.")
	_, _ = syncPipe.WriteString("ready")
	syncPipe.Close()
	syncPipe = nil

	narrate.Explain(narrate.Process, "Wait for start: opening the exec fifo for writing blocks until start opens it for reading.")
	fifo, err := sys.OpenFile("/proc/self/fd/"+strconv.Itoa(base+fdFifo), unix.O_WRONLY, "O_WRONLY|O_CLOEXEC")
	if err != nil {
		fail(err)
	}
	if _, err := fifo.WriteString("0"); err != nil {
		fail(fmt.Errorf("write the exec fifo: %w", err))
	}
	// fifo stays open, close-on-exec: start reads until execve closes it.
	if spec.Process == nil {
		// start kills a container without a process rather than open the
		// fifo; should anything open it, there is still nothing to run.
		fail(errors.New("config.json has no process: nothing to run"))
	}
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		if err := runHooks("startContainer", spec.Hooks.StartContainer, cfg.state("created")); err != nil {
			fail(err)
		}
	}
	if err := setMemoryLimits(spec.Process); err != nil {
		fail(err)
	}
	if spec.Process.NoNewPrivileges {
		// Last, so the filter sees as few of our own calls as possible.
		if err := filter.install(); err != nil {
			fail(err)
		}
	}
	err = sys.Execve(path, spec.Process.Args, spec.Process.Env)
	fail(err)
}

// closeInherited marks every descriptor from base up close-on-exec: what
// the engine left open without the flag (containerd's shim has one) must
// not reach the program; only stdio and --preserve-fds do.
func closeInherited(base int) error {
	if base == 3 {
		return sys.CloseInheritedFiles()
	}
	narrate.Explain(narrate.Security, "Keep the files this program inherited out of the container: every descriptor from %d up closes on execve (--preserve-fds passes those below).", base)
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open files: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= base {
			sys.CloseOnExec(fd)
		}
	}
	return nil
}

// setupContainer builds the container, in order, and returns the path of
// the program to execute.
func setupContainer(cfg initConfig, base int, filter *seccompFilter) (string, error) {
	spec := cfg.Spec
	if err := joinNamespaces(cfg.Joined); err != nil {
		return "", err
	}
	if spec.Hostname != "" {
		if err := namespaces.SetHostname(spec.Hostname); err != nil {
			return "", err
		}
	}
	if spec.Domainname != "" {
		if err := sys.Setdomainname(spec.Domainname); err != nil {
			return "", err
		}
	}
	if hasNamespace(spec, "network") && !joined(cfg, "network") {
		if err := namespaces.LoopbackUp(); err != nil {
			return "", err
		}
	}
	if err := buildRoot(cfg); err != nil {
		return "", err
	}
	if spec.Process == nil {
		// The spec lets create build a container without a process; start
		// refuses it and kills this one. Until then it waits without a
		// capability or a way to gain one, like any container's process.
		narrate.Explain(narrate.Security, "config.json has no process: drop every capability and set no_new_privs; start will refuse to start this container.")
		return "", becomeUser(&oci.Process{NoNewPrivileges: true})
	}
	return setupProcess(cfg, base, filter)
}

// setupProcess makes this process the one config.json's process says, in
// a built container: its terminal, its user, capabilities and filter (with
// no_new_privs, the filter comes last, just before execve), its umask and
// working directory. It returns the path of the program to execute.
func setupProcess(cfg initConfig, base int, filter *seccompFilter) (string, error) {
	spec := cfg.Spec
	if cfg.Terminal {
		if err := openTerminal(spec.Process, os.NewFile(uintptr(base+fdConsole), "console")); err != nil {
			return "", err
		}
	}
	if !cfg.Exec {
		// exec set them on itself; its children, this one too, inherit.
		if err := setProcessLimits(spec.Process, spec.Linux.Personality); err != nil {
			return "", err
		}
	}
	path, err := lookPath(spec.Process.Args[0], spec.Process.Env)
	if err != nil {
		return "", err
	}
	if !spec.Process.NoNewPrivileges {
		// Without no_new_privs, installing a filter takes CAP_SYS_ADMIN:
		// install it while we still have it.
		if err := filter.install(); err != nil {
			return "", err
		}
	}
	if err := becomeUser(spec.Process); err != nil {
		return "", err
	}
	umask := uint32(0o022)
	if spec.Process.User.Umask != nil {
		umask = *spec.Process.User.Umask
	}
	sys.Umask(umask)
	if err := sys.Chdir(spec.Process.Cwd); err != nil {
		return "", fmt.Errorf("process.cwd: %w", err)
	}
	return path, nil
}

// buildRoot makes the container's filesystem: propagation, the root
// bound onto itself, the mounts, the devices, pivot_root, then what is
// done from inside: propagation of the new root, sysctls, masked and
// read-only paths, a read-only root.
func buildRoot(cfg initConfig) error {
	spec := cfg.Spec
	root := cfg.Rootfs
	propagation := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p, ok := propagationOptions[spec.Linux.RootfsPropagation]; ok {
		propagation = p | unix.MS_REC
	} else if spec.Linux.RootfsPropagation != "" {
		return fmt.Errorf("linux.rootfsPropagation %q: want shared, slave, private or unbindable (r-prefixed too)", spec.Linux.RootfsPropagation)
	}
	narrate.Explain(narrate.Mount, "Stop our mounts from reaching the host: make every mount %s.", sys.FlagString(propagation, sys.MountFlagNames))
	first := propagation
	if first&unix.MS_SHARED != 0 {
		// pivot_root refuses a shared parent (EINVAL): share after it.
		first = unix.MS_SLAVE | unix.MS_REC
	}
	if cfg.NoMount {
		// No mount namespace of its own: the mounts below land in the
		// caller's, under the root, and delete unmounts them.
		narrate.Explain(narrate.Mount, "No mount namespace in config.json: mount in the caller's, below the root only, and chroot into it.")
	} else if err := sys.Mount("", "/", "", first, ""); err != nil {
		return err
	}
	narrate.Explain(narrate.Mount, "Bind the root onto itself: pivot_root needs the new root to be a mount point.")
	if err := sys.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	narrate.Explain(narrate.Mount, "Make config.json's %d mounts, in order, below the root.", len(spec.Mounts))
	if err := mountAll(root, spec.Mounts, cfg.CgroupDirs, cfg.NewUser); err != nil {
		return err
	}
	if err := makeDevices(root, spec.Linux.Devices, spec.Mounts, cfg.NewUser); err != nil {
		return err
	}
	if h := spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		// The specification: in the container's namespaces, its mounts
		// made, before pivot_root, so a hook's path still resolves in the
		// runtime's root, which this mount namespace began as a copy of.
		if err := runHooks("createContainer", h.CreateContainer, cfg.state("creating")); err != nil {
			return err
		}
	}
	switch {
	case cfg.NoMount:
		if err := sys.Chroot(root); err != nil {
			return err
		}
		if err := sys.Chdir("/"); err != nil {
			return err
		}
	case cfg.NoPivot:
		if err := rootfs.MoveRoot(root); err != nil {
			return err
		}
	default:
		if err := rootfs.SwitchRoot(root); err != nil {
			return err
		}
	}
	if spec.Linux.RootfsPropagation != "" && !cfg.NoMount {
		if err := sys.Mount("", "/", "", propagation, ""); err != nil {
			return err
		}
	}
	for _, key := range sortedKeys(spec.Linux.Sysctl) {
		narrate.Explain(narrate.Process, "Set sysctl %s (linux.sysctl).", key)
		if err := sys.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), spec.Linux.Sysctl[key]); err != nil {
			return err
		}
	}
	if len(spec.Linux.MaskedPaths) > 0 {
		narrate.Explain(narrate.Security, "Mask linux.maskedPaths: /dev/null over a file, an empty read-only tmpfs over a directory.")
		if err := security.MaskPaths(spec.Linux.MaskedPaths); err != nil {
			return err
		}
	}
	if len(spec.Linux.ReadonlyPaths) > 0 {
		narrate.Explain(narrate.Security, "Make linux.readonlyPaths read-only binds of themselves.")
		if err := security.ReadOnlyPathsOf(spec.Linux.ReadonlyPaths); err != nil {
			return err
		}
	}
	if spec.Root.Readonly {
		narrate.Explain(narrate.Mount, "Remount the root read-only (root.readonly).")
		if err := sys.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|lockedFlags("/"), ""); err != nil {
			return err
		}
	}
	return nil
}

// openTerminal makes the process's terminal from the container's devpts,
// sends the master side to the engine's console socket, and makes the
// slave our controlling terminal and stdin, stdout and stderr.
func openTerminal(p *oci.Process, console *os.File) error {
	master, slave, err := pty.Open("/dev/ptmx", "/dev/pts")
	if err != nil {
		return err
	}
	defer master.Close()
	defer slave.Close()
	if p.ConsoleSize != nil {
		if err := sys.SetWinsize(int(master.Fd()), sys.Winsize{Rows: uint16(p.ConsoleSize.Height), Cols: uint16(p.ConsoleSize.Width)}); err != nil {
			return err
		}
	}
	narrate.Explain(narrate.Terminal, "Send the terminal's master side to the engine over --console-socket (SCM_RIGHTS); the engine relays it.")
	if err := sys.SendFds(console, "/dev/ptmx", int(master.Fd())); err != nil {
		return err
	}
	console.Close()
	narrate.Explain(narrate.Terminal, "Make the terminal our controlling terminal and stdin, stdout, stderr.")
	fd := int(slave.Fd())
	if err := sys.Setctty(fd); err != nil {
		return err
	}
	for _, std := range []int{0, 1, 2} {
		if err := sys.Dup2(fd, std); err != nil {
			return err
		}
	}
	return nil
}

// joinNamespaces joins the namespaces config.json gives by path, but the
// PID namespace (create's thread joined it before the clone) and the user
// namespace (refused at create). Namespaces are per thread: this locked
// thread is the one that executes the program.
func joinNamespaces(joined []oci.Namespace) error {
	if len(joined) == 0 {
		return nil
	}
	type nsFile struct {
		kind namespaces.Kind
		fd   int
		path string
	}
	var files []nsFile
	defer func() {
		for _, f := range files {
			_ = sys.Close(f.fd)
		}
	}()
	for _, ns := range joined {
		kind, err := namespaces.Lookup(oci.NamespaceKinds[ns.Type])
		if err != nil {
			return err
		}
		if kind.Name == "mnt" {
			narrate.Explain(narrate.Process, "Give this thread its own root and working directory, so it may enter a mount namespace.")
			if err := sys.Unshare(unix.CLONE_FS); err != nil {
				return err
			}
		}
		fd, err := sys.OpenNamespace(ns.Path)
		if err != nil {
			return err
		}
		files = append(files, nsFile{kind, fd, ns.Path})
	}
	for _, f := range files {
		narrate.Explain(narrate.Process, "Join the %s namespace config.json names (%s).", f.kind.Name, f.path)
		if err := sys.Setns(f.fd, int(f.kind.Flag), f.path); err != nil {
			return fmt.Errorf("join %s namespace %s: %w", f.kind.Name, f.path, err)
		}
	}
	return nil
}

// state is the container's state for a hook the process runs.
func (cfg initConfig) state(status string) oci.State {
	return oci.State{Version: oci.Version, ID: cfg.ID, Status: status, Pid: cfg.Pid, Bundle: cfg.Bundle,
		Annotations: cfg.Spec.Annotations}
}

// hasNamespace tells whether the spec lists a namespace of type typ.
func hasNamespace(spec *oci.Spec, typ string) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == typ {
			return true
		}
	}
	return false
}

// joined tells whether the init joins a namespace of type typ by path.
func joined(cfg initConfig, typ string) bool {
	for _, ns := range cfg.Joined {
		if ns.Type == typ {
			return true
		}
	}
	return false
}

// sortedKeys are m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
