package cgroups

// names.go names a container's limits as the host's cgroup version does,
// for the commands that show them (inspect): a learner who reads
// memory.max there on a v1 host would look for a file that does not exist.

import (
	"fmt"
	"os"
	"path/filepath"
)

// FilesOf returns the limits the container's state keeps (Files' form, by
// cgroup v2 file) as the files cgroup version n writes them to, with the
// values written: v2's files as they are, and on v1 the files v1.go
// writes (memory.limit_in_bytes, memory.memsw.limit_in_bytes,
// cpu.cfs_period_us and cpu.cfs_quota_us, cpu.shares, pids.max). Each v1
// name is unique across the hierarchies, so no controller prefix is
// needed.
func FilesOf(files map[string]string, n int) (map[string]string, error) {
	switch n {
	case 2:
		return files, nil
	case 1:
	default:
		return nil, fmt.Errorf("cgroup version %d: want 1 or 2", n)
	}
	return v1Files(files, v1SwapAccounted())
}

// v1Files names files as v1 writes them; swapFile tells whether
// memory.memsw.limit_in_bytes exists.
func v1Files(files map[string]string, swapFile bool) (map[string]string, error) {
	l, err := LimitsFromFiles(files)
	if err != nil {
		return nil, err
	}
	named := map[string]string{}
	for _, w := range v1Writes(l, swapFile) {
		named[w.file] = w.value
	}
	if len(named) == 0 {
		return nil, nil
	}
	return named, nil
}

// v1SwapAccounted tells whether this kernel accounts swap in v1
// (memory.memsw.limit_in_bytes exists; not with swapaccount=0), which is
// whether configure writes that file.
func v1SwapAccounted() bool {
	_, err := os.Stat(filepath.Join(Root, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}
