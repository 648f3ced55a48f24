package sys

// initprogram.go finds the programs of box's own installed next to it, as
// make build does: box-init, the container side of box, a small program
// of its own (final/cmd/box-init), so that what starts in every
// container's namespaces links neither box's command line nor its image
// and registry code; box and box-runc start it. And box-registry
// (final/cmd/box-registry), the registry client pull and push run.

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

// RegistryProgramName is the file name of box's registry client, next to
// box: pull, push and run --pull start it (final/cmd/box-registry), so
// that net/http and crypto/tls are linked into no other box process.
const RegistryProgramName = "box-registry"

// MonitorProgramName is the file name of the small program a detached
// container's monitor becomes once the container runs (final/cmd/box-monitor):
// it copies the output to the log and waits, for the container's life.
const MonitorProgramName = "box-monitor"

// helperProgram is a program of box's own, installed next to it.
type helperProgram struct {
	name    string // its file name
	missing string // the line saying it is missing: %[1]s its path, %[2]s the running program's
}

var (
	initProgram = helperProgram{InitProgramName,
		"%[1]s is missing: the container side of box is a program of its own, next to %[2]s (make build builds both; or go build -o %[1]s ./final/cmd/box-init)"}
	registryProgram = helperProgram{RegistryProgramName,
		"%[1]s is missing: pull and push are a program of their own, next to %[2]s (make build builds it; or go build -o %[1]s ./final/cmd/box-registry)"}
	monitorProgram = helperProgram{MonitorProgramName,
		"%[1]s is missing: a detached container's monitor becomes a small program of its own once the container runs, next to %[2]s (make build builds it; or go build -o %[1]s ./final/cmd/box-monitor)"}
)

// open opens h, found in the directory of the running program
// (os.Executable: the file /proc/self/exe names, so through any symlink
// such as bin/box-runc and whatever path an engine called), O_PATH and
// close-on-exec; a missing h is one line saying how to build it. Opening
// is not narrated: it is what os/exec's lookup would be, and its path is
// this machine's.
func (h helperProgram) open() (fd int, path string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return -1, "", fmt.Errorf("find this program's own path, to find %s next to it: %w", h.name, err)
	}
	path = filepath.Join(filepath.Dir(exe), h.name)
	fd, err = unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, "", fmt.Errorf(h.missing, path, exe)
	}
	if err != nil {
		return -1, "", fmt.Errorf("open %s: %w", path, err)
	}
	return fd, path, nil
}

// OpenInitProgram opens box-init, next to the running program (see
// helperProgram.open). The caller executes it through the descriptor: the
// container's root may be an unprivileged uid on the host, unable to
// search the directories on the way to it, as it could /proc/self/exe
// before.
func OpenInitProgram() (*os.File, error) {
	fd, _, err := initProgram.open()
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), InitProgramName), nil
}

// RegistryProgram is the path of box-registry, next to the running
// program (see helperProgram.open), or one line saying how to build it.
func RegistryProgram() (string, error) {
	fd, path, err := registryProgram.open()
	if err != nil {
		return "", err
	}
	unix.Close(fd)
	return path, nil
}

// OpenMonitorProgram opens box-monitor, next to the running program (see
// helperProgram.open), for a monitor to execute through the descriptor.
func OpenMonitorProgram() (*os.File, error) {
	fd, _, err := monitorProgram.open()
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), MonitorProgramName), nil
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
