// Command attacker is what a hostile process inside a container tries
// against the runtime's process that stays there (PID 1, the init): read
// or write its memory, trace it, take its file descriptors, find the
// runtime's binary, see the host's cgroup paths. The tests copy it, built
// static, into a container and read its report: one line per attempt,
// "name: ok" when the kernel let it through, "name: ERRNO" when not.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	target := 1
	report("open /proc/1/mem O_RDWR", func() error {
		f, err := os.OpenFile("/proc/1/mem", os.O_RDWR, 0)
		if err == nil {
			f.Close()
		}
		return err
	})
	report("ptrace PTRACE_ATTACH 1", func() error {
		err := unix.PtraceAttach(target)
		if err == nil {
			_ = unix.PtraceDetach(target)
		}
		return err
	})
	report("ptrace PTRACE_SEIZE 1", func() error {
		err := unix.PtraceSeize(target)
		if err == nil {
			_ = unix.PtraceDetach(target)
		}
		return err
	})
	report("process_vm_writev 1", func() error {
		buf := make([]byte, 8)
		local := []unix.Iovec{{Base: &buf[0], Len: 8}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: 8}}
		_, err := unix.ProcessVMWritev(target, local, remote, 0)
		if errors.Is(err, unix.EFAULT) {
			return nil // allowed through, only the address was wrong
		}
		return err
	})
	report("readlink /proc/1/exe", func() error { _, err := os.Readlink("/proc/1/exe"); return err })
	report("open /proc/1/exe", func() error {
		f, err := os.Open("/proc/1/exe")
		if err == nil {
			f.Close()
		}
		return err
	})
	report("readlink /proc/1/fd/0", func() error { _, err := os.Readlink("/proc/1/fd/0"); return err })
	report("readlink /proc/1/cwd", func() error { _, err := os.Readlink("/proc/1/cwd"); return err })
	report("read /proc/1/environ", func() error { _, err := os.ReadFile("/proc/1/environ"); return err })
	report("pidfd_getfd 1 fd 0..9", func() error {
		pidfd, err := unix.PidfdOpen(target, 0)
		if err != nil {
			return err
		}
		defer unix.Close(pidfd)
		var last error
		for fd := 0; fd < 10; fd++ {
			got, err := unix.PidfdGetfd(pidfd, fd, 0)
			if err == nil {
				unix.Close(got)
				return nil
			}
			if !errors.Is(err, unix.EBADF) {
				last = err
			}
		}
		return last
	})
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		fmt.Printf("cgroup: %v\n", err)
		return
	}
	paths := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i := strings.LastIndexByte(line, ':'); i >= 0 {
			paths[line[i+1:]] = true
		}
	}
	var list []string
	for p := range paths {
		list = append(list, p)
	}
	fmt.Printf("cgroup paths: %s\n", strings.Join(list, " "))
}

// report prints name and what the kernel answered.
func report(name string, try func() error) {
	err := try()
	var errno unix.Errno
	switch {
	case err == nil:
		fmt.Printf("%s: ok\n", name)
	case errors.As(err, &errno):
		fmt.Printf("%s: %s\n", name, unix.ErrnoName(errno))
	default:
		fmt.Printf("%s: %v\n", name, err)
	}
}
