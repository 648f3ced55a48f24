package sys

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Unshare is unshare(2) for the calling thread.
func Unshare(flags uintptr) error {
	c := fmt.Sprintf("unshare(%s)", FlagString(flags, CloneFlagNames))
	err := call(c, func() error { return unix.Unshare(int(flags)) })
	if err != nil {
		return fmt.Errorf("unshare %s: %w", FlagString(flags, CloneFlagNames), err)
	}
	return nil
}

// OpenNamespace opens a namespace file, /proc/PID/ns/NAME, for Setns.
func OpenNamespace(path string) (int, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_RDONLY|O_CLOEXEC)", C(path))
	fd, err := callValue(c, func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

// Setns is setns(2): the calling thread joins the namespace fd refers to.
// path is only for the narration and the error.
func Setns(fd int, nstype int, path string) error {
	c := fmt.Sprintf("setns(%d /* %s */, %s)", fd, path, nsTypeName(nstype))
	err := call(c, func() error { return unix.Setns(fd, nstype) })
	if err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	return nil
}

// Sethostname is sethostname(2), which changes the UTS namespace's name.
func Sethostname(name string) error {
	c := fmt.Sprintf("sethostname(%s, %d)", C(name), len(name))
	err := call(c, func() error { return unix.Sethostname([]byte(name)) })
	if err != nil {
		return fmt.Errorf("sethostname %s: %w", name, err)
	}
	return nil
}
