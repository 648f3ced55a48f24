package main

// userns.go gives the container a user namespace (CLONE_NEWUSER): uids and
// gids of its own, mapped onto a range of unprivileged host ids, so root in
// the container is an ordinary user on the host. The same namespace lets
// a user who is not root run containers (rootless): the kernel lets anyone
// map their own uid, and nothing else, to root inside.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The default range: container ids 0..65535 are host ids 100000..165535,
// above those of real users, where /etc/subuid ranges conventionally start.
const (
	defaultMapStart = 100000
	defaultMapSize  = 65536
)

// maxID is the largest valid id: (uid_t)-1 means "no id" to the kernel.
const maxID = 1<<32 - 2

// idRange maps container ids 0..size-1 onto host ids start..start+size-1.
type idRange struct {
	start, size uint32
}

// newIDRange checks a range: it must be unprivileged and fit below maxID.
func newIDRange(start, size uint64) (idRange, error) {
	switch {
	case start == 0:
		return idRange{}, errors.New("a user namespace range starting at host id 0 would make root inside root on the host; use unprivileged ids like 100000:65536")
	case size == 0:
		return idRange{}, errors.New("a user namespace range needs at least one id, like 100000:65536")
	case start+size-1 > maxID:
		return idRange{}, fmt.Errorf("the range ends past the last id, %d", uint64(maxID))
	}
	return idRange{start: uint32(start), size: uint32(size)}, nil
}

// parseIDRange reads --userns-map HOSTID:SIZE.
func parseIDRange(spec string) (idRange, error) {
	host, size, ok := strings.Cut(spec, ":")
	start, err1 := strconv.ParseUint(host, 10, 32)
	n, err2 := strconv.ParseUint(size, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return idRange{}, fmt.Errorf("--userns-map %q: want HOSTID:SIZE, like --userns-map 100000:65536", spec)
	}
	r, err := newIDRange(start, n)
	if err != nil {
		return idRange{}, fmt.Errorf("--userns-map %s: %w", spec, err)
	}
	return r, nil
}

// contains tells whether host id is in the range.
func (r idRange) contains(id uint32) bool { return id >= r.start && id-r.start < r.size }

// idMappings is the range as os/exec takes it, and as it writes it to
// uid_map or gid_map: "0 100000 65536".
func (r idRange) idMappings() []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(r.start), Size: int(r.size)}}
}

// userNamespace is how a run maps ids: the same range for uids and gids as
// root, or the caller's own uid and gid alone when rootless.
type userNamespace struct {
	uids, gids idRange
	rootless   bool
}

// planUserNamespace chooses the maps of a run. Root maps spec, or the
// default range. Anyone else maps only their own uid and gid: writing
// any other mapping needs CAP_SETUID over the parent namespace
// (user_namespaces(7)), and a kernel may refuse even that.
func planUserNamespace(spec string) (userNamespace, error) {
	if os.Geteuid() != 0 {
		if spec != "" {
			return userNamespace{}, errors.New("--userns-map needs root: without it, the only id you may map is your own")
		}
		if err := checkRootlessAllowed(os.ReadFile); err != nil {
			return userNamespace{}, err
		}
		uids := idRange{start: uint32(os.Geteuid()), size: 1}
		gids := idRange{start: uint32(os.Getegid()), size: 1}
		return userNamespace{uids: uids, gids: gids, rootless: true}, nil
	}
	r := idRange{start: defaultMapStart, size: defaultMapSize}
	if spec != "" {
		var err error
		if r, err = parseIDRange(spec); err != nil {
			return userNamespace{}, err
		}
	}
	return userNamespace{uids: r, gids: r}, nil
}

// userNSKnobs are the sysctls with which a kernel refuses user namespaces
// to users other than root, and the value that refuses.
var userNSKnobs = []struct{ path, refuses, what string }{
	{"/proc/sys/user/max_user_namespaces", "0", "this kernel allows no user namespaces (user.max_user_namespaces = 0)"},
	{"/proc/sys/kernel/unprivileged_userns_clone", "0", "this kernel allows user namespaces only to root (kernel.unprivileged_userns_clone = 0)"},
	{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "AppArmor takes every capability from user namespaces that users other than root create (kernel.apparmor_restrict_unprivileged_userns = 1)"},
}

// checkRootlessAllowed reads those knobs with readFile, so a refusal is
// one clear line rather than an EPERM from clone or, with AppArmor, from
// the first mount. A knob this kernel lacks refuses nothing.
func checkRootlessAllowed(readFile func(string) ([]byte, error)) error {
	for _, k := range userNSKnobs {
		b, err := readFile(k.path)
		if err == nil && strings.TrimSpace(string(b)) == k.refuses {
			return fmt.Errorf("cannot run without root: %s; run as root, or change it with sysctl", k.what)
		}
	}
	return nil
}

