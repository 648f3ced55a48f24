package image

// orphans.go finds the container roots whose container the runtime has
// forgotten: its state dir was lost (a cleared /run while the host is up,
// or a reboot, /run being a tmpfs) while the store, on disk, kept the root,
// and, when the host stayed up, the overlay mounted on it. Nothing else
// would ever remove them.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ownerFile names, in a container's root dir, the container's state dir.
const ownerFile = "owner"

// Orphans lists the container roots of the store whose owner (the state
// dir written by Mount) is gone. A root without an owner file (left by a
// runtime killed between mkdir and its write, or by an older one) is an
// orphan unless known says a container of this state dir has it. The
// store's lock is held while it looks, so no root is half made meanwhile.
func (s *Store) Orphans(known func(rootfs string) bool) ([]*Root, error) {
	if _, err := os.Stat(s.containersDir()); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no store yet: no roots
	}
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	entries, err := os.ReadDir(s.containersDir())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.containersDir(), err)
	}
	var orphans []*Root
	for _, e := range entries {
		r := &Root{store: s, dir: filepath.Join(s.containersDir(), e.Name())}
		if !e.IsDir() || !rootfsPath().MatchString(r.Rootfs()) {
			continue
		}
		owner, err := os.ReadFile(filepath.Join(r.dir, ownerFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if known(r.Rootfs()) {
				continue
			}
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", filepath.Join(r.dir, ownerFile), err)
		default:
			dir := strings.TrimSpace(string(owner))
			if _, err := os.Lstat(filepath.Join(dir, "state.json")); err == nil || !filepath.IsAbs(dir) {
				continue // its container is known, to the state dir dir
			}
		}
		orphans = append(orphans, r)
	}
	return orphans, nil
}

// Owner is the state dir of the container the root was made for, or "".
func (r *Root) Owner() string {
	b, err := os.ReadFile(filepath.Join(r.dir, ownerFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Mounted tells whether the overlay is mounted on Rootfs, in our mount
// table.
func (r *Root) Mounted() (bool, error) {
	points, err := mountsUnder(r.Rootfs())
	return len(points) > 0, err
}

// IsRootOf tells whether process pid stands on this root: whether its "/"
// is an overlay whose upper dir is r's. The host's copy of a running
// container's root is unmounted once the container runs on its own copy
// (final's imagePlugin.Running), so this reads the process's own mount
// table, /proc/PID/mountinfo, where the line of "/" lists the overlay's
// options (proc(5): the super options are the last field). A process
// whose root is ours, as most of the host's are, is passed over first.
func (r *Root) IsRootOf(pid int) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	var ours, theirs unix.Stat_t
	if unix.Stat("/", &ours) != nil || unix.Stat(proc+"/root", &theirs) != nil ||
		(theirs.Dev == ours.Dev && theirs.Ino == ours.Ino) {
		return false
	}
	b, err := os.ReadFile(proc + "/mountinfo")
	if err != nil {
		return false
	}
	upper := r.Upper()
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 10 || fields[4] != "/" {
			continue
		}
		for _, opt := range strings.Split(fields[len(fields)-1], ",") {
			if value, ok := strings.CutPrefix(opt, "upperdir="); ok && unescapeMountinfo(value) == upper {
				return true
			}
		}
	}
	return false
}
