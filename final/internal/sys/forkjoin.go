package sys

// forkjoin.go starts a process inside a running container that has a user
// namespace of its own. setns(2) refuses to move a process with more than
// one thread into a user namespace (EINVAL: the threads of a process share
// one), and a Go program always has several: the runtime starts them
// before main. runc answers with C that runs before Go starts; box is
// built without cgo, so it forks a copy of itself, which has one thread,
// and has that copy make a fixed list of system calls prepared beforehand
// (raw, no Go runtime: no memory allocated, no stack grown, signals
// blocked), ending in execveat of box itself, now a fresh program inside
// every namespace of the container.

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// NamespaceFile is a namespace to join: an open /proc/PID/ns file.
type NamespaceFile struct {
	Fd   int
	Type int // CLONE_NEWUSER, CLONE_NEWNS, ...
	Path string
}

// Joiner is what the forked copy does, in this order: write "0" (itself)
// to each cgroup.procs file, join each namespace; with Clone, fork once
// more into new namespaces (CLONE_PARENT: the new process is the caller's
// child, and the copy exits); start a session, give Stdio (if set) the
// descriptors 0, 1, 2 and Files Base, Base+1, ... (nil: left closed), with
// Root become uid and gid 0 of the user namespace it joined, then execute
// Exe, an O_PATH descriptor, with Argv and Env. Descriptors below Base
// that are not close-on-exec pass unchanged.
type Joiner struct {
	CgroupProcs []*os.File
	Namespaces  []NamespaceFile
	Clone       uintptr // CLONE_NEW* flags
	Stdio       *os.File
	Base        int
	Files       []*os.File
	Root        bool
	Exe         *os.File
	Argv, Env   []string
}

// rawCall is one prepared system call for the copy, and how to print it.
type rawCall struct {
	nr   uintptr
	args [6]uintptr
	text string
}

// rawReport is what the copy writes back for each call: its index and its
// result, or the error number.
type rawReport struct {
	index  uint32
	failed uint32
	value  uint64
}

