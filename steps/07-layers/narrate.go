package main

// narrate.go is the one seam between this program and the kernel: every
// system call that builds the container goes through a wrapper here, which
// prints the call as C (the way strace shows it), makes it, and prints the
// result. Feature code never calls unix.* for side effects directly.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	featMount                  // the mount namespace and the container's mounts
	featUTS                    // the UTS namespace: hostname
	featNet                    // the network namespace and its interfaces
	featIPC                    // the IPC namespace: System V objects
	featUser                   // the user namespace and its id maps
	featCgroup                 // control groups: limits
	featLayers                 // image layers and the overlay mount
)

var featureColors = map[feature]color.Attribute{
	featProcess: color.FgWhite,
	featRoot:    color.FgCyan,
	featPID:     color.FgMagenta,
	featMount:   color.FgBlue,
	featUTS:     color.FgYellow,
	featNet:     color.FgGreen,
	featIPC:     color.FgHiMagenta,
	featUser:    color.FgRed,
	featCgroup:  color.FgHiYellow,
	featLayers:  color.FgHiCyan,
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
// adds CLONE_VM|CLONE_VFORK to fork fast, except with
// CLONE_NEWUSER, where the child must wait for its id maps; the comment
// says so.
func startProcess(cmd *exec.Cmd) error {
	flags := uintptr(unix.SIGCHLD | unix.CLONE_PIDFD)
	if cmd.SysProcAttr != nil {
		flags |= cmd.SysProcAttr.Cloneflags
	}
	note := " /* Go adds CLONE_VM|CLONE_VFORK */"
	if flags&unix.CLONE_NEWUSER != 0 {
		note = ""
	}
	call := fmt.Sprintf("clone(flags=%s%s)", cloneFlagString(flags), note)
	_, err := narrateWhole(call, func() (int, error) { return startWithPidfd(cmd) })
	if err == nil {
		narrateChildSetup(cmd)
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
// (syscall/exec_linux.go): os/exec wrote the id maps of a new user
// namespace from here while the child waited on a pipe; then the child
// took its Credential, asked for its Pdeathsig and made execve. Each
// succeeded, or Start would have failed, so each shows its success.
func narrateChildSetup(cmd *exec.Cmd) {
	attr := cmd.SysProcAttr
	pid := cmd.Process.Pid
	if len(attr.UidMappings) > 0 {
		explain(featUser, "Between clone and the child's execve, os/exec wrote its id maps: root inside is host uid %d, and ids outside the map show as nobody (65534).", attr.UidMappings[0].HostID)
		setgroups := "deny"
		if attr.GidMappingsEnableSetgroups {
			setgroups = "allow"
		}
		printWhole(fmt.Sprintf("write /proc/%d/uid_map <- %s = 0", pid, cString(idMapText(attr.UidMappings))))
		printWhole(fmt.Sprintf("write /proc/%d/setgroups <- %s = 0", pid, cString(setgroups)))
		printWhole(fmt.Sprintf("write /proc/%d/gid_map <- %s = 0", pid, cString(idMapText(attr.GidMappings))))
	}
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

// The calls that build the container's files: its /dev and the mount
// points of volumes.

// mkdir makes one directory.
func mkdir(path string, mode uint32) error {
	err := narrate(fmt.Sprintf("mkdir(%s, %#o)", cString(path), mode), func() error { return unix.Mkdir(path, mode) })
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}

// mkdirAll makes path and its missing parents, each with a narrated mkdir.
func mkdirAll(path string, mode uint32) error {
	var missing []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := mkdir(missing[i], mode); err != nil {
			return err
		}
	}
	return nil
}

// createFile creates an empty file (or opens an existing one) to mount
// over; os.WriteFile would do the same with flags O_WRONLY|O_TRUNC.
func createFile(path string, mode uint32) error {
	call := fmt.Sprintf("openat(AT_FDCWD, %s, O_RDONLY|O_CREAT|O_CLOEXEC, %#o)", cString(path), mode)
	fd, err := narrateValue(call, func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC, mode) })
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return unix.Close(fd)
}

// symlink makes link point to target.
func symlink(target, link string) error {
	err := narrate(fmt.Sprintf("symlink(%s, %s)", cString(target), cString(link)), func() error { return unix.Symlink(target, link) })
	if err != nil {
		return fmt.Errorf("symlink %s: %w", link, err)
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

func sethostname(name string) error {
	call := fmt.Sprintf("sethostname(%s, %d)", cString(name), len(name))
	err := narrate(call, func() error { return unix.Sethostname([]byte(name)) })
	if err != nil {
		return fmt.Errorf("sethostname %s: %w", name, err)
	}
	return nil
}

// releaseChild writes the one byte the container process waits for on the
// sync pipe, then closes the pipe.
func releaseChild(w *os.File) error {
	call := fmt.Sprintf("write(%d, \"\\x01\", 1)", w.Fd())
	_, err := narrateValue(call, func() (int, error) { return w.Write([]byte{1}) })
	if closeErr := w.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write sync pipe: %w", err)
	}
	return nil
}

var netlinkMessageNames = map[uint16]string{
	unix.RTM_NEWLINK: "RTM_NEWLINK",
	unix.RTM_SETLINK: "RTM_SETLINK",
	unix.RTM_DELLINK: "RTM_DELLINK",
	unix.RTM_NEWADDR: "RTM_NEWADDR",
}

var netlinkFlagNames = []flagName{
	{unix.NLM_F_REQUEST, "NLM_F_REQUEST"},
	{unix.NLM_F_ACK, "NLM_F_ACK"},
	{unix.NLM_F_EXCL, "NLM_F_EXCL"},
	{unix.NLM_F_CREATE, "NLM_F_CREATE"},
}

// netlinkConn is a NETLINK_ROUTE socket: the kernel's interface for
// network links, addresses and routes, which ip(8) uses too. It belongs to
// the network namespace of the process that opened it.
type netlinkConn struct {
	fd  int
	seq uint32
}

func openNetlink() (*netlinkConn, error) {
	call := "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)"
	fd, err := narrateValue(call, func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	})
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	return &netlinkConn{fd: fd}, nil
}

func (c *netlinkConn) close() { unix.Close(c.fd) }

// send sends req with NLM_F_REQUEST|NLM_F_ACK and waits for the kernel's
// acknowledgement. It is narrated as the request, "RTM_SETLINK {...}", and
// its result is the error field of the ack: 0 or -errno, as a system call's.
func (c *netlinkConn) send(req netlinkRequest) error {
	err := narrate(req.String(), func() error { return c.roundTrip(req) })
	if err != nil {
		return fmt.Errorf("%s: %w", req.what, err)
	}
	return nil
}

func (c *netlinkConn) roundTrip(req netlinkRequest) error {
	c.seq++
	msg := req.encode(c.seq)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return err
		}
		replies, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parse netlink reply: %w", err)
		}
		for _, r := range replies {
			if r.Header.Seq != c.seq || r.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(r.Data) < 4 {
				return errors.New("short netlink ack")
			}
			// The ack carries 0 for success, or a negative errno.
			if code := int32(binary.NativeEndian.Uint32(r.Data)); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}

