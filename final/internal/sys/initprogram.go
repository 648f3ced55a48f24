package sys

// initprogram.go finds box-init, the container side of box: a small
// program of its own (final/cmd/box-init), so that what starts in every
// container's namespaces links neither box's command line nor its image
// and registry code. box and box-runc start it; it is installed next to
// them, as make build does.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InitProgramName is the file name of the container side, next to box.
const InitProgramName = "box-init"

// OpenInitProgram opens box-init, found in the directory of the running
// program (os.Executable: the file /proc/self/exe names, so through any
// symlink such as bin/box-runc and whatever path an engine called),
// O_PATH and close-on-exec. The caller executes it through the
// descriptor: the container's root may be an unprivileged uid on the
// host, unable to search the directories on the way to it, as it could
// /proc/self/exe before. Opening is not narrated: it is what os/exec's
// lookup would be, and its path is this machine's.
func OpenInitProgram() (*os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program's own path, to find %s next to it: %w", InitProgramName, err)
	}
	path := filepath.Join(filepath.Dir(exe), InitProgramName)
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: the container side of box is a program of its own, next to %s (make build builds both; or go build -o %s ./final/cmd/box-init)", path, exe, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), InitProgramName), nil
}

// NameInitProgram sets this process's name (comm: what ps shows in
// braces, and top) to box-init: executed as /proc/self/fd/N, it would be
// "N". prctl(2) PR_SET_NAME.
func NameInitProgram() {
	name := []byte(InitProgramName + "\x00")
	_ = call(`prctl(PR_SET_NAME, "`+InitProgramName+`", 0, 0, 0)`, func() error {
		return unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
	})
}