// StartJoined forks the copy from the calling thread, which must be
// locked (its PID namespace for children is the one the copy starts in),
// and returns its pid once it has executed Exe. Each call the copy made
// is narrated with the result it reported.
func StartJoined(j Joiner) (int, error) {
	var keep []any // what the prepared calls point to, alive until the copy is done
	cstr := func(s string) uintptr {
		b, _ := syscall.BytePtrFromString(s)
		keep = append(keep, b)
		return uintptr(unsafe.Pointer(b))
	}
	cvec := func(ss []string) uintptr {
		v, _ := syscall.SlicePtrFromStrings(ss)
		keep = append(keep, v)
		return uintptr(unsafe.Pointer(&v[0]))
	}
	var calls []rawCall
	add := func(nr uintptr, text string, args ...uintptr) {
		c := rawCall{nr: nr, text: text}
		copy(c.args[:], args)
		calls = append(calls, c)
	}
	zero := cstr("0")
	for _, f := range j.CgroupProcs {
		add(unix.SYS_WRITE, fmt.Sprintf("write %s <- %s", f.Name(), C("0")), f.Fd(), zero, 1)
	}
	for _, ns := range j.Namespaces {
		add(unix.SYS_SETNS, fmt.Sprintf("setns(%d /* %s */, %s)", ns.Fd, ns.Path, nsTypeName(ns.Type)), uintptr(ns.Fd), uintptr(ns.Type))
	}
	if j.Clone != 0 {
		add(unix.SYS_CLONE, fmt.Sprintf("clone(flags=CLONE_PARENT|%s)", CloneFlagString(j.Clone|uintptr(unix.SIGCHLD))), unix.CLONE_PARENT|j.Clone|uintptr(unix.SIGCHLD), 0, 0, 0, 0)
	}
	add(unix.SYS_SETSID, "setsid()")
	// Move the files above every target first, so no dup3 overwrites a
	// file still to be moved.
	high := j.Base + len(j.Files)
	var moved []int
	defer func() {
		for _, fd := range moved {
			unix.Close(fd)
		}
	}()
	if j.Stdio != nil {
		for std := 0; std < 3; std++ {
			add(unix.SYS_DUP3, fmt.Sprintf("dup3(%d, %d, 0)", j.Stdio.Fd(), std), j.Stdio.Fd(), uintptr(std), 0)
		}
	}
	for i, f := range j.Files {
		if f == nil {
			continue
		}
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, high)
		if err != nil {
			return 0, fmt.Errorf("fcntl(%d, F_DUPFD_CLOEXEC, %d): %w", f.Fd(), high, err)
		}
		moved = append(moved, fd)
		add(unix.SYS_DUP3, fmt.Sprintf("dup3(%d, %d, 0)", fd, j.Base+i), uintptr(fd), uintptr(j.Base+i), 0)
	}
	if j.Root {
		// Our uid, the host's 0, is no one in the container's user
		// namespace: execve would drop every capability we got there by
		// joining it. Its root keeps them.
		add(unix.SYS_SETRESGID, "setresgid(0, 0, 0)", 0, 0, 0)
		add(unix.SYS_SETRESUID, "setresuid(0, 0, 0)", 0, 0, 0)
	}
	// On the heap, which does not move: the calls hold their addresses.
	all, old := new(unix.Sigset_t), new(unix.Sigset_t)
	keep = append(keep, all, old)
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	add(unix.SYS_RT_SIGPROCMASK, "rt_sigprocmask(SIG_SETMASK, [the caller's], NULL, 8)", unix.SIG_SETMASK, uintptr(unsafe.Pointer(old)), 0, 8)
	add(unix.SYS_EXECVEAT, fmt.Sprintf("execveat(%d /* %s */, \"\", %s, environ /* %d vars */, AT_EMPTY_PATH)", j.Exe.Fd(), j.Exe.Name(), cArgv(j.Argv), len(j.Env)),
		j.Exe.Fd(), cstr(""), cvec(j.Argv), cvec(j.Env), unix.AT_EMPTY_PATH)

	reports, reportW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer reports.Close()
	pid, err := forkRaw(calls, int(reportW.Fd()), all, old)
	reportW.Close()
	runtime.KeepAlive(keep)
	runtime.KeepAlive(j)
	c := "clone(flags=SIGCHLD)"
	narrate.Line(c + " " + Result(pid, err))
	if err != nil {
		return 0, fmt.Errorf("fork: %w", err)
	}
	// Each report is the copy's own, printed in the order of the calls
	// (with Clone, two processes write them) once the last is back.
	got := make([]*rawReport, len(calls))
	for {
		r := new(rawReport)
		buf := (*[16]byte)(unsafe.Pointer(r))[:]
		if n, _ := readFull(reports, buf); n < len(buf) {
			break
		}
		if int(r.index) < len(got) {
			got[r.index] = r
		}
	}
	var failure error
	first := pid
	for i, call := range calls {
		r := got[i]
		if i == len(calls)-1 && r == nil && failure == nil {
			narrate.Line("/* child */ " + call.text + " = 0")
			break
		}
		if r == nil {
			if failure == nil {
				failure = fmt.Errorf("%s: the copy stopped without a word", strings.SplitN(call.text, "(", 2)[0])
			}
			break
		}
		if r.failed != 0 {
			e := unix.Errno(r.failed)
			narrate.Line("/* child */ " + call.text + " " + Result(-1, e))
			failure = fmt.Errorf("%s: %w", strings.SplitN(call.text, "(", 2)[0], e)
			break
		}
		narrate.Line("/* child */ " + call.text + " " + Result(int(r.value), nil))
		if call.nr == unix.SYS_CLONE {
			pid = int(r.value) // the process that goes on, our child too
		}
	}
	if first != pid {
		// The copy that forked exits at once; reap it.
		var ws unix.WaitStatus
		_, _ = unix.Wait4(first, &ws, 0, nil)
	}
	if failure != nil {
		var ws unix.WaitStatus
		if first != pid {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		return 0, failure
	}
	return pid, nil
}

// readFull reads len(b) bytes, or fewer at the end of the file.
func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := f.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// forkRaw forks this process from the calling thread with all signals
// blocked, as os/exec does, and has the copy make calls (see runRaw).
func forkRaw(calls []rawCall, report int, all, old *unix.Sigset_t) (int, error) {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(all)), uintptr(unsafe.Pointer(old)), 8, 0, 0); e != 0 {
		return 0, e
	}
	pid, _, e := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if pid == 0 && e == 0 {
		runRaw(calls, report)
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(old)), 0, 8, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(pid), nil
}

// runRaw is the copy: one thread, a copy of the parent's memory in which
// the Go runtime must not run (its locks may be held by threads that were
// not copied). So only raw system calls, no allocation, no stack growth.
// Each call's result is written to report; the first failure ends the
// copy. The last call is the execveat, which does not return.
//
//go:nosplit
//go:norace
func runRaw(calls []rawCall, report int) {
	for i := 0; i < len(calls); i++ {
		c := &calls[i]
		r1, _, e := syscall.RawSyscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		var r rawReport
		r.index = uint32(i)
		r.value = uint64(r1)
		if e != 0 {
			r.failed = uint32(e)
		}
		if c.nr == unix.SYS_CLONE && e == 0 && r1 == 0 {
			continue // the new process goes on; the copy reports the clone
		}
		if c.nr != unix.SYS_EXECVEAT || e != 0 {
			syscall.RawSyscall(unix.SYS_WRITE, uintptr(report), uintptr(unsafe.Pointer(&r)), 16)
		}
		if e != 0 || c.nr == unix.SYS_CLONE {
			break
		}
	}
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}
