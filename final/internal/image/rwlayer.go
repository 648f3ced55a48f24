package image

// rwlayer.go makes and removes a container's root: the overlay of its
// image's layers under a writable upper dir of its own, all in one
// directory of the store, STORE/containers/MOUNTID:
//
//	rootfs/     the overlay's mount point: the container's root
//	upper/      what the container wrote, copied up, or deleted (whiteouts)
//	work/       overlayfs's scratch dir, on the same filesystem as upper
//	rw/         instead, when the store is on overlayfs: a tmpfs holding
//	            upper/ and work/
//	owner       the container's state dir (STATE/containers/ID): when it
//	            is gone (a cleared /run, a reboot), cleanup knows the root
//	            is orphaned (orphans.go)
//
// The mount ID is chosen before the container exists, and the container's
// state records the mount point, so removal needs nothing else: cleanup
// can remove the root of a container whose runtime was killed.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Root is the directory of one container's root.
type Root struct {
	store *Store
	dir   string // STORE/containers/MOUNTID
}

// NewRoot names the root of a new container, with a new mount ID. Nothing
// is made until Mount.
func (s *Store) NewRoot() *Root {
	return &Root{store: s, dir: filepath.Join(s.containersDir(), randomHex(8))}
}

// rootfsPath matches the mount point of a container root:
// STORE/containers/MOUNTID/rootfs. It is compiled at first use, so the
// container's init, which never uses it, does not pay for it at start.
var rootfsPath = lazyRegexp(`^(/.*)/containers/[0-9a-f]{16}/rootfs$`)

// RootOf finds the container root whose mount point is rootfs, as the
// container's state records it, and refuses any other path: what it
// finds, Remove deletes.
func RootOf(rootfs string) (*Root, error) {
	m := rootfsPath().FindStringSubmatch(filepath.Clean(rootfs))
	if m == nil {
		return nil, fmt.Errorf("%s is not the root of a container of an image store (STORE/containers/MOUNTID/rootfs)", rootfs)
	}
	s, err := Open(m[1])
	if err != nil {
		return nil, err
	}
	return &Root{store: s, dir: filepath.Dir(rootfs)}, nil
}

// Rootfs is the mount point: the container's root once mounted.
func (r *Root) Rootfs() string { return filepath.Join(r.dir, "rootfs") }

// Dir is the directory holding all of the container's root.
func (r *Root) Dir() string { return r.dir }

// Upper is the upper dir: whatever the container changed.
func (r *Root) Upper() string {
	if _, err := os.Stat(filepath.Join(r.dir, "rw")); err == nil {
		return filepath.Join(r.dir, "rw", "upper")
	}
	return filepath.Join(r.dir, "upper")
}

// Lowers are the layer dirs of digests (bottom first), top first.
func (r *Root) Lowers(digests []string) []string {
	dirs := make([]string, len(digests))
	for i, d := range digests {
		dirs[len(digests)-1-i] = r.store.LayerDir(d)
	}
	return dirs
}

// Mount makes the container's dirs and mounts the overlay of the layers
// (digests, bottom first) on Rootfs. With a user namespace (m not nil),
// the layers are copies owned by its ids, and so is the upper dir's root,
// which is the container's "/". owner is the container's state dir,
// written first, so that no root without one exists outside the store's
// lock. On failure it removes what it made.
//
// What it does is the same for 1 layer or 64: the lower dirs are named by
// their paths, or by the short links the store keeps (links.go), and no
// layer is looked at first. A layer that is missing, or has no copy for m
// yet, or no link, makes the mount fail with ENOENT; then, and only then,
// each layer is looked at, what is missing made, and the mount made again.
func (r *Root) Mount(digests []string, m *state.IDMap, owner string) (err error) {
	unlock, err := r.store.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.store.removeStaleTemp(); err != nil {
		return err
	}
	if len(digests) == 0 {
		return errors.New("the image has no layers, so nothing to run: build one with ADD or COPY")
	}
	o := overlayMount{}
	var names []string // the short links, top first
	for i := len(digests) - 1; i >= 0; i-- {
		d := digests[i]
		if !ValidDigest(d) {
			return fmt.Errorf("layer %q of the image is not a sha256 digest; load the image again", d)
		}
		dir := r.store.LayerDir(d)
		if m != nil {
			dir = r.store.shiftedLayerDir(d, *m)
		}
		o.lower = append(o.lower, dir)
		names = append(names, shortName(d))
	}
	// One stat: without a copy of the top layer for m, this is most
	// likely the image's first container in this id range, so the copies
	// are made before mounting rather than after a failed mount.
	if m != nil {
		if _, err := os.Stat(o.lower[0]); err != nil {
			if err := r.store.completeLayers(digests, m); err != nil {
				return err
			}
		}
	}
	narrate.Explain(narrate.Layers, "Make the container's dir %s, and name in it the container's state dir, which cleanup looks for.", r.dir)
	if err := sys.MkdirNew(r.dir, 0o700); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = r.Remove()
		}
	}()
	if err := sys.WriteNewFile(filepath.Join(r.dir, ownerFile), []byte(owner+"\n"), 0o600); err != nil {
		return err
	}
	if err := r.makeDirs(&o, m); err != nil {
		return err
	}
	if err := o.shortenLowers(r.store.linkSet(m), names); err != nil {
		return err
	}
	narrate.Explain(narrate.Layers, "Mount the container's root: the image's %s read-only, under its own writable upper dir.", Plural(len(o.lower), "layer"))
	err = o.mount(r.Rootfs())
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	narrate.Explain(narrate.Layers, "ENOENT: a layer%s, or its short link, is missing; look at each layer, and make what the store can.", copyOf(m))
	// Mounted again even when nothing was made here: another runtime may
	// have made what was missing since the mount failed.
	if err := r.store.completeLayers(digests, m); err != nil {
		return err
	}
	narrate.Explain(narrate.Layers, "Mount the container's root again, now that every lower dir is there.")
	return o.mount(r.Rootfs())
}

