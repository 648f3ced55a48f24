package main

// proc.go mounts /proc for the container's PID namespace, and, since there
// is no mount namespace yet, removes that mount from the host afterwards.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountProc mounts a new proc filesystem at target. A proc mount shows the
// PID namespace of the process that mounts it, so ps inside sees only the
// container's processes.
func mountProc(target string) error {
	explain(featPID, "Mount a fresh /proc, so ps and top see only this PID namespace (the host sees this mount too).")
	return mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// unmountLeakedProc removes the container's /proc from the host's mount
// table. Without a mount namespace the child mounted it in the host's, so it
// outlives the container unless the runtime unmounts it: that leak is what a
// mount namespace fixes. If the runtime is killed first, the mount stays.
func unmountLeakedProc(rootfs string) error {
	target := filepath.Join(rootfs, "proc")
	mounted, err := isMountPoint(target)
	if err != nil || !mounted {
		return err
	}
	explain(featPID, "The container's /proc is still mounted in the host's mount table: unmount it.")
	return umount2(target, unix.MNT_DETACH)
}

// isMountPoint tells whether path is the mount point of any mount in
// /proc/self/mountinfo, whose fifth field is the mount point.
func isMountPoint(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == path {
			return true, nil
		}
	}
	return false, scanner.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) the kernel
// writes in mountinfo paths.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
