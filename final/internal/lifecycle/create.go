package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"box/final/internal/cgroups"
	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/security"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// CreateOptions are create's flags.
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int
	// Narration is where the container's process narrates (--explain):
	// the log file, or stderr.
	Narration *os.File
	// ExplainLog is kept in the container's state (see Container).
	ExplainLog string
}

// initConfig is what create tells the container's process, as JSON on its
// first descriptor.
type initConfig struct {
	ID string `json:"id"`
	// Config is config.json, as create read it or as exec made it, which
	// the process checks and completes as create did (oci.Parse) into
	// Spec. Spec is no field of the JSON: encoding/json would build an
	// encoder for every type of the spec, in create, which has the text.
	Config   json.RawMessage `json:"config"`
	Spec     *oci.Spec       `json:"-"`
	Rootfs   string          `json:"rootfs"`
	NoPivot  bool            `json:"noPivot"`
	Explain  bool            `json:"explain"`
	Color    bool            `json:"color"`
	Terminal bool            `json:"terminal"`
	// Joined are the namespaces given by path, joined by the init itself.
	Joined []oci.Namespace `json:"joined,omitempty"`
	// NoMount: the container shares the caller's mount namespace, so its
	// root is chroot'ed into, not pivoted to (delete unmounts it).
	NoMount bool `json:"noMount"`
	// NewUser: whether the container has a user namespace of its own.
	NewUser bool `json:"newUser"`
	// CgroupDirs are the container's cgroup directories, for a cgroup mount.
	CgroupDirs []string `json:"cgroupDirs,omitempty"`
	// Bundle and Pid (the process's, as the host sees it) are for the
	// state the createContainer and startContainer hooks get.
	Bundle string `json:"bundle"`
	Pid    int    `json:"pid"`
	// Exec: the process is exec's, started inside a running container
	// that has a user namespace; it only becomes Spec.Process.
	Exec bool `json:"exec,omitempty"`
}

// The init's descriptors, from base (3 + --preserve-fds) on.
const (
	fdConfig    = iota // the initConfig, closed once the host side is ready
	fdSync             // the init writes "ready", or why it failed
	fdConsole          // with a terminal: the engine's console socket
	fdFifo             // the exec fifo, opened O_PATH
	fdNarration        // where to narrate
	fdProgram          // box-init, O_PATH: executed as /proc/self/fd/N, then closed
	fdCount
)

