package sys

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Opening paths inside a directory that someone else controls (an image's
// rootfs, a volume another container shares) by name is a race: between a
// check and a use, a component can become a symlink to anywhere on the
// host. These calls walk one name at a time below an open directory, with
// openat2(2)'s RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, and hand back a file
// descriptor; a mount then goes through /proc/self/fd/N, which is that very
// file, never the path again (runc's CVE-2021-30465).

// beneath is how openat2 may resolve a name below a directory: no
// symlink, no "..", nothing outside.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS

// OpenDir opens the directory path (trusted: the runtime chose it) as an
// O_PATH file, a handle to a place in the tree that reads nothing.
func OpenDir(path string) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_PATH|O_DIRECTORY|O_CLOEXEC)", C(path))
	fd, err := callValue(c, func() (int, error) {
		return unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return pathFile(fd, path)
}

// OpenBeneath opens name, one component, below dir as an O_PATH file. A
// symlink there fails with ELOOP.
func OpenBeneath(dir *os.File, name string) (*os.File, error) {
	c := fmt.Sprintf("openat2(%d /* %s */, %s, {flags=O_PATH|O_CLOEXEC, resolve=RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS})", dir.Fd(), C(dir.Name()), C(name))
	fd, err := callValue(c, func() (int, error) {
		return unix.Openat2(int(dir.Fd()), name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: beneath})
	})
	if err != nil {
		return nil, fmt.Errorf("open %s/%s: %w", dir.Name(), name, err)
	}
	return pathFile(fd, dir.Name()+"/"+name)
}

// pathFile wraps an opened descriptor. Under a Recorder no file was opened
// and fd is made up: a real one (of /dev/null, numbered from 100 so that
// recorded narrations do not depend on what the test has open) stands in,
// so that closing it closes nothing of the test's.
func pathFile(fd int, name string) (*os.File, error) {
	if recorder() != nil {
		null, err := unix.Open("/dev/null", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		fd, err = unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 100)
		unix.Close(null)
		if err != nil {
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// MkdirBeneath makes the directory name in dir with mkdirat(2). The
// kernel's answer is printed and returned as is: EEXIST is for the caller
// to judge.
func MkdirBeneath(dir *os.File, name string, mode uint32) error {
	c := fmt.Sprintf("mkdirat(%d /* %s */, %s, %#o)", dir.Fd(), C(dir.Name()), C(name), mode)
	err := call(c, func() error { return unix.Mkdirat(int(dir.Fd()), name, mode) })
	if err != nil {
		return fmt.Errorf("mkdir %s/%s: %w", dir.Name(), name, err)
	}
	return nil
}

// CreateBeneath makes the empty regular file name in dir, never following
// a symlink (O_CREAT|O_EXCL), as a mount point for a bind-mounted file.
func CreateBeneath(dir *os.File, name string, mode uint32) error {
	c := fmt.Sprintf("openat(%d /* %s */, %s, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, %#o)", dir.Fd(), C(dir.Name()), C(name), mode)
	fd, err := callValue(c, func() (int, error) {
		return unix.Openat(int(dir.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	})
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", dir.Name(), name, err)
	}
	return Close(fd)
}

// FdPath is the name under /proc/self/fd of f: a path the kernel resolves
// to f's own file, whatever has happened to its name since.
func FdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// IsSymlinkRefusal tells whether err is openat2 refusing a symlink.
func IsSymlinkRefusal(err error) bool {
	return errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV)
}

// MountOn is mount(2) onto the file target, through /proc/self/fd/N; the
// narration adds the name target was opened as.
func MountOn(source string, target *os.File, fstype string, flags uintptr, data string) error {
	at := FdPath(target)
	c := fmt.Sprintf("mount(%s, %s /* %s */, %s, %s, %s)", C(source), C(at), target.Name(), C(fstype),
		FlagString(flags, MountFlagNames), cOrNull(data))
	err := call(c, func() error { return unix.Mount(source, at, fstype, flags, data) })
	if err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", source, target.Name(), FlagString(flags, MountFlagNames), err)
	}
	return nil
}
