package main

// child.go is the container side of run: a copy of this program that starts
// inside the new namespaces, builds the container's view of the system step
// by step, and finally replaces itself with the user's command.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

type childCmd struct {
	containerOptions
}

// init keeps the main goroutine on the thread the process started with.
// The kernel keeps PR_SET_PDEATHSIG per thread, and os/exec sets it on that
// one; execve from another thread makes that thread the process, without
// it, and the container would outlive a killed runtime.
func init() { runtime.LockOSThread() }

// containerPath is the PATH commands are looked up in inside the container.
const containerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (c *childCmd) Run() error {
	command, err := c.command()
	if err != nil {
		return err
	}
	if err := enterRootfs(c.Rootfs); err != nil {
		return err
	}
	return execCommand(command)
}

// enterRootfs makes rootfs the root directory of this process and its
// children: chroot(2) changes where path lookups start, and chdir moves us
// inside it, since chroot leaves the working directory where it was.
func enterRootfs(rootfs string) error {
	explain(featRoot, "Change the root directory to the rootfs, then step inside it.")
	if err := chroot(rootfs); err != nil {
		return err
	}
	return chdir("/")
}

// execCommand replaces this process with the user's command, so the command
// inherits everything set up so far, including our PID.
func execCommand(argv []string) error {
	path, err := findCommand("/", argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
		return exitCode(exitNotFound)
	}
	env := []string{"PATH=" + containerPath, "HOME=/root"}
	if term := os.Getenv("TERM"); term != "" {
		env = append(env, "TERM="+term)
	}
	explain(featProcess, "Replace this program with the command: same process, same PID, new program.")
	err = execve(path, argv, env)
	fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
	if errors.Is(err, unix.ENOENT) {
		return exitCode(exitNotFound)
	}
	return exitCode(exitCannotRun)
}

// findCommand finds name in the container's PATH below root, as the shell
// would inside. Lstat is enough: a busybox applet is a symlink that only
// resolves inside the container.
func findCommand(root, name string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Lstat(filepath.Join(root, name)); err != nil {
			return "", fmt.Errorf("command %s not found in rootfs %s", name, root)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(containerPath) {
		if _, err := os.Lstat(filepath.Join(root, dir, name)); err == nil {
			return filepath.Join(dir, name), nil
		}
	}
	return "", fmt.Errorf("command %q not found in rootfs %s (looked in %s)", name, root, containerPath)
}
