package main

// child.go is the container side of run: a copy of this program that starts
// inside the new namespaces, builds the container's view of the system step
// by step, and finally replaces itself with the user's command.

import (
	"errors"
	"fmt"
	"io"
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
	volumes, err := parseVolumes(c.Volumes)
	if err != nil {
		return err
	}
	sub, err := parseSubnet(c.Subnet)
	if err != nil {
		return err
	}
	if err := waitForRuntime(); err != nil {
		return err
	}
	if err := setHostname(c.Hostname); err != nil {
		return err
	}
	// CLONE_NEWIPC is all an IPC namespace needs: it starts empty.
	explain(featIPC, "This IPC namespace started empty: the host's System V shared memory, semaphores and message queues are invisible here, and ours will be invisible there.")
	if err := setupContainerNet(c.Net, sub); err != nil {
		return err
	}
	if err := makeMountsPrivate(); err != nil {
		return err
	}
	if err := bindRootfs(c.Rootfs); err != nil {
		return err
	}
	if err := mountVolumes(c.Rootfs, volumes); err != nil {
		return err
	}
	if err := mountDev(c.Rootfs); err != nil {
		return err
	}
	// In a user namespace the kernel mounts a new proc only where one is
	// already fully visible in the mount namespace (mount_too_revealing in
	// fs/namespace.c), so mount it while the host's /proc is still there.
	if err := mountProc(filepath.Join(c.Rootfs, "proc")); err != nil {
		return err
	}
	if err := switchRoot(c.Rootfs); err != nil {
		return err
	}
	if err := mountTmp("/tmp"); err != nil {
		return err
	}
	return execCommand(command)
}

// syncFD is the read end of the pipe run passes in ExtraFiles[0], which
// this process has as fd 3, after stdin, stdout and stderr.
const syncFD = 3

// waitForRuntime blocks until run has set up from outside what only the
// parent can, and writes one byte to the sync pipe. EOF without the byte
// means run gave up or died.
func waitForRuntime() error {
	pipe := os.NewFile(syncFD, "sync pipe")
	defer pipe.Close()
	if _, err := io.ReadFull(pipe, make([]byte, 1)); err != nil {
		return fmt.Errorf("wait for the runtime on the sync pipe: %w", err)
	}
	// run closes its end once it has narrated that write: waiting for EOF
	// keeps our narration from cutting into its line on the shared stderr.
	if _, err := io.Copy(io.Discard, pipe); err != nil {
		return fmt.Errorf("wait for the runtime on the sync pipe: %w", err)
	}
	return nil
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
