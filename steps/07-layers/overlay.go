package main

// overlay.go gives a container run from an image its root: an overlay
// mount (overlayfs) that stacks the image's read-only layers under one
// writable upper dir of the container's own. Reads fall through to the
// topmost layer that has the file; the first write copies the file up into
// the upper dir; a delete leaves a whiteout there. Containers share the
// layers and never change them. The parent makes the per-container dirs and
// removes them after the run; the child mounts the overlay inside its own
// user and mount namespaces, so the mount vanishes with it and the host
// never sees it.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// layerOptions are the flags of run for running an image.
type layerOptions struct {
	Image    string `placeholder:"NAME" help:"Run on image NAME (see: images) instead of --rootfs: the root is then an overlay of its layers."`
	Keep     bool   `help:"Keep the container's upper dir, which holds all its changes, and say where."`
	UpperDir string `placeholder:"DIR" help:"Put the upper and work dirs under DIR, which must not be on overlayfs (default: the store, or a tmpfs if the store is on overlayfs)."`
}

// overlayMount is what the child needs to mount an image's overlay; run
// hands it over as hidden flags.
type overlayMount struct {
	Lower []string `sep:"none" hidden:"" help:"A layer dir, top layer first; once per layer."`
	Upper string   `hidden:"" help:"The container's writable upper dir."`
	Work  string   `hidden:"" help:"Overlayfs's scratch dir, on the upper dir's filesystem."`
	Dir   string   `hidden:"" help:"The dir relative lower dirs start from."`
}

// overlayOptions is the data argument of the overlay mount: the lower dirs
// top first, separated by ':', then the upper and work dirs, and userxattr:
// the mount is made in a user namespace, where overlayfs (Linux 5.11 and
// later) keeps its own marks, such as an opaque dir's, in user.overlay.*
// xattrs instead of trusted.overlay.*, which only the host's root may
// set (Documentation/filesystems/overlayfs.rst).
func overlayOptions(lower []string, upper, work string) string {
	return "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work + ",userxattr"
}

// opaqueXattr marks a dir opaque, one that hides the same dir of the
// layers below, for an overlay mounted with userxattr.
const opaqueXattr = "user.overlay.opaque"

// maxMountData is the longest option string mount(2) takes: the kernel
// copies one page of it, including the final NUL.
var maxMountData = os.Getpagesize() - 1

// mountRoot makes the container's root a mount point: the image's overlay
// when there is one, or else the rootfs bound onto itself.
func mountRoot(rootfs string, o overlayMount) error {
	if len(o.Lower) == 0 {
		return bindRootfs(rootfs)
	}
	explain(featLayers, "Mount the root: the image's %s read-only, under the container's own writable upper dir; root of this user namespace may, with userxattr.", plural(len(o.Lower), "layer"))
	if o.Dir != "" {
		// Relative lower dirs are looked up from the working directory.
		if err := chdir(o.Dir); err != nil {
			return err
		}
	}
	err := mount("overlay", rootfs, "overlay", 0, overlayOptions(o.Lower, o.Upper, o.Work))
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w (dmesg has overlayfs's reason: an upper dir on overlayfs, one without user xattrs, layers nested too deep...)", err)
	}
	return err
}

// container is the parent's side of a run from an image: the dirs made for
// one container, which finish removes however the run ends.
type container struct {
	id       string
	store    store
	dir      string   // STORE/containers/ID
	layers   []string // the image's layer dirs for the container's ids, top first
	mount    overlayMount
	state    containerState
	keep     bool
	uid, gid int // host ids of the container's root
}

// containerState is STORE/containers/ID/state.json. Its owner tells cleanup
// whether the runtime that made the container still runs.
type containerState struct {
	Owner string `json:"owner"` // PID-STARTTIME of the runtime
	Image string `json:"image"`
	RW    string `json:"rw,omitempty"` // the dir holding upper and work
	Kept  bool   `json:"kept,omitempty"`
}

func (c *container) merged() string { return filepath.Join(c.dir, "merged") }

