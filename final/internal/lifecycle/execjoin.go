package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"box/final/internal/namespaces"
	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// execJoined starts p in a running container that has a user namespace,
// and returns its pid once it runs p's program. A Go process cannot join
// a user namespace (setns fails with EINVAL with more than one thread), so
// a forked copy of this program does it (sys.StartJoined): into the
// container's cgroup, then its user namespace, then the others, which that
// namespace owns; then it executes box-init, a fresh process inside,
// which becomes p as the container's process did (Init with Exec set: the
// terminal, the user, capabilities, no_new_privs, the seccomp filter) and
// executes the program. The PID namespace is joined by this thread before
// the fork: it applies to the children of whoever joins it.
func (c *Container) execJoined(p *oci.Process, kinds []namespaces.Kind, console *os.File, preserve int, narration *os.File) (int, error) {
	spec := *c.Spec
	spec.Process = p
	raw, err := json.Marshal(&spec)
	if err != nil {
		return 0, err
	}
	cfg := initConfig{ID: c.ID, Config: raw, Rootfs: c.Rootfs, Explain: narrate.Enabled(), Color: narrate.Colored(),
		Terminal: p.Terminal, Bundle: c.Bundle, Pid: c.Pid, Exec: true}
	configR, configW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer configR.Close()
	defer configW.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer syncR.Close()
	defer syncW.Close()
	files := make([]*os.File, fdCount)
	files[fdConfig], files[fdSync], files[fdConsole] = configR, syncW, console
	if narrate.Enabled() {
		files[fdNarration] = narration
		if narration == nil {
			files[fdNarration] = os.Stderr
		}
	}
	j := sys.Joiner{Base: 3 + preserve, Files: files, Root: true, Argv: []string{sys.InitProgramName, "oci-init", strconv.Itoa(3 + preserve)}, Env: []string{"GOMAXPROCS=1"}}
	defer func() {
		for _, f := range j.CgroupProcs {
			f.Close()
		}
		for _, ns := range j.Namespaces {
			_ = sys.Close(ns.Fd)
		}
	}()
	if cg := c.Cgroup; cg != nil {
		narrate.Explain(narrate.Cgroup, "Open the container's cgroup.procs files: the forked copy writes itself (\"0\") into each, first.")
		for _, d := range cg.Dirs {
			f, err := sys.OpenFile(d.Path+"/cgroup.procs", unix.O_WRONLY, "O_WRONLY|O_CLOEXEC")
			if err != nil {
				return 0, err
			}
			j.CgroupProcs = append(j.CgroupProcs, f)
		}
	}
	var pidNS string
	narrate.Explain(narrate.Process, "Open the container's namespaces through /proc/%d/ns, all before entering any; the user namespace is joined first.", c.Pid)
	for _, k := range kinds {
		path := "/proc/" + strconv.Itoa(c.Pid) + "/ns/" + k.Name
		if k.Name == "pid" {
			pidNS = path
			continue
		}
		fd, err := sys.OpenNamespace(path)
		if err != nil {
			return 0, err
		}
		j.Namespaces = append(j.Namespaces, sys.NamespaceFile{Fd: fd, Type: int(k.Flag), Path: path})
	}
	if j.Exe, err = sys.OpenInitProgram(); err != nil {
		return 0, err
	}
	defer j.Exe.Close()

	type started struct {
		pid int
		err error
	}
	done := make(chan started)
	go func() {
		// Never unlocked: Go ends the thread with the goroutine, and with
		// it the PID namespace its children would start in.
		runtime.LockOSThread()
		if pidNS != "" {
			fd, err := sys.OpenNamespace(pidNS)
			if err != nil {
				done <- started{0, err}
				return
			}
			narrate.Explain(narrate.PID, "Enter the container's PID namespace on this thread: the copy forked from it starts there.")
			err = sys.Setns(fd, unix.CLONE_NEWPID, pidNS)
			_ = sys.Close(fd)
			if err != nil {
				done <- started{0, err}
				return
			}
		}
		narrate.Explain(narrate.Process, "Fork a copy of this program with one thread: it joins the cgroup, the user namespace, then the others, and executes box-init inside.")
		pid, err := sys.StartJoined(j)
		done <- started{pid, err}
	}()
	s := <-done
	configR.Close()
	syncW.Close()
	if errors.Is(s.err, unix.ENOENT) {
		return 0, fmt.Errorf("%w: box-init runs inside the container, so it must be a static binary (CGO_ENABLED=0, as make build does)", s.err)
	}
	if s.err != nil {
		return 0, s.err
	}
	if err := sendInitConfig(configW, &cfg); err != nil {
		_ = sys.Kill(s.pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(s.pid, &ws, 0, nil)
		return 0, fmt.Errorf("send the process's config: %w", err)
	}
	configW.Close()
	// The copy's execve of the program closes the pipe; a failure says why.
	msg, _ := io.ReadAll(syncR)
	if len(msg) > 0 {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(s.pid, &ws, 0, nil)
		return 0, errors.New(strings.TrimPrefix(strings.TrimSpace(string(msg)), "error: "))
	}
	return s.pid, nil
}

// startInUserNS starts the container's process for create when config.json
// gives the user namespace by path: a forked copy of this program joins it
// (first joining, on this thread, the PID namespace at joinPid if set),
// becomes its root, and forks the process into new namespaces (flags),
// which the joined user namespace owns; that process, our child, executes
// box's oci-init with files at base and on. With a terminal its stdio is
// /dev/null until the terminal exists, as with a user namespace of its own.
func startInUserNS(userPath, joinPid string, flags uintptr, base int, files []*os.File, terminal bool) (int, error) {
	fd, err := sys.OpenNamespace(userPath)
	if err != nil {
		return 0, err
	}
	defer sys.Close(fd)
	j := sys.Joiner{Namespaces: []sys.NamespaceFile{{Fd: fd, Type: unix.CLONE_NEWUSER, Path: userPath}},
		Clone: flags, Base: base, Files: files, Root: true,
		Argv: []string{sys.InitProgramName, "oci-init", strconv.Itoa(base)}, Env: []string{"GOMAXPROCS=1"}}
	if terminal {
		null, err := sys.DevNull(os.O_RDWR)
		if err != nil {
			return 0, err
		}
		defer null.Close()
		j.Stdio = null
	}
	if j.Exe, err = sys.OpenInitProgram(); err != nil {
		return 0, err
	}
	defer j.Exe.Close()
	type started struct {
		pid int
		err error
	}
	done := make(chan started)
	go func() {
		runtime.LockOSThread() // never unlocked: see execJoined
		if joinPid != "" {
			pfd, err := sys.OpenNamespace(joinPid)
			if err != nil {
				done <- started{0, err}
				return
			}
			err = sys.Setns(pfd, unix.CLONE_NEWPID, joinPid)
			_ = sys.Close(pfd)
			if err != nil {
				done <- started{0, err}
				return
			}
		}
		narrate.Explain(narrate.Process, "Fork a copy of this program with one thread: it joins the user namespace config.json names and forks the container's process into new namespaces (%s).", sys.CloneFlagString(flags))
		pid, err := sys.StartJoined(j)
		done <- started{pid, err}
	}()
	s := <-done
	if errors.Is(s.err, unix.ENOENT) {
		return 0, fmt.Errorf("%w: box-init runs inside the container, so it must be a static binary (CGO_ENABLED=0, as make build does)", s.err)
	}
	return s.pid, s.err
}
