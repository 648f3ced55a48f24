package sys

// ociprocess.go holds the calls an OCI container's process needs beyond
// what box run's does: the five capability sets as config.json gives them,
// resource limits, the umask, a domain name, an execution domain, and the
// exec fifo that holds a created container until start. All act on the
// calling thread (or, for rlimits and the umask, the process), which then
// executes the container's program.

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// CapSets are the capability sets of a thread, as 64-bit masks.
type CapSets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// DropBounding drops from this thread's bounding set every capability up
// to last that keep lacks: no execve can grant it back.
func DropBounding(keep uint64, last int) error {
	var drop []int
	for c := 0; c <= last; c++ {
		if keep&(1<<uint(c)) == 0 {
			drop = append(drop, c)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return CapBsetDropAll(drop, ThisThread)
}

// SetKeepCaps keeps (or not) the permitted set across a change from uid 0
// to another uid (prctl(2) PR_SET_KEEPCAPS), on this thread.
func SetKeepCaps(keep bool) error {
	v := uintptr(0)
	if keep {
		v = 1
	}
	c := fmt.Sprintf("prctl(PR_SET_KEEPCAPS, %d, 0, 0, 0)", v)
	return call(c, func() error {
		if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, v, 0); e != 0 {
			return e
		}
		return nil
	})
}

// SetCapSets sets this thread's effective, permitted and inheritable sets
// with capset(2), then raises each ambient capability it can.
func SetCapSets(s CapSets) error {
	c := fmt.Sprintf("capset({_LINUX_CAPABILITY_VERSION_3, 0}, {effective=%s, permitted=%s, inheritable=%s})",
		CapSetString(s.Effective), CapSetString(s.Permitted), CapSetString(s.Inheritable))
	err := call(c, func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		data := [2]unix.CapUserData{
			{Effective: uint32(s.Effective), Permitted: uint32(s.Permitted), Inheritable: uint32(s.Inheritable)},
			{Effective: uint32(s.Effective >> 32), Permitted: uint32(s.Permitted >> 32), Inheritable: uint32(s.Inheritable >> 32)},
		}
		_, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
		runtime.KeepAlive(&hdr)
		runtime.KeepAlive(&data)
		if e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	for cap := 0; cap < 64; cap++ {
		if s.Ambient&(1<<uint(cap)) == 0 {
			continue
		}
		c := fmt.Sprintf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s, 0, 0)", CapName(cap))
		err := call(c, func() error {
			if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(cap), 0, 0, 0); e != 0 {
				return e
			}
			return nil
		})
		// As runc, a capability that is not both permitted and
		// inheritable stays out of the ambient set (EPERM, narrated).
		if err != nil && err != unix.EPERM {
			return fmt.Errorf("raise ambient %s: %w", CapName(cap), err)
		}
	}
	return nil
}

// SetNoNewPrivsHere sets no_new_privs on the calling thread only, which
// then executes the container's program.
func SetNoNewPrivsHere() error { return SetNoNewPrivs(ThisThread) }

// Setrlimit sets a resource limit of the process. It goes through Go's
// syscall.Setrlimit so that Go forgets the RLIMIT_NOFILE it would
// otherwise restore at execve.
func Setrlimit(resource int, name string, soft, hard uint64) error {
	c := fmt.Sprintf("setrlimit(%s, {rlim_cur=%d, rlim_max=%d})", name, soft, hard)
	err := call(c, func() error { return syscall.Setrlimit(resource, &syscall.Rlimit{Cur: soft, Max: hard}) })
	if err != nil {
		return fmt.Errorf("setrlimit %s: %w", name, err)
	}
	return nil
}

// Umask sets the process's file mode creation mask.
func Umask(mask uint32) {
	narrate.Call(fmt.Sprintf("umask(%#o)", mask))
	old := unix.Umask(int(mask))
	narrate.Result(fmt.Sprintf("= %#o", old))
}

// Setdomainname sets the NIS domain name of the UTS namespace.
func Setdomainname(name string) error {
	c := fmt.Sprintf("setdomainname(%s, %d)", C(name), len(name))
	if err := call(c, func() error { return unix.Setdomainname([]byte(name)) }); err != nil {
		return fmt.Errorf("setdomainname %q: %w", name, err)
	}
	return nil
}

// Personality sets the execution domain (personality(2)), like LINUX32.
func Personality(persona uint64, name string) error {
	c := fmt.Sprintf("personality(%s)", name)
	_, err := callValue(c, func() (int, error) {
		r, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(persona), 0, 0)
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	})
	if err != nil {
		return fmt.Errorf("personality %s: %w", name, err)
	}
	return nil
}

// Mkfifo makes a named pipe.
func Mkfifo(path string, mode uint32) error {
	c := fmt.Sprintf("mkfifo(%s, %#o)", C(path), mode)
	if err := call(c, func() error { return unix.Mkfifo(path, mode) }); err != nil {
		return fmt.Errorf("mkfifo %s: %w", path, err)
	}
	return nil
}

// OpenPath opens path with O_PATH: a handle to reach it later by
// /proc/self/fd/N, from where path no longer resolves (after pivot_root).
func OpenPath(path string) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_PATH|O_CLOEXEC)", C(path))
	fd, err := callValue(c, func() (int, error) { return unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// OpenFile opens path with flags (narrated by name by the caller's text).
func OpenFile(path string, flags int, flagNames string) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, %s)", C(path), flagNames)
	fd, err := callValue(c, func() (int, error) {
		for {
			fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
			if err != unix.EINTR {
				return fd, err
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Setsid makes the calling process the leader of a new session.
func Setsid() error {
	_, err := callValue("setsid()", func() (int, error) { return unix.Setsid() })
	if err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	return nil
}

// Lchown changes the owner of path, not following a symlink.
func Lchown(path string, uid, gid int) error {
	c := fmt.Sprintf("lchown(%s, %d, %d)", C(path), uid, gid)
	if err := call(c, func() error { return unix.Lchown(path, uid, gid) }); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// SetSeccompFilterFlags installs prog as this thread's seccomp filter
// with flags (SECCOMP_FILTER_FLAG_*), named in flagNames.
func SetSeccompFilterFlags(prog []unix.SockFilter, flags uintptr, flagNames string) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	c := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %s, {len=%d, filter=...})", flagNames, len(prog))
	err := call(c, func() error {
		r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
		runtime.KeepAlive(prog)
		if errno != 0 {
			return errno
		}
		if r != 0 { // TSYNC: the id of a thread that could not take the filter
			return fmt.Errorf("thread %d cannot take the filter", r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", err)
	}
	return nil
}

// DialConsole connects to an engine's console socket, a SOCK_STREAM unix
// socket (conmon's, containerd's): the terminal's master goes there.
func DialConsole(path string) (*os.File, error) {
	c := fmt.Sprintf("socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0); connect(%s)", C(path))
	fd, err := callValue(c, func() (int, error) {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// MkdirNew makes directory path, failing with EEXIST if anything is there
// already: a container's state directory, whose existence means its id
// is taken.
func MkdirNew(path string, mode uint32) error {
	c := fmt.Sprintf("mkdir(%s, %#o)", C(path), mode)
	if err := call(c, func() error { return unix.Mkdir(path, mode) }); err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}