// prepareImage, for run --image, makes the container's dirs and points
// --rootfs at the overlay's mount point. Without --image it does nothing.
func (r *runCmd) prepareImage(storeDir string, users userNamespace) (*container, error) {
	if r.Image == "" {
		return nil, nil
	}
	if users.rootless {
		return nil, errors.New("run --image needs root: the store is root's, and only root may give a copy of the layers to the container's ids; without root, use --rootfs")
	}
	// overlayfs lets root of a user namespace mount it since Linux 5.11,
	// the release that brought userxattr.
	if !kernelAtLeast(5, 11) {
		return nil, errors.New("run --image needs Linux 5.11 or later, where overlayfs can be mounted in a user namespace; use --rootfs")
	}
	if users.uids.size < layerIDs || users.gids.size < layerIDs {
		return nil, fmt.Errorf("run --image needs a --userns-map of at least %d ids, like 100000:%d: an image's files may belong to any id up to %d", layerIDs, layerIDs, layerIDs-1)
	}
	s, err := openStore(storeDir)
	if err != nil {
		return nil, err
	}
	img, err := s.image(r.Image)
	if err != nil {
		return nil, err
	}
	// The child mounts the overlay as root of the user namespace, an
	// ordinary user on the host, who must be able to walk to the store.
	if err := checkReachable(s.dir, true, users); err != nil {
		return nil, err
	}
	if _, err := s.removeStale(nil); err != nil {
		return nil, err
	}
	c, err := s.newContainer(img, r.UpperDir, r.Keep, users)
	if err != nil {
		return nil, err
	}
	r.Rootfs = c.merged()
	return c, nil
}

