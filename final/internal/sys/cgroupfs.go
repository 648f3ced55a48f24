package sys

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// Cgroup2Magic is the f_type statfs(2) reports for a cgroup2 filesystem:
// /sys/fs/cgroup on a cgroup v2 host (on a v1 host it is a tmpfs holding
// a mount per hierarchy, TmpfsMagic). The cgroup code asks with Statfs.
const Cgroup2Magic = unix.CGROUP2_SUPER_MAGIC

// The cgroup filesystems' names join the table Statfs narrates with.
func init() {
	magicNames[unix.CGROUP2_SUPER_MAGIC] = "CGROUP2_SUPER_MAGIC"
	magicNames[unix.CGROUP_SUPER_MAGIC] = "CGROUP_SUPER_MAGIC"
}

// Rmdir is rmdir(2). Removing a cgroup's directory removes the cgroup;
// the kernel refuses (EBUSY) while a process is in it.
func Rmdir(path string) error {
	err := call(fmt.Sprintf("rmdir(%s)", C(path)), func() error { return unix.Rmdir(path) })
	if err != nil {
		return fmt.Errorf("rmdir %s: %w", path, err)
	}
	return nil
}

// OpenDirectory opens the directory path, to lock it with flock(2) or to
// hand a cgroup to clone3(2) as CLONE_INTO_CGROUP's descriptor.
func OpenDirectory(path string) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_RDONLY|O_DIRECTORY|O_CLOEXEC)", C(path))
	fd, err := callValue(c, func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if recorder() != nil {
		// A test's Recorder made no descriptor: hand out one the caller
		// may lock and close, rather than the number the Recorder gave.
		return os.Open(os.DevNull)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadCgroupFile reads a cgroup's control file and narrates what the
// kernel answered, `read PATH -> "text"`: the counters are the lesson of
// accounting. Reads that only poll (is it frozen yet, is it empty) need
// not come here.
func ReadCgroupFile(path string) (string, error) {
	var text string
	err := readNarrated(path, func() error {
		b, err := os.ReadFile(path)
		text = string(b)
		return err
	}, func() string { return text })
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return text, nil
}

// readNarrated narrates one read of a kernel file as a single line, with
// the text read (or the error) after the arrow.
func readNarrated(path string, do func() error, text func() string) error {
	var err error
	if r := recorder(); r != nil {
		_, err = r.Record("read " + path)
	} else {
		err = do()
	}
	if err != nil {
		narrate.Line(fmt.Sprintf("read %s -> %s", path, Result(-1, err)))
		return err
	}
	narrate.Line(fmt.Sprintf("read %s -> %s", path, C(text())))
	return nil
}

// KernelRelease is the running kernel's version numbers, from uname(2):
// 6.1.0-18-amd64 gives 6 and 1. It only reads.
func KernelRelease() (major, minor int, err error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return 0, 0, fmt.Errorf("uname: %w", err)
	}
	return ParseKernelRelease(unix.ByteSliceToString(u.Release[:]))
}

// ParseKernelRelease reads major and minor from a release string like
// 6.1.0-18-amd64 or 5.10.0.
func ParseKernelRelease(release string) (major, minor int, err error) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("kernel release %q: want MAJOR.MINOR...", release)
	}
	end := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(parts[1])
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1][:end])
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("kernel release %q: want MAJOR.MINOR...", release)
	}
	return major, minor, nil
}