// explainRootfsOwner says, once, why the rootfs looks owned by nobody
// inside: the kernel shows an id the namespace does not map as the
// overflow id, 65534, and root in the namespace has no power over it.
func explainRootfsOwner(rootfs string, u userNamespace) {
	info, err := os.Stat(rootfs)
	if err != nil {
		return
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || u.uids.contains(st.Uid) {
		return
	}
	fix := fmt.Sprintf("give it to the container with: %s shift-rootfs %s --to %d", programName(), rootfs, u.uids.start)
	if u.rootless {
		fix = "build one as yourself, and its files are root's inside"
	}
	explain(featUser, "The rootfs belongs to host uid %d, which this user namespace does not map: inside it shows as nobody (65534), and root there cannot write to it; %s.", st.Uid, fix)
}

// checkReachable fails if root of the user namespace could not look up
// path: the child opens the rootfs and the volumes as host uid and gid
// u.uids.start, without supplementary groups, and its capabilities count
// only for files owned by ids the namespace maps. A rootless parent is
// that uid already, and meets any refusal itself.
func checkReachable(path string, includeSelf bool, u userNamespace) error {
	if u.rootless {
		return nil
	}
	dirs := []string{}
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
		if !ok {
			continue
		}
		mode := st.Mode
		searchable := mode&0o001 != 0 ||
			st.Uid == u.uids.start && mode&0o100 != 0 ||
			st.Gid == u.gids.start && mode&0o010 != 0 ||
			u.uids.contains(st.Uid) && u.gids.contains(st.Gid)
		if !searchable {
			return fmt.Errorf("root in the user namespace (host uid %d) cannot enter %s (mode %#o, owner %d:%d), on the way to %s: chmod o+x %s",
				u.uids.start, dir, mode&0o7777, st.Uid, st.Gid, path, dir)
		}
	}
	return nil
}

// makeMountPoints creates the volumes' mount points in the rootfs from the
// parent, before the user namespace exists: root inside it may not write
// to a rootfs owned by host ids it does not map, which is what a built or
// imported rootfs is until shift-rootfs. Inside, they are then found made.
func makeMountPoints(rootfs string, volumes []volume) error {
	for _, v := range volumes {
		if _, err := volumeTarget(rootfs, v); err != nil {
			return err
		}
	}
	return nil
}

// lockedFlags are the flags of the mount at target that a remount in a
// user namespace must repeat: the kernel locks nosuid, nodev and noexec on
// the mounts it copies into a mount namespace of a less privileged user
// namespace, and a remount that would clear them fails with EPERM. (Atime
// flags are locked too, but a remount keeps them unless told otherwise.)
func lockedFlags(target string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return 0 // the remount will fail and say why
	}
	var flags uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return flags
}

// shiftRootfsCmd gives a rootfs to the host ids of a user namespace range.
type shiftRootfsCmd struct {
	Dir  string `arg:"" name:"dir" type:"existingdir" help:"The rootfs to change."`
	To   uint64 `default:"100000" help:"First host id of the range: a file of container id N goes to host id TO+N."`
	Size uint64 `default:"65536" help:"Size of the range; files with ids at or past it are left alone."`
}

// Run changes the owner of every file under the rootfs: uid N becomes
// TO+N, and gid N TO+N. A file whose ids are past the range, like one
// shifted before, stays as it is, so running it twice changes nothing.
func (s *shiftRootfsCmd) Run() error {
	if os.Geteuid() != 0 {
		return errors.New("shift-rootfs needs root: only root may give files away (chown(2))")
	}
	r, err := newIDRange(s.To, s.Size)
	if err != nil {
		return err
	}
	explain(featUser, "Give %s to host ids %d..%d: a file of container id N goes to host id %d+N, so root's files are root's inside.",
		s.Dir, r.start, uint64(r.start)+uint64(r.size)-1, r.start)
	shifted, kept, err := shiftOwners(s.Dir, r)
	if err != nil {
		return err
	}
	explain(featUser, "Changed the owner of %d files; left %d whose ids are past the range.", shifted, kept)
	return nil
}

// shiftOwners lchowns every entry under dir into r, each id on its own,
// without following symlinks. chown(2) clears the setuid and setgid bits of a file, so they
// are set again.
func shiftOwners(dir string, r idRange) (shifted, kept int, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: no owner", path)
		}
		uid, gid := st.Uid, st.Gid
		if uid < r.size {
			uid += r.start
		}
		if gid < r.size {
			gid += r.start
		}
		if uid == st.Uid && gid == st.Gid {
			kept++
			return nil
		}
		if err := os.Lchown(path, int(uid), int(gid)); err != nil {
			return err
		}
		if mode := info.Mode(); mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 && mode&fs.ModeSymlink == 0 {
			if err := os.Chmod(path, mode); err != nil {
				return err
			}
		}
		shifted++
		return nil
	})
	if err != nil {
		return shifted, kept, fmt.Errorf("shift owners under %s: %w", dir, err)
	}
	return shifted, kept, nil
}