// Create sets up container o.ID from the bundle o.Bundle and leaves its
// process waiting for start. On any failure it removes what it made.
func (r *Runtime) Create(o CreateOptions) (err error) {
	if err := oci.CheckID(o.ID); err != nil {
		return err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", o.Bundle, err)
	}
	if info, err := os.Stat(bundle); err != nil || !info.IsDir() {
		return fmt.Errorf("bundle %s is not a directory: give --bundle the directory holding config.json", bundle)
	}
	spec, raw, err := oci.Read(bundle)
	if err != nil {
		return err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if info, err := os.Stat(rootfs); err != nil || !info.IsDir() {
		return fmt.Errorf("root.path %s is not a directory: unpack a root filesystem there, or fix root.path in %s", rootfs, filepath.Join(bundle, oci.ConfigName))
	}
	if err := checkSpec(spec); err != nil {
		return err
	}
	terminal := spec.Process != nil && spec.Process.Terminal
	if terminal && o.ConsoleSocket == "" {
		return errors.New("process.terminal is true but no --console-socket was given to send the terminal to")
	}
	var console *os.File
	if terminal {
		narrate.Explain(narrate.Terminal, "Connect to the console socket now, so a dead one fails before anything is made.")
		if console, err = sys.DialConsole(o.ConsoleSocket); err != nil {
			return fmt.Errorf("console socket %s: %w", o.ConsoleSocket, err)
		}
		defer console.Close()
	}
	if err := os.MkdirAll(r.Root, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w", r.Root, err)
	}
	dir := filepath.Join(r.Root, o.ID)
	narrate.Explain(narrate.State, "Make the container's state directory; mkdir fails if the id is taken.")
	if err := sys.MkdirNew(dir, 0o711); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("container with id exists: %s", o.ID)
		}
		return err
	}
	c := &Container{ID: o.ID, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(),
		Annotations: spec.Annotations, Spec: spec, NoProcess: spec.Process == nil, Hooks: spec.Hooks,
		ExplainLog: o.ExplainLog, dir: dir}
	// The container's process, once started: ours to kill and reap should
	// anything below fail, by its pid (os.FindProcess would run os's
	// pidfd probe, a throwaway fork, first).
	started := 0
	defer func() {
		if err == nil {
			return
		}
		if started > 0 {
			_ = unix.Kill(started, unix.SIGKILL)
			_, _ = wait(started)
		}
		if c.Cgroup != nil {
			_ = c.Cgroup.RemoveUncounted()
		}
		c.unmountShared()
		_ = os.RemoveAll(dir)
	}()
	narrate.Explain(narrate.State, "Make the exec fifo: the container's process blocks opening it until start opens the other end.")
	if err := sys.Mkfifo(filepath.Join(dir, fifoFile), 0o622); err != nil {
		return err
	}
	// Past the umask: the program's user, whoever it is, opens it to write.
	if err := os.Chmod(filepath.Join(dir, fifoFile), 0o622); err != nil {
		return fmt.Errorf("chmod %s: %w", filepath.Join(dir, fifoFile), err)
	}
	fifo, err := sys.OpenPath(filepath.Join(dir, fifoFile))
	if err != nil {
		return err
	}
	defer fifo.Close()

	if c.Cgroup, err = createCgroup(o.ID, spec); err != nil {
		return err
	}
	cfg := initConfig{ID: o.ID, Config: raw, Rootfs: rootfs, NoPivot: o.NoPivot, Explain: narrate.Enabled(),
		Color: narrate.Colored(), Terminal: terminal}
	if c.Cgroup != nil {
		for _, d := range c.Cgroup.Dirs {
			cfg.CgroupDirs = append(cfg.CgroupDirs, d.Path)
		}
	}
	var flags uintptr
	var joinPid, joinUser string
	for _, ns := range spec.Linux.Namespaces {
		kind, _ := namespaces.Lookup(oci.NamespaceKinds[ns.Type])
		c.Namespaces = append(c.Namespaces, kind.Name)
		switch {
		case ns.Path == "" && ns.Type == "time":
			return errors.New("a new time namespace is not supported by this runtime; leave it out of linux.namespaces")
		case ns.Path == "":
			flags |= kind.Flag
		case ns.Type == "pid":
			joinPid = ns.Path
		case ns.Type == "user":
			joinUser = ns.Path
		default:
			cfg.Joined = append(cfg.Joined, ns)
		}
	}
	cfg.NewUser = flags&unix.CLONE_NEWUSER != 0 || joinUser != ""
	cfg.NoMount = !hasNamespace(spec, "mount")

	configR, configW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	defer configW.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		configR.Close()
		return fmt.Errorf("pipe: %w", err)
	}
	defer syncR.Close()
	// The process holds what it is given until execve, long after create
	// has exited: an engine that reads create's output to its end (the
	// containerd shim does, with a terminal) would wait for start, which
	// it only calls once create is done. So it narrates only when asked.
	var narration *os.File
	if narrate.Enabled() {
		narration = o.Narration
		if narration == nil {
			narration = os.Stderr
		}
	}
	// The container's process is box-init (final/cmd/box-init), box's small
	// container-side program, found next to us and executed through its
	// descriptor (see sys.OpenInitProgram).
	program, err := sys.OpenInitProgram()
	if err != nil {
		configR.Close()
		syncW.Close()
		return err
	}
	defer program.Close()
	var extra []*os.File
	for i := 0; i < o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	base := 3 + len(extra)
	extra = append(extra, configR, syncW, console, fifo, narration, program)

	// The container's process starts in new namespaces by clone(2) flags:
	// Go cannot unshare a PID or user namespace in place (see box run's
	// supervise.go). No Pdeathsig: the engine that called create reaps
	// it, after we are gone.
	cmd := exec.Command("/proc/self/fd/"+strconv.Itoa(base+fdProgram), "oci-init", strconv.Itoa(base))
	cmd.Args[0] = sys.InitProgramName
	// One processor: the Go runtime then makes no thread for a second (see
	// box run's supervise.go). The program gets the spec's environment.
	cmd.Env = []string{"GOMAXPROCS=1"}
	if !terminal {
		// The program's stdio is ours, passed straight through. With a
		// terminal it is the terminal's slave, and the process gets
		// /dev/null until then, as runc's does: not our stdout, a pipe
		// the engine may be reading to its end.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Setsid: true}
	if cfg.NewUser {
		cmd.SysProcAttr.UidMappings = idMaps(spec.Linux.UIDMappings)
		cmd.SysProcAttr.GidMappings = idMaps(spec.Linux.GIDMappings)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	narrate.Explain(narrate.Process, "Start the container's process: box-init, box's small container-side program, in new namespaces (%s); it becomes the user's program at start.", sys.CloneFlagString(flags))
	var pid int
	placed := false // the process started in its cgroup
	if joinUser != "" {
		// A user namespace by path: joined by a forked copy with one
		// thread, which forks the container's process into the new
		// namespaces, owned by the one joined (see execjoin.go).
		pid, err = startInUserNS(joinUser, joinPid, flags, base, extra[len(extra)-fdCount:], terminal)
	} else {
		pid, placed, err = startIn(cmd, joinPid, bornInCgroup(c.Cgroup, spec))
	}
	configR.Close()
	syncW.Close()
	started = pid
	if err != nil {
		return err
	}
	if c.Cgroup != nil && !placed {
		narrate.Explain(narrate.Cgroup, "Put the container's process in its cgroup before it does anything.")
		if err := c.Cgroup.Place(pid); err != nil {
			return err
		}
	}
	c.Pid = pid
	record := func() error {
		if c.PidStart, err = state.ProcessStart(pid); err != nil {
			return err
		}
		// config.json beside the record, for exec (see Container), first:
		// the record is what says the container exists.
		if err := writeFile(filepath.Join(dir, configFile), raw, 0o600); err != nil {
			return err
		}
		return c.writeRecord()
	}
	var runtimeHooks []oci.Hook
	if h := spec.Hooks; h != nil {
		runtimeHooks = append(append(runtimeHooks, h.Prestart...), h.CreateRuntime...)
	}
	if len(runtimeHooks) > 0 {
		// In our namespaces, once the container's exist, before its
		// process mounts anything: it waits for its config.
		if err := record(); err != nil {
			return err
		}
		if err := c.publishRecord(); err != nil {
			return err
		}
		st := c.State()
		st.Status = "creating"
		if err := runHooks("createRuntime", runtimeHooks, st); err != nil {
			return err
		}
	}
	cfg.Bundle, cfg.Pid = bundle, pid
	if err := sendInitConfig(configW, &cfg); err != nil {
		return fmt.Errorf("send the container's config: %w", err)
	}
	configW.Close()
	if len(runtimeHooks) == 0 {
		// Without hooks to wait for, the process builds the container
		// while we write its record, published once it is ready.
		if err := record(); err != nil {
			return err
		}
	}
	msg, _ := io.ReadAll(syncR)
	if string(msg) != "ready" {
		st, werr := wait(pid)
		if werr != nil {
			st = werr.Error()
		}
		started = 0
		why := strings.TrimPrefix(strings.TrimSpace(string(msg)), "error: ")
		if why == "" {
			why = fmt.Sprintf("the container's process stopped before it was ready (%s)", st)
		}
		return errors.New(why)
	}
	if len(runtimeHooks) == 0 {
		if err := c.publishRecord(); err != nil {
			return err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return err
		}
	}
	// The process is the engine's to reap now.
	return nil
}

// wait reaps the process pid, a child of ours, and says how it ended as
// os.ProcessState does ("exit status 1", "signal: killed").
func wait(pid int) (string, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if ws.Signaled() {
		return "signal: " + ws.Signal().String(), nil
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus()), nil
}

// startIn starts cmd from a thread of its own, locked and thrown away
// after (Go ends a locked thread with its goroutine, whatever it joined):
// the thread first joins the PID namespace at joinPid if set, as
// setns(CLONE_NEWPID) moves only the children the thread makes, and then
// makes the process start in its cgroup where cg is not nil (placed).
func startIn(cmd *exec.Cmd, joinPid string, cg *cgroups.Cgroup) (pid int, placed bool, err error) {
	type result struct {
		pid    int
		placed bool
		err    error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: Go ends the thread with the goroutine
		if joinPid != "" {
			fd, err := sys.OpenNamespace(joinPid)
			if err != nil {
				done <- result{err: err}
				return
			}
			err = sys.Setns(fd, unix.CLONE_NEWPID, joinPid)
			_ = sys.Close(fd)
			if err != nil {
				done <- result{err: err}
				return
			}
		}
		leave, err := enterCgroup(cg, cmd.SysProcAttr)
		if err != nil {
			done <- result{err: err}
			return
		}
		// Forked with syscall's fork and exec, not os/exec's: its first
		// start in a process forks a throwaway child to probe for pidfds.
		pid, err := sys.StartChild(cmd)
		if lerr := leave(); err == nil {
			err = lerr // the process exists: create kills it
		}
		done <- result{pid, cg != nil && pid > 0, err}
	}()
	r := <-done
	return r.pid, r.placed, r.err
}

// bornInCgroup is the container's cgroup if its process can start in it
// (see enterCgroup), or nil: then create moves it there by cgroup.procs.
// A thread of ours in a v1 pids cgroup counts against pids.max while it
// forks: with a process limit, the cgroup must have room for two more.
func bornInCgroup(cg *cgroups.Cgroup, spec *oci.Spec) *cgroups.Cgroup {
	if cg == nil || len(cg.Dirs) == 0 {
		return nil
	}
	if cg.Version == 1 {
		if r := spec.Linux.Resources; r != nil && r.Pids != nil && r.Pids.Limit > 0 {
			for _, d := range cg.Dirs {
				if !containsString(d.Controllers, "pids") {
					continue
				}
				b, err := sys.ReadFileRaw(filepath.Join(d.Path, "pids.current"))
				n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
				if err != nil || perr != nil || n+2 > r.Pids.Limit {
					return nil
				}
			}
		}
		return cg
	}
	if major, minor, err := sys.KernelRelease(); err != nil || major < 5 || major == 5 && minor < 7 || len(cg.Dirs) != 1 {
		return nil // no CLONE_INTO_CGROUP before Linux 5.7
	}
	return cg
}

// enterCgroup makes the process the calling thread forks next start in
// cg, and returns what undoes it once the process exists: moving a
// process through cgroup.procs waits for an RCU grace period (the
// kernel's cgroup_threadgroup_rwsem), from a few to tens of
// milliseconds, in both versions. In v1 the thread moves itself, writing
// 0 into each tasks file, which skips that lock, and a child starts in
// its parent thread's cgroups; in v2 clone3 takes the cgroup's directory
// (CLONE_INTO_CGROUP). The caller is locked to its thread.
func enterCgroup(cg *cgroups.Cgroup, attr *syscall.SysProcAttr) (leave func() error, err error) {
	if cg == nil {
		return func() error { return nil }, nil
	}
	if cg.Version == 1 {
		narrate.Explain(narrate.Cgroup, "Have the container's process start in its cgroup: this thread, which forks it, moves itself there first, writing 0 into each tasks file (a thread moving itself skips the RCU grace period a move through cgroup.procs waits for), and back out after.")
		if err := cg.EnterThread(); err != nil {
			_ = cg.LeaveThread()
			return nil, err
		}
		return cg.LeaveThread, nil
	}
	dir, err := sys.OpenDirectory(cg.Dirs[0].Path)
	if err != nil {
		return nil, err
	}
	narrate.Explain(narrate.Cgroup, "Have the kernel create the container's process right in its cgroup: clone3 with CLONE_INTO_CGROUP and the cgroup directory's descriptor, %d.", dir.Fd())
	attr.UseCgroupFD, attr.CgroupFD = true, int(dir.Fd())
	return func() error {
		attr.UseCgroupFD, attr.CgroupFD = false, 0
		return dir.Close()
	}, nil
}

// idMaps converts the spec's id mappings for Go's clone.
func idMaps(m []oci.IDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

// writePidFile writes pid to path atomically, as engines read it.
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := writeFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// checkSpec checks what create would otherwise find wrong only in the
// container's process: namespaces, capabilities, seccomp, rlimits.
func checkSpec(spec *oci.Spec) error {
	if spec.Hostname != "" && !hasNamespace(spec, "uts") {
		return errors.New("hostname is set but linux.namespaces has no uts namespace: it would rename the host; add {\"type\": \"uts\"}")
	}
	if p := spec.Process; p != nil {
		if _, err := capSets(p.Capabilities); err != nil {
			return err
		}
		for _, rl := range p.Rlimits {
			if _, ok := rlimits[rl.Type]; !ok {
				return fmt.Errorf("unknown rlimit %q in process.rlimits, like RLIMIT_NOFILE", rl.Type)
			}
		}
	}
	if s := spec.Linux.Seccomp; s != nil {
		if _, _, _, err := security.CompileSeccomp(s); err != nil {
			return err
		}
	}
	if p := spec.Linux.Personality; p != nil {
		if _, err := personality(p); err != nil {
			return err
		}
	}
	if len(spec.Linux.UIDMappings) > 0 || len(spec.Linux.GIDMappings) > 0 {
		userNS := false
		for _, ns := range spec.Linux.Namespaces {
			userNS = userNS || ns.Type == "user"
		}
		if !userNS {
			return errors.New("linux.uidMappings are set but linux.namespaces has no user namespace; add {\"type\": \"user\"}")
		}
	}
	return nil
}

// createCgroup makes the container's cgroup with the spec's resources.
func createCgroup(id string, spec *oci.Spec) (*cgroups.Cgroup, error) {
	path := spec.Linux.CgroupsPath
	if path == "" {
		path = "box-runc-" + id
	}
	if strings.Contains(path, ":") {
		return nil, fmt.Errorf("cgroupsPath %q is in systemd's slice:prefix:name form; this runtime manages cgroupfs paths only: use cgroup_manager=\"cgroupfs\"", path)
	}
	version, err := cgroups.Detect()
	if err != nil {
		return nil, err
	}
	files, devices, err := resourceFiles(spec.Linux.Resources, spec.Linux.Devices, version)
	if err != nil {
		return nil, err
	}
	return cgroups.CreateAt(version, path, devices, files)
}
