package namespaces

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// ErrUserNamespace says a container's user namespace cannot be joined from
// here: setns(2) into a user namespace fails with EINVAL for a process with
// more than one thread, and a Go program always has several.
var ErrUserNamespace = errors.New("the container has a user namespace, which a multithreaded Go process cannot join with setns (EINVAL)")

// JoinThread moves the calling goroutine's OS thread into the namespaces of
// pid that differ from ours, so that a process started from this goroutine
// is created inside them.
//
// It locks the goroutine to its thread and never unlocks it: the thread no
// longer looks like the others (own root, own namespaces), and a goroutine
// that exits while locked takes its thread with it, so the Go runtime never
// reuses it for other work.
//
// Namespaces are per thread, except two things that need care:
//   - the mount namespace: setns(CLONE_NEWNS) fails (EINVAL) for a thread
//     that shares its root and working directory with others, which Go's
//     threads do; unshare(CLONE_FS) first gives this thread its own copy;
//   - the PID namespace: setns(CLONE_NEWPID) does not move the caller, only
//     the children it creates afterwards (pid_namespaces(7)).
//
// The namespace files are all opened before the first setns: after joining
// the mount namespace, /proc is the container's, where our pid is unknown.
func JoinThread(pid int, kinds []Kind) error {
	runtime.LockOSThread()
	narrate.Explain(narrate.Process, "Give this thread its own root and working directory, so it may enter a mount namespace.")
	if err := sys.Unshare(unix.CLONE_FS); err != nil {
		return err
	}
	type nsFile struct {
		kind Kind
		fd   int
		path string
	}
	var files []nsFile
	defer func() {
		for _, f := range files {
			_ = sys.Close(f.fd)
		}
	}()
	narrate.Explain(narrate.Process, "Open the container's namespaces through /proc/%d/ns, all before entering any.", pid)
	for _, k := range kinds {
		if k.Name == "user" {
			return ErrUserNamespace
		}
		path := "/proc/" + strconv.Itoa(pid) + "/ns/" + k.Name
		fd, err := sys.OpenNamespace(path)
		if err != nil {
			return err
		}
		files = append(files, nsFile{k, fd, path})
	}
	for _, f := range files {
		narrate.Explain(featureOf(f.kind), "Enter the container's %s namespace (%s).", f.kind.Name, f.kind.What)
		if err := sys.Setns(f.fd, int(f.kind.Flag), f.path); err != nil {
			return fmt.Errorf("join the %s namespace of %d: %w", f.kind.Name, pid, err)
		}
	}
	return nil
}

// featureOf is the narration feature of a namespace kind.
func featureOf(k Kind) narrate.Feature {
	switch k.Name {
	case "mnt":
		return narrate.Mount
	case "pid":
		return narrate.PID
	case "uts":
		return narrate.UTS
	case "net":
		return narrate.Net
	case "ipc":
		return narrate.IPC
	case "user":
		return narrate.User
	case "cgroup":
		return narrate.Cgroup
	}
	return narrate.Process
}
