package cgroups

// files.go reads the cgroup filesystem's small files and directories with
// plain system calls (sys.ReadFileRaw says why); a container's start and
// end read some twenty of them.

import (
	"os"
	"sort"

	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// readFile reads the whole file at path, as os.ReadFile does.
var readFile = sys.ReadFileRaw

// readDir lists the directory at path by name, as os.ReadDir does.
func readDir(path string) ([]os.DirEntry, error) {
	fd, err := sys.OpenRaw(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path) // not pollable: Go's poller is not asked
	defer f.Close()
	entries, err := f.ReadDir(-1)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}