// idMapText is a map as os/exec writes it: one "inside outside count" line
// per range.
func idMapText(maps []syscall.SysProcIDMap) string {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}

// The cgroup wrappers. A cgroup is a directory of a special filesystem:
// making one is mkdir, setting a limit is writing a number into a file of
// it, and the kernel's counts are read from its files.

var fsTypeNames = map[int64]string{
	unix.CGROUP2_SUPER_MAGIC: "CGROUP2_SUPER_MAGIC",
	unix.TMPFS_MAGIC:         "TMPFS_MAGIC",
}

// statfs returns the type of the filesystem at path, its magic number.
func statfs(path string) (int64, error) {
	var st unix.Statfs_t
	err := unix.Statfs(path, &st)
	name, known := fsTypeNames[int64(st.Type)]
	if !known {
		name = fmt.Sprintf("%#x", st.Type)
	}
	// Printed once made, as strace does, to show what the kernel filled in.
	call := fmt.Sprintf("statfs(%s, {f_type=%s, ...})", cString(path), name)
	if err != nil {
		call = fmt.Sprintf("statfs(%s, buf)", cString(path))
	}
	if err := narrate(call, func() error { return err }); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Type), nil
}

func rmdirCgroup(path string) error {
	err := narrate(fmt.Sprintf("rmdir(%s)", cString(path)), func() error { return unix.Rmdir(path) })
	if err != nil {
		return fmt.Errorf("rmdir %s: %w", path, err)
	}
	return nil
}