// makeDirs fills the container's directory with its upper, work and mount
// point dirs, on a filesystem that can hold an upper dir.
func (r *Root) makeDirs(o *overlayMount, m *state.IDMap) error {
	if m != nil {
		// Root of the user namespace (host gid m.HostID) must get through
		// to the mount point; others may not (a layer may hold setuid
		// programs).
		narrate.Explain(narrate.User, "Let root of the user namespace (host gid %d) through the container's dir to its mount point, and no one else: a layer may hold setuid programs.", m.HostID)
		if err := sys.Chown(r.dir, 0, int(m.HostID)); err != nil {
			return err
		}
		if err := sys.Chmod(r.dir, 0o710); err != nil {
			return err
		}
	}
	rw, err := r.upperFilesystem()
	if err != nil {
		return err
	}
	o.upper, o.work = filepath.Join(rw, "upper"), filepath.Join(rw, "work")
	rootUID := 0
	if m != nil {
		rootUID = int(m.HostID)
	}
	narrate.Explain(narrate.Layers, "Make the upper dir, which takes what the container writes (owned by its root: it is the container's /), overlayfs's work dir beside it, and the mount point.")
	for _, d := range []struct {
		path string
		mode uint32
		uid  int
	}{{o.upper, 0o755, rootUID}, {o.work, 0o700, 0}, {r.Rootfs(), 0o755, 0}} {
		if err := sys.MkdirNew(d.path, d.mode); err != nil {
			return err
		}
		if err := chmodPastUmask(d.path, d.mode); err != nil {
			return err
		}
		if d.uid != 0 {
			if err := sys.Chown(d.path, d.uid, d.uid); err != nil {
				return err
			}
		}
	}
	return nil
}

// chmodPastUmask gives path its mode exactly when the umask trimmed it
// at mkdir(2).
func chmodPastUmask(path string, mode uint32) error {
	info, err := os.Stat(path)
	if err == nil && uint32(info.Mode().Perm()) == mode {
		return nil
	}
	return sys.Chmod(path, mode)
}

// upperFilesystem returns the dir to hold upper and work: the container's
// own dir, unless the store is on overlayfs, which cannot hold an upper
// dir (the mount fails with EINVAL, "not supported as upperdir" in dmesg),
// as inside docker run --privileged, whose root is overlayfs. Then it
// mounts a tmpfs for them: upper and work must share one filesystem.
func (r *Root) upperFilesystem() (string, error) {
	narrate.Explain(narrate.Layers, "Check the store's filesystem: overlayfs cannot hold an upper dir.")
	magic, err := sys.Statfs(r.dir)
	if err != nil {
		return "", err
	}
	if magic != sys.OverlayfsMagic {
		return r.dir, nil
	}
	rw := filepath.Join(r.dir, "rw")
	if err := sys.MkdirNew(rw, 0o700); err != nil {
		return "", err
	}
	narrate.Explain(narrate.Layers, "The store is on overlayfs, as inside docker run --privileged, and overlayfs cannot be an upper dir: mount a tmpfs to hold upper and work instead.")
	if err := sys.Mount("tmpfs", rw, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return "", err
	}
	return rw, nil
}

// Remove unmounts the container's root and what holds its upper dir, and
// deletes its directory. It works on what is there, so it can finish a
// removal that was cut short, and it is fine if nothing is.
func (r *Root) Remove() error {
	if _, err := os.Lstat(r.dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	points, err := mountsUnder(r.dir)
	if err != nil {
		return err
	}
	for _, p := range points {
		narrate.Explain(narrate.Layers, "Unmount %s: the container is gone.", p)
		// MNT_DETACH: the container's own mount namespace may still hold
		// a copy for a moment; the kernel frees it when the last goes.
		if err := sys.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	narrate.Explain(narrate.Layers, "Remove the container's upper dir and mount point: %s.", r.dir)
	return sys.RemoveAll(r.dir)
}

// UnmountHostCopy unmounts the root from our mount table, leaving the copy
// in the container's mount namespace, which CLONE_NEWNS made of ours and
// the container's init then made private (MS_PRIVATE: an unmount here no
// longer reaches it). Only then: before that, the unmount would propagate
// into the container and take its root away. The kernel frees the
// overlay when the container's last process has left.
func (r *Root) UnmountHostCopy() error {
	narrate.Explain(narrate.Layers, "The container stands on its own copy of its root, in its own mount namespace, private now: unmount ours, so the host's mount table does not hold the container's root while it runs. The kernel frees the overlay when the container's last process leaves.")
	return sys.Unmount(r.Rootfs(), unix.MNT_DETACH)
}

// mountsUnder lists the mount points at or below dir in our mount table,
// deepest first, so they can be unmounted in order. Field 5 of
// /proc/self/mountinfo is the mount point, with space, tab, newline and
// backslash escaped as octal (proc(5)).
func mountsUnder(dir string) ([]string, error) {
	data, err := readFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountinfo(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	// Deepest first; the same point twice (mounts stacked on it) stays.
	sort.SliceStable(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return points, nil
}

// unescapeMountinfo undoes the \ooo escapes of mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := 0
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + int(c-'0')
			}
			if ok && v < 256 {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
