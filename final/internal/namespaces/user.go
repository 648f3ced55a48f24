package namespaces

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"box/final/internal/state"
)

// DefaultIDMap maps container ids 0..65535 to host ids 100000..165535,
// above those of real users, where /etc/subuid ranges conventionally
// start: root in the container is an unprivileged user on the host.
var DefaultIDMap = state.IDMap{HostID: 100000, Size: 65536}

// maxID is the largest valid id: (uid_t)-1 means "no id" to the kernel.
const maxID = 1<<32 - 2

// ParseIDMap reads --userns-map HOSTID:SIZE.
func ParseIDMap(spec string) (state.IDMap, error) {
	host, size, ok := strings.Cut(spec, ":")
	start, err1 := strconv.ParseUint(host, 10, 32)
	n, err2 := strconv.ParseUint(size, 10, 32)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return state.IDMap{}, fmt.Errorf("--userns-map %q: want HOSTID:SIZE, like --userns-map 100000:65536", spec)
	case start == 0:
		return state.IDMap{}, fmt.Errorf("--userns-map %s: a range starting at host id 0 would make root inside root on the host; use unprivileged ids like 100000:65536", spec)
	case n == 0:
		return state.IDMap{}, fmt.Errorf("--userns-map %s: the range needs at least one id, like 100000:65536", spec)
	case start+n-1 > maxID:
		return state.IDMap{}, fmt.Errorf("--userns-map %s: the range ends past the last id, %d", spec, uint64(maxID))
	}
	return state.IDMap{HostID: uint32(start), Size: uint32(n)}, nil
}

// SysProcIDMap is m as Go's fork and exec (syscall.StartProcess, under
// os/exec too) takes it: it writes uid_map and gid_map
// between clone(2) and the child's execve(2), as it must: execve keeps
// capabilities only for uid 0 of the namespace, which exists only once
// uid_map is written (user_namespaces(7)).
func SysProcIDMap(m state.IDMap) []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.HostID), Size: int(m.Size)}}
}

// CheckReachable fails if root of the user namespace could not reach path:
// it opens the rootfs and the volumes as host uid m.HostID, without
// supplementary groups, and its capabilities count only over files owned
// by ids the namespace maps.
func CheckReachable(path string, includeSelf bool, m state.IDMap) error {
	var dirs []string
	if includeSelf {
		dirs = append(dirs, path)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		dirs = append(dirs, dir)
		if dir == "/" {
			break
		}
	}
	for _, dir := range dirs {
		info, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("stat %s: %w", dir, err)
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || !info.IsDir() {
			continue
		}
		mode := st.Mode
		searchable := mode&0o001 != 0 ||
			st.Uid == m.HostID && mode&0o100 != 0 ||
			st.Gid == m.HostID && mode&0o010 != 0 ||
			m.Contains(st.Uid) && m.Contains(st.Gid)
		if !searchable {
			return fmt.Errorf("root in the user namespace (host uid %d) cannot enter %s (mode %#o, owner %d:%d), on the way to %s: chmod o+x %s, or run with --userns host",
				m.HostID, dir, mode&0o7777, st.Uid, st.Gid, path, dir)
		}
	}
	return nil
}