// openDir opens a directory, to lock it or to hand it to clone3.
func openDir(path string) (*os.File, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	call := fmt.Sprintf("open(%s, O_RDONLY|O_DIRECTORY|O_CLOEXEC)", cString(path))
	fd, err := narrateValue(call, func() (int, error) { return unix.Open(path, flags, 0) })
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

var flockNames = []flagName{{unix.LOCK_EX, "LOCK_EX"}, {unix.LOCK_NB, "LOCK_NB"}}

// flock locks the open file f; the kernel drops the lock when the last
// descriptor of it closes, also when its process is killed.
func flock(f *os.File, how int) error {
	call := fmt.Sprintf("flock(%d, %s)", f.Fd(), flagString(uintptr(how), flockNames))
	err := narrate(call, func() error { return unix.Flock(int(f.Fd()), how) })
	if err != nil {
		return fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	return nil
}

// writeCgroupFile writes value into a control file, in one write(2) as
// the kernel wants it: "write PATH <- VALUE".
func writeCgroupFile(path, value string) error {
	err := narrate(fmt.Sprintf("write %s <- %s", path, cString(value)), func() error {
		return os.WriteFile(path, []byte(value), 0)
	})
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// readCgroupFile reads a control file and shows what the kernel wrote in
// it: "read PATH -> VALUE".
func readCgroupFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		narrate("read "+path, func() error { return err })
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	text := strings.TrimSpace(string(b))
	printWhole(fmt.Sprintf("read %s -> %s", path, cString(text)))
	return text, nil
}

// startProcessInCgroup starts cmd as startProcess does, but with clone3(2)
// and CLONE_INTO_CGROUP, so the kernel creates the process in the cgroup
// whose directory dir is: it never runs anywhere else.
func startProcessInCgroup(cmd *exec.Cmd, dir *os.File) error {
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(dir.Fd())
	names := append(cloneFlagNames[:len(cloneFlagNames):len(cloneFlagNames)], flagName{unix.CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"})
	flags := flagString(cmd.SysProcAttr.Cloneflags|unix.CLONE_PIDFD|unix.CLONE_INTO_CGROUP, names)
	call := fmt.Sprintf("clone3({flags=%s, exit_signal=SIGCHLD, cgroup=%d}, 88)", flags, dir.Fd())
	_, err := narrateWhole(call, func() (int, error) { return startWithPidfd(cmd) })
	if err == nil {
		narrateChildSetup(cmd)
	}
	return err
}

// Layers: the calls that store image layers.

// show prints a line of what the last explained step found, such as a
// change the container made, in the step's color.
func show(format string, args ...any) {
	if narrator.quiet {
		return
	}
	color.New(featureColors[narrator.feature]).Fprintf(os.Stderr, "  "+format+"\n", args...)
}

// openCreate creates (or truncates) a file of the store and opens it.
func openCreate(path string) (*os.File, error) {
	call := fmt.Sprintf("openat(AT_FDCWD, %s, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600)", cString(path))
	fd, err := narrateValue(call, func() (int, error) {
		return unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// rename moves from to to in one step: a reader of to sees the old entry
// or the new one, never half of one.
func rename(from, to string) error {
	err := narrate(fmt.Sprintf("rename(%s, %s)", cString(from), cString(to)), func() error { return unix.Rename(from, to) })
	if err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}

// chown gives path, and not a symlink's target, its owner and group.
func chown(path string, uid, gid int) error {
	call := fmt.Sprintf("fchownat(AT_FDCWD, %s, %d, %d, 0)", cString(path), uid, gid)
	err := narrate(call, func() error { return unix.Fchownat(unix.AT_FDCWD, path, uid, gid, 0) })
	if err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// removeAll removes path and everything below it, as rm -r does: each file
// with unlink(2) and each dir, once emptied, with rmdir(2), narrated as one
// line that counts them, /* under "DIR": 27 unlink, 6 rmdir */, which the
// tests hold to what strace sees. A call that fails is shown whole.
func removeAll(path string) error {
	var paths []string
	var isDir []bool
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			paths, isDir = append(paths, p), append(isDir, d.IsDir())
		}
		return err
	})
	if errors.Is(err, unix.ENOENT) && len(paths) == 0 {
		return nil
	}
	var n [2]int // unlink, rmdir
	// WalkDir lists a dir before what it holds: remove from the end.
	for i := len(paths) - 1; i >= 0 && err == nil; i-- {
		name, fn, which := "unlink", unix.Unlink, 0
		if isDir[i] {
			name, fn, which = "rmdir", unix.Rmdir, 1
		}
		if err = fn(paths[i]); err == nil {
			n[which]++
		} else {
			narrate(name+"("+cString(paths[i])+")", func() error { return err })
		}
	}
	if n[0]+n[1] > 0 {
		show("/* under %s: %d unlink, %d rmdir */", cString(path), n[0], n[1])
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
