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

	"github.com/fatih/color"
	"golang.org/x/sys/unix"
)

// feature is the kernel feature a narrated call belongs to; each has a color.
type feature int

const (
	featProcess feature = iota // fork, exec, wait: plain process management
	featRoot                   // changing the root directory
	featPID                    // the PID namespace and its /proc
	featMount                  // the mount namespace and the container's mounts
)

var featureColors = map[feature]color.Attribute{
	featProcess: color.FgWhite,
	featRoot:    color.FgCyan,
	featPID:     color.FgMagenta,
	featMount:   color.FgBlue,
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
// flags, then execve(2) in the new process. Go adds CLONE_VM|CLONE_VFORK
// (and CLONE_PIDFD on newer versions) to fork fast; the comment says so.
func startProcess(cmd *exec.Cmd) error {
	flags := uintptr(unix.SIGCHLD)
	if cmd.SysProcAttr != nil {
		flags |= cmd.SysProcAttr.Cloneflags
	}
	call := fmt.Sprintf("clone(flags=%s /* Go adds CLONE_VM|CLONE_VFORK */)", cloneFlagString(flags))
	_, err := narrateWhole(call, func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w: creating namespaces needs root; use sudo, or a container started with --privileged", err)
	}
	return err
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

func pivotRoot(newRoot, putOld string) error {
	call := fmt.Sprintf("pivot_root(%s, %s)", cString(newRoot), cString(putOld))
	err := narrate(call, func() error { return unix.PivotRoot(newRoot, putOld) })
	if err != nil {
		return fmt.Errorf("pivot_root %s: %w", newRoot, err)
	}
	return nil
}