// newContainer makes the container's dir with its upper, work and merged
// dirs. On failure it removes what it made.
func (s store) newContainer(img image, upperDir string, keep bool, users userNamespace) (*container, error) {
	c := &container{id: randomID(), store: s, keep: keep, uid: int(users.uids.start), gid: int(users.gids.start)}
	c.dir = filepath.Join(s.containersDir(), c.id)
	for i := len(img.Layers) - 1; i >= 0; i-- {
		if _, err := os.Stat(s.layerDir(img.Layers[i].Digest)); err != nil {
			return nil, fmt.Errorf("image %s: layer %s is missing from the store; load the image again", img.Name, img.Layers[i].Digest)
		}
		dir, err := s.shiftedLayer(img.Layers[i].Digest, users)
		if err != nil {
			return nil, err
		}
		c.layers = append(c.layers, dir)
	}
	owner, err := selfOwner()
	if err != nil {
		return nil, err
	}
	c.state = containerState{Owner: owner, Image: img.Name}
	// The dir is born complete, with its owner inside, by a rename from
	// tmp: cleanup never finds a container dir it cannot attribute.
	tmp, err := s.newTemp("container")
	if err != nil {
		return nil, err
	}
	explain(featLayers, "Make the container's dir in the store's tmp, with a state.json naming this runtime its owner, written to a file of its own and renamed into place, so no reader sees half of it.")
	if err := mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	if err := c.saveState(tmp); err != nil {
		removeAll(tmp)
		return nil, err
	}
	explain(featLayers, "Make the container's dir root's, mode 0710, group %d: the container's root may pass through it to its upper, work and merged dirs, which are its own, but may not change it. Rename it to %s: cleanup never finds a container dir it cannot attribute.", c.gid, c.dir)
	if err := letThrough(tmp, c.gid); err != nil {
		removeAll(tmp)
		return nil, err
	}
	if err := rename(tmp, c.dir); err != nil {
		removeAll(tmp)
		return nil, err
	}
	if err := c.makeDirs(upperDir, users); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// letThrough makes dir root's, with mode 0710 and group gid, the host gid
// of a container's root: that root may look up the names in it, but not
// list or change them, and other host users may not enter. The container's
// root has no supplementary groups; its gid is enough.
func letThrough(dir string, gid int) error {
	if err := chown(dir, 0, gid); err != nil {
		return err
	}
	return chmod(dir, 0o710)
}

// makeOwnDir makes a dir that belongs to the container's root, with mode.
func (c *container) makeOwnDir(dir string, mode uint32) error {
	if err := mkdir(dir, mode); err != nil {
		return err
	}
	if err := chown(dir, c.uid, c.gid); err != nil {
		return err
	}
	// Mkdir's mode passed through the umask.
	return chmod(dir, mode)
}

// makeDirs makes the upper, work and merged dirs and chooses how the mount
// names the lower ones.
func (c *container) makeDirs(upperDir string, users userNamespace) error {
	if err := c.makeUpper(upperDir, users); err != nil {
		return err
	}
	// The merged dir is the overlay's mount point and, once mounted, shows
	// the upper dir's root: root's inside.
	explain(featLayers, "Make the merged dir, where the child mounts the overlay; the container's root owns it.")
	if err := c.makeOwnDir(c.merged(), 0o755); err != nil {
		return err
	}
	return c.chooseLower()
}

// makeUpper makes the upper and work dirs, on a filesystem that can hold
// them: overlayfs cannot be an upper dir, and inside docker run --privileged
// the root, and so the default store, is overlayfs.
func (c *container) makeUpper(upperDir string, users userNamespace) error {
	if upperDir != "" {
		abs, err := filepath.Abs(upperDir)
		if err != nil || strings.ContainsAny(abs, ",:\\") {
			return fmt.Errorf("--upper-dir %s: want an absolute path without ',', ':' or '\\'", upperDir)
		}
		explain(featLayers, "Check the filesystem of --upper-dir: overlayfs cannot hold an upper dir (the mount would fail with EINVAL).")
		fsType, err := statfs(abs)
		if err != nil {
			return err
		}
		if fsType == unix.OVERLAYFS_SUPER_MAGIC {
			return fmt.Errorf("--upper-dir %s is on overlayfs, which cannot hold an upper dir; choose a dir on another filesystem, or leave --upper-dir out to get a tmpfs", abs)
		}
		if err := checkReachable(abs, true, users); err != nil {
			return err
		}
		c.state.RW = filepath.Join(abs, c.id)
	} else {
		explain(featLayers, "Check the filesystem of the store: overlayfs cannot hold an upper dir (the mount would fail with EINVAL).")
		fsType, err := statfs(c.store.containersDir())
		if err != nil {
			return err
		}
		c.state.RW = c.dir
		if fsType == unix.OVERLAYFS_SUPER_MAGIC {
			c.state.RW = filepath.Join(c.dir, "tmpfs")
		}
	}
	// Record where upper and work go before making them, so a cleanup after
	// a crash finds them.
	explain(featLayers, "Record in state.json where the upper and work dirs go before making them, so a cleanup after a crash finds them.")
	if err := c.saveState(c.dir); err != nil {
		return err
	}
	if c.state.RW != c.dir {
		explain(featLayers, "Make %s to hold the upper and work dirs, which the container's root may pass through, as through its dir.", c.state.RW)
		if err := mkdir(c.state.RW, 0o700); err != nil {
			return err
		}
		if err := letThrough(c.state.RW, c.gid); err != nil {
			return err
		}
	}
	if c.state.RW == filepath.Join(c.dir, "tmpfs") {
		explain(featLayers, "The store is on overlayfs, as inside docker run --privileged: mount a tmpfs to hold upper and work, which must share one filesystem; the container's root may pass through it, as through its dir.")
		if err := mount("tmpfs", c.state.RW, "tmpfs", 0, fmt.Sprintf("mode=0710,gid=%d", c.gid)); err != nil {
			return err
		}
	}
	c.mount.Upper = filepath.Join(c.state.RW, "upper")
	c.mount.Work = filepath.Join(c.state.RW, "work")
	// The upper dir's root is the container's "/", so it gets /'s mode.
	explain(featLayers, "Make the upper dir, which gets every change the container makes, and the work dir overlayfs needs on the same filesystem; the container's root owns both.")
	if err := c.makeOwnDir(c.mount.Upper, 0o755); err != nil {
		return err
	}
	return c.makeOwnDir(c.mount.Work, 0o700)
}

// chooseLower names the layers in the mount options by their full paths,
// or, when those do not fit in the page mount(2) copies, by short symlinks
// in the container's dir, the way docker's overlay2 driver uses its l/ dir.
func (c *container) chooseLower() error {
	c.mount.Lower = c.layers
	n := len(overlayOptions(c.mount.Lower, c.mount.Upper, c.mount.Work))
	if n <= maxMountData {
		return nil
	}
	links := filepath.Join(c.dir, "l")
	explain(featLayers, "The options would be %d bytes, more than the %d mount(2) takes: name the layers by short symlinks in %s.", n, maxMountData, links)
	// The container's dir keeps strangers out; its root must get through.
	if err := mkdir(links, 0o755); err != nil {
		return err
	}
	if err := chmod(links, 0o755); err != nil {
		return err
	}
	c.mount.Lower = nil
	for i, layer := range c.layers {
		name := strconv.Itoa(i)
		if err := symlink(layer, filepath.Join(links, name)); err != nil {
			return err
		}
		c.mount.Lower = append(c.mount.Lower, "l/"+name)
	}
	c.mount.Dir = c.dir
	if n := len(overlayOptions(c.mount.Lower, c.mount.Upper, c.mount.Work)); n > maxMountData {
		return fmt.Errorf("image has %d layers: too many for one overlay mount (%d bytes of options)", len(c.layers), n)
	}
	return nil
}

// saveState writes state.json into dir.
func (c *container) saveState(dir string) error {
	data, err := json.Marshal(c.state)
	if err != nil {
		return err
	}
	return c.store.writeFileAtomic(filepath.Join(dir, "state.json"), data)
}

// childArgs are the flags that hand the overlay to the child.
func (c *container) childArgs() []string {
	if c == nil {
		return nil
	}
	var args []string
	for _, l := range c.mount.Lower {
		args = append(args, "--overlay-lower="+l)
	}
	args = append(args, "--overlay-upper="+c.mount.Upper, "--overlay-work="+c.mount.Work)
	if c.mount.Dir != "" {
		args = append(args, "--overlay-dir="+c.mount.Dir)
	}
	return args
}

// findCommand looks for the command in the rootfs, or in the image's
// layers, top first: the merged dir is still empty on the host's side.
func (c *container) findCommand(rootfs, name string) (string, error) {
	if c == nil {
		return findCommand(rootfs, name)
	}
	for _, layer := range c.layers {
		if p, err := findCommand(layer, name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in image %s (looked in %s)", name, c.state.Image, containerPath)
}

// finish shows what the container changed and removes its dirs, or with
// --keep keeps the upper dir. Run defers it, so it runs on every way out.
func (c *container) finish() {
	if c == nil {
		return
	}
	if err := c.showChanges(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
	}
	if c.keep {
		err := c.keepUpper()
		if err == nil {
			return
		}
		fmt.Fprintf(os.Stderr, "%s: keep upper dir: %v\n", programName(), err)
	}
	if err := c.remove(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
	}
}

// showChanges prints the container's upper dir as docker diff does.
func (c *container) showChanges() error {
	changes, err := upperChanges(c.mount.Upper, c.layers)
	if err != nil || len(changes) == 0 {
		return err
	}
	explain(featLayers, "What the container changed is all in its upper dir %s (A added, C changed, D deleted); the layers are untouched:", c.mount.Upper)
	for _, ch := range changes {
		show("%s", ch)
	}
	return nil
}

// keepUpper keeps the upper dir and removes the rest.
func (c *container) keepUpper() error {
	explain(featLayers, "Keep the upper dir %s, as asked; remove the work and merged dirs.", c.mount.Upper)
	for _, dir := range []string{c.mount.Work, c.merged(), filepath.Join(c.dir, "l")} {
		if err := removeAll(dir); err != nil {
			return err
		}
	}
	c.state.Kept = true
	if err := c.saveState(c.dir); err != nil {
		return err
	}
	where := ""
	if c.state.RW == filepath.Join(c.dir, "tmpfs") {
		where = " (on the tmpfs mounted for it, which stays mounted)"
	}
	fmt.Fprintf(os.Stderr, "%s: kept the upper dir %s%s; remove it with: %s cleanup --store %s %s\n",
		programName(), c.mount.Upper, where, programName(), c.store.dir, c.id)
	return nil
}

// remove removes the container's dirs and unmounts what was mounted there.
func (c *container) remove() error {
	explain(featLayers, "Remove the container's dirs: %s.", c.dir)
	return removeContainerDir(c.dir, c.state)
}

// removeContainerDir unmounts whatever is mounted below dir (the tmpfs for
// upper and work), then removes dir and the upper and work dirs.
func removeContainerDir(dir string, st containerState) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		explain(featLayers, "Unmount %s, mounted for the container's upper and work dirs.", m)
		if err := umount2(m, unix.MNT_DETACH); err != nil {
			return err
		}
	}
	if st.RW != "" && st.RW != dir && !strings.HasPrefix(st.RW, dir+"/") {
		if err := removeAll(st.RW); err != nil {
			return err
		}
	}
	return removeAll(dir)
}

// mountsUnder lists the mount points at or below dir in our mount table,
// deepest first, so they can be unmounted in order.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var mounts []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// Field 5 is the mount point, with spaces and the like escaped
		// as octal (proc(5)).
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountPoint(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			mounts = append(mounts, point)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, scanner.Err()
}

// unescapeMountPoint undoes the \ooo escapes of /proc/self/mountinfo.
func unescapeMountPoint(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeStale removes the container dirs whose runtime is gone (killed
// before it could clean up), and the kept containers named in ids. It
// returns the dirs it removed.
func (s store) removeStale(ids []string) ([]string, error) {
	if err := s.removeStaleTemp(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.containersDir())
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	wanted := map[string]bool{}
	for _, id := range ids {
		wanted[id] = true
	}
	var removed []string
	for _, e := range entries {
		dir := filepath.Join(s.containersDir(), e.Name())
		var st containerState
		data, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err == nil {
			err = json.Unmarshal(data, &st)
		}
		running := err == nil && !st.Kept && processAlive(st.Owner)
		switch {
		case running && wanted[e.Name()]:
			return removed, fmt.Errorf("container %s is running; stop it first", e.Name())
		case running, st.Kept && !wanted[e.Name()]:
			delete(wanted, e.Name())
			continue
		case st.Kept:
			explain(featLayers, "Remove the kept container %s, as asked.", e.Name())
		default:
			explain(featLayers, "Remove container %s: the runtime that made it (pid %s) is gone.", e.Name(), strings.Split(st.Owner+"-", "-")[0])
		}
		delete(wanted, e.Name())
		if err := removeContainerDir(dir, st); err != nil {
			return removed, err
		}
		removed = append(removed, dir)
	}
	for id := range wanted {
		return removed, fmt.Errorf("no container %s in %s", id, s.containersDir())
	}
	return removed, nil
}

// cleanupStore removes the dirs of containers whose runtime was killed,
// and the kept containers named in ids, and returns the dirs removed. A
// store that does not exist holds nothing to remove, and is not made.
func cleanupStore(storeDir string, ids []string) ([]string, error) {
	if _, err := os.Stat(storeDir); errors.Is(err, fs.ErrNotExist) && len(ids) == 0 {
		return nil, nil
	}
	s, err := openStore(storeDir)
	if err != nil {
		return nil, err
	}
	return s.removeStale(ids)
}

// change is a path the container added, changed or deleted.
type change struct {
	Kind byte // 'A', 'C' or 'D', as docker diff prints them
	Path string
	Note string
}

func (c change) String() string {
	s := string(c.Kind) + " " + c.Path
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// upperChanges reads the container's changes from its upper dir: a
// whiteout is a deleted path, an opaque dir replaced the layers' dir, and
// any other entry was added, or changed when a layer has it too.
func upperChanges(upper string, lowers []string) ([]change, error) {
	var changes []change
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, upper+"/"))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if isWhiteout(info) {
			changes = append(changes, change{Kind: 'D', Path: rel, Note: "whiteout"})
			return nil
		}
		kind := byte('A')
		if inLower(rel, lowers) {
			kind = 'C'
		}
		ch := change{Kind: kind, Path: rel}
		if d.IsDir() && isOpaque(p) {
			ch.Note = "opaque: hides the layers' " + rel
		}
		changes = append(changes, ch)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read upper dir: %w", err)
	}
	return changes, nil
}

// inLower tells whether the layers, top first, show a file at rel: the
// first layer that has it or deletes it decides, and an opaque dir or a
// file on the way hides everything below it.
func inLower(rel string, lowers []string) bool {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	for _, layer := range lowers {
		p := layer
		opaque := false
		for i, part := range parts {
			p = filepath.Join(p, part)
			info, err := os.Lstat(p)
			if err != nil {
				break // not in this layer: look below, unless an opaque dir hides it
			}
			if isWhiteout(info) {
				return false
			}
			if i == len(parts)-1 {
				return true
			}
			if !info.IsDir() {
				return false
			}
			opaque = opaque || isOpaque(p)
		}
		if opaque {
			return false
		}
	}
	return false
}

// isWhiteout tells an overlayfs whiteout: a character device 0/0.
func isWhiteout(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// isOpaque tells whether dir carries the opaque xattr our mounts read.
func isOpaque(dir string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(dir, opaqueXattr, buf)
	return err == nil && string(buf[:n]) == "y"
}

// plural is "1 layer" or "3 layers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
