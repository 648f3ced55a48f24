package main

// narrate.go is the one seam between this program and the kernel: every
// system call that builds the container goes through a wrapper here, which
// prints the call as C (the way strace shows it), makes it, and prints the
// result. Feature code never calls unix.* for side effects directly.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/fatih/color"
	"golang.org/x/sys/unix"
)

// feature is the kernel feature a narrated call belongs to; each has a color.
type feature int

const (
	featProcess feature = iota // fork, exec, wait: plain process management
	featRoot                   // changing the root directory
	featPID                    // the PID namespace and its /proc
)

var featureColors = map[feature]color.Attribute{
	featProcess: color.FgWhite,
	featRoot:    color.FgCyan,
	featPID:     color.FgMagenta,
}

// narrator decides whether narration is printed, and in which color: the
// feature of the last explain, so a reason and its calls share a color.
var narrator = struct {
	quiet   bool
	feature feature
}{}

// setupNarration silences narration with --quiet and decides color for
// stderr ourselves: the color library looks at stdout, which may be a pipe
// while stderr is a terminal.
func setupNarration(quiet bool) {
	narrator.quiet = quiet
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	color.NoColor = os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" || err != nil
}

// explain prints the one-sentence reason for the calls that follow.
func explain(f feature, format string, args ...any) {
	narrator.feature = f
	if narrator.quiet {
		return
	}
	color.New(featureColors[f], color.Bold).Fprintf(os.Stderr, "# "+format+"\n", args...)
}

// narrate prints call, runs do, and prints the result as strace would:
// "= 0" or "= -1 EPERM (Operation not permitted)".
func narrate(call string, do func() error) error {
	_, err := narrateValue(call, func() (int, error) { return 0, do() })
	return err
}

// narrateValue is narrate for calls that return a value, like clone's pid.
func narrateValue(call string, do func() (int, error)) (int, error) {
	if !narrator.quiet {
		color.New(featureColors[narrator.feature]).Fprintf(os.Stderr, "  %s", call)
	}
	v, err := do()
	if !narrator.quiet {
		color.New(featureColors[narrator.feature]).Fprintln(os.Stderr, " "+result(v, err))
	}
	return v, err
}

// narrateWhole is narrateValue for a call that starts a process which
// narrates too: the line is printed whole, in one write, once the call has
// returned, so the new process's first line cannot split it.
func narrateWhole(call string, do func() (int, error)) (int, error) {
	v, err := do()
	if !narrator.quiet {
		line := color.New(featureColors[narrator.feature]).Sprintf("  %s %s", call, result(v, err))
		_, _ = os.Stderr.WriteString(line + "\n")
	}
	return v, err
}

// narrateExec prints an execve before making it: on success it never returns.
func narrateExec(call string, do func() error) error {
	if !narrator.quiet {
		color.New(featureColors[narrator.feature]).Fprintf(os.Stderr, "  %s\n", call)
	}
	err := do()
	if !narrator.quiet {
		color.New(featureColors[narrator.feature]).Fprintf(os.Stderr, "  %s\n", result(-1, err))
	}
	return err
}

func result(v int, err error) string {
	var errno unix.Errno
	switch {
	case err == nil:
		return "= " + strconv.Itoa(v)
	case errors.As(err, &errno):
		return fmt.Sprintf("= -1 %s (%s)", unix.ErrnoName(errno), strerror(errno))
	default:
		return "= -1 (" + err.Error() + ")"
	}
}

