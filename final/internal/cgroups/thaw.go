package cgroups

// thaw.go finds the cgroup a process is in, from /proc/PID/cgroup, for
// cleanup: a container whose state is gone may be paused, and a frozen
// process cannot even die of SIGKILL (v1) until its cgroup is thawed.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ThawProcess thaws the cgroup of process pid if it is a container's
// (box-ID); it does nothing for a process in any other cgroup.
func ThawProcess(pid int) error {
	n, err := Detect()
	if err != nil {
		return err
	}
	own, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return fmt.Errorf("read the cgroups of %d: %w", pid, err)
	}
	var dirs []Dir
	if n == 1 {
		mountinfo, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return fmt.Errorf("read mountinfo: %w", err)
		}
		dirs = parseV1Parents(string(mountinfo), string(own))
	} else {
		for _, line := range strings.Split(string(own), "\n") {
			if path, ok := strings.CutPrefix(line, "0::"); ok {
				dirs = append(dirs, Dir{Path: filepath.Join(Root, path)})
			}
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	for _, d := range dirs {
		if !strings.HasPrefix(filepath.Base(d.Path), namePrefix) {
			return nil // not in a container's cgroup: not ours to thaw
		}
	}
	cg := &Cgroup{Version: n, Dirs: dirs}
	return cg.SetFrozen(false)
}