// strerror is the C library's message for errno, as strace prints it: Go's
// own is the same text in lower case.
func strerror(errno unix.Errno) string {
	msg := errno.Error()
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// flagName ties a flag bit to its C name.
type flagName struct {
	value uintptr
	name  string
}

var cloneFlagNames = []flagName{
	{unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_FS, "CLONE_FS"},
	{unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"},
	{unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_PTRACE, "CLONE_PTRACE"},
	{unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"},
	{unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
}

var mountFlagNames = []flagName{
	{unix.MS_RDONLY, "MS_RDONLY"},
	{unix.MS_NOSUID, "MS_NOSUID"},
	{unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"},
	{unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"},
}

var umountFlagNames = []flagName{
	{unix.MNT_FORCE, "MNT_FORCE"},
	{unix.MNT_DETACH, "MNT_DETACH"},
	{unix.MNT_EXPIRE, "MNT_EXPIRE"},
}

// flagString names the bits of v from table, joined by "|" as in C; bits
// without a name are printed in hex and 0 is "0".
func flagString(v uintptr, table []flagName) string {
	var names []string
	for _, f := range table {
		if v&f.value == f.value && f.value != 0 {
			names = append(names, f.name)
			v &^= f.value
		}
	}
	if v != 0 {
		names = append(names, fmt.Sprintf("%#x", v))
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// cloneFlagString names clone flags; the low byte is the exit signal.
func cloneFlagString(flags uintptr) string {
	s := flagString(flags&^0xff, cloneFlagNames)
	if flags&^0xff == 0 {
		s = ""
	}
	if sig := unix.Signal(flags & 0xff); sig != 0 {
		if s != "" {
			s += "|"
		}
		s += unix.SignalName(sig)
	}
	return s
}

// cString quotes s as C and strace do.
func cString(s string) string { return strconv.Quote(s) }

// cStringOrNull is cString, or NULL for an empty optional argument.
func cStringOrNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return cString(s)
}

// cArgv prints an argument vector as strace does: ["sh", "-c", "echo hi"].
func cArgv(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = cString(a)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// The wrappers. Each prints the call, makes it and wraps an error with the
// operation and the path, so a learner sees what failed where.

func chroot(dir string) error {
	err := narrate(fmt.Sprintf("chroot(%s)", cString(dir)), func() error { return unix.Chroot(dir) })
	if err != nil {
		return fmt.Errorf("chroot %s: %w", dir, err)
	}
	return nil
}

func chdir(dir string) error {
	err := narrate(fmt.Sprintf("chdir(%s)", cString(dir)), func() error { return unix.Chdir(dir) })
	if err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	return nil
}

// execve replaces this process with the container's command.
func execve(path string, argv, env []string) error {
	call := fmt.Sprintf("execve(%s, %s, %s)", cString(path), cArgv(argv), cArgv(env))
	err := narrateExec(call, func() error { return unix.Exec(path, argv, env) })
	return fmt.Errorf("execve %s: %w", path, err)
}

// startProcess starts cmd, which Go does with clone(2) and our namespace
// flags, then execve(2) in the new process. We ask for CLONE_PIDFD; Go
// adds CLONE_VM|CLONE_VFORK to fork fast; the comment says so.
func startProcess(cmd *exec.Cmd) error {
	flags := uintptr(unix.SIGCHLD | unix.CLONE_PIDFD)
	if cmd.SysProcAttr != nil {
		flags |= cmd.SysProcAttr.Cloneflags
	}
	call := fmt.Sprintf("clone(flags=%s /* Go adds CLONE_VM|CLONE_VFORK */)", cloneFlagString(flags))
	_, err := narrateWhole(call, func() (int, error) { return startWithPidfd(cmd) })
	if err == nil {
		narrateChildSetup(cmd)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w: creating namespaces needs root; use sudo, or a container started with --privileged", err)
	}
	return err
}

// startWithPidfd starts cmd asking for a pidfd (CLONE_PIDFD), so the clone
// flags are the same whichever Go built us (os/exec asks for one itself
// from Go 1.23), and closes it: os/exec keeps its own.
func startWithPidfd(cmd *exec.Cmd) (int, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	pidfd := -1
	cmd.SysProcAttr.PidFD = &pidfd
	err := cmd.Start()
	cmd.SysProcAttr.PidFD = nil
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	if err != nil {
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// narrateChildSetup prints what happened between the clone that started
// cmd and the child's execve, in the order it happened
// (syscall/exec_linux.go): the child took its Credential, asked for its
// Pdeathsig and made execve. Each
// succeeded, or Start would have failed, so each shows its success.
func narrateChildSetup(cmd *exec.Cmd) {
	attr := cmd.SysProcAttr
	explain(featProcess, "In the child, before its execve, Go applied the rest of SysProcAttr.")
	if c := attr.Credential; c != nil {
		if !c.NoSetGroups && (len(c.Groups) > 0 || attr.GidMappings == nil || attr.GidMappingsEnableSetgroups) {
			groups := "NULL"
			if len(c.Groups) > 0 {
				groups = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(c.Groups)), ", "), "[]")
				groups = "[" + groups + "]"
			}
			printWhole(fmt.Sprintf("/* child */ setgroups(%d, %s) = 0", len(c.Groups), groups))
		}
		printWhole(fmt.Sprintf("/* child */ setgid(%d) = 0", c.Gid))
		printWhole(fmt.Sprintf("/* child */ setuid(%d) = 0", c.Uid))
	}
	if attr.Pdeathsig != 0 {
		sig := unix.SignalName(attr.Pdeathsig)
		printWhole(fmt.Sprintf("/* child */ prctl(PR_SET_PDEATHSIG, %s) = 0", sig))
		if attr.Cloneflags&unix.CLONE_NEWPID != 0 {
			// Go then signals itself if getppid() changed, taking the parent
			// for dead; across a PID namespace getppid() is 0.
			printWhole(fmt.Sprintf("/* child */ kill(1, %s) = 0 /* getppid() is 0 across a PID namespace: Go takes the parent for dead; PID 1 ignores it */", sig))
		}
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	printWhole(fmt.Sprintf("/* child */ execve(%s, %s, environ /* %d vars */) = 0", cString(cmd.Path), cArgv(cmd.Args), len(env)))
}

// printWhole prints a line of narration in one write, so that no other
// process's narration can split it.
func printWhole(line string) {
	if narrator.quiet {
		return
	}
	s := color.New(featureColors[narrator.feature]).Sprint("  " + line)
	_, _ = os.Stderr.WriteString(s + "\n")
}

// chdirUp climbs n levels with chdir(".."), narrated as one line.
func chdirUp(n int) error {
	call := fmt.Sprintf("chdir(\"..\") /* %d times */", n)
	err := narrate(call, func() error {
		for i := 0; i < n; i++ {
			if err := unix.Chdir(".."); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chdir ..: %w", err)
	}
	return nil
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	call := fmt.Sprintf("mount(%s, %s, %s, %s, %s)", cString(source), cString(target), cString(fstype),
		flagString(flags, mountFlagNames), cStringOrNull(data))
	err := narrate(call, func() error { return unix.Mount(source, target, fstype, flags, data) })
	if err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", source, target, flagString(flags, mountFlagNames), err)
	}
	return nil
}

func umount2(target string, flags int) error {
	call := fmt.Sprintf("umount2(%s, %s)", cString(target), flagString(uintptr(flags), umountFlagNames))
	err := narrate(call, func() error { return unix.Unmount(target, flags) })
	if err != nil {
		return fmt.Errorf("umount %s: %w", target, err)
	}
	return nil
}
