package main

// overlay.go gives a container run from an image its root: an overlay
// mount (overlayfs) of the image's read-only layers under a writable upper
// dir of its own. Reads fall through to the topmost layer that has the
// file; the first write copies it up; a delete leaves a whiteout. The child
// mounts it in its own namespaces, so the host never sees it; --commit
// makes the upper dir one more layer.

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

// layerOptions are the flags of run for running an image.
type layerOptions struct {
	Image  string `placeholder:"NAME" help:"Run on image NAME (see: import) instead of --rootfs: the root is then an overlay of its layers."`
	Commit string `placeholder:"NAME" help:"When the command succeeds, store image NAME: the image's layers and, on top, the container's upper dir as a new layer."`
}

// overlayMount is what the child needs to mount an image's overlay; run
// hands it over as hidden flags.
type overlayMount struct {
	Lower []string `sep:"none" hidden:"" help:"A layer dir, top layer first; once per layer."`
	Dir   string   `hidden:"" help:"The container's dir, where the upper, work and merged dirs go."`
	Tmpfs bool     `hidden:"" help:"Mount a tmpfs on the container's dir first: the store is on overlayfs."`
}

// overlayOptions is the overlay mount's data: the lower dirs top first,
// the upper and work dirs, and userxattr: in a user namespace overlayfs
// (Linux 5.11 on) keeps its marks, such as an opaque dir's, in user.overlay.*
// xattrs, not trusted.overlay.* (Documentation/filesystems/overlayfs.rst).
func overlayOptions(lower []string, dir string) string {
	return "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + filepath.Join(dir, "upper") +
		",workdir=" + filepath.Join(dir, "work") + ",userxattr"
}

// The filesystems statfs names for a store, besides cgroup.go's.
func init() {
	fsTypeNames[unix.OVERLAYFS_SUPER_MAGIC] = "OVERLAYFS_SUPER_MAGIC"
	fsTypeNames[unix.EXT4_SUPER_MAGIC] = "EXT2_SUPER_MAGIC" // ext2, ext3 and ext4 share it
}

// mountRoot makes the container's root a mount point: the image's overlay
// when there is one, or else the rootfs bound onto itself.
func mountRoot(rootfs string, o overlayMount) error {
	if len(o.Lower) == 0 {
		return bindRootfs(rootfs)
	}
	if o.Tmpfs {
		explain(featLayers, "The store is on overlayfs, which cannot hold an upper dir: mount a tmpfs on the container's dir for upper and work. It is this mount namespace's, and vanishes with it.")
		if err := mount("tmpfs", o.Dir, "tmpfs", 0, "mode=0700"); err != nil {
			return err
		}
	}
	explain(featLayers, "Make the upper dir, which gets every change the container makes, and the work dir overlayfs needs on the same filesystem; they are this user namespace's root's.")
	for _, name := range []string{"upper", "work", "merged"} {
		if name == "merged" && !o.Tmpfs {
			continue // run made it; the tmpfs hides that one
		}
		if err := mkdir(filepath.Join(o.Dir, name), 0o755); err != nil {
			return err
		}
	}
	lower := o.Lower
	// mount(2) copies one page of options: past it, name the layers by
	// short symlinks, as docker's overlay2 driver does in its l/ dir.
	if n := len(overlayOptions(lower, o.Dir)); n >= os.Getpagesize() {
		explain(featLayers, "The options would be %d bytes, more than the page mount(2) takes: name the layers by short symlinks in %s/l, relative to it.", n, o.Dir)
		if err := mkdir(filepath.Join(o.Dir, "l"), 0o755); err != nil {
			return err
		}
		lower = nil
		for i, layer := range o.Lower {
			name := "l/" + strconv.Itoa(i)
			if err := symlink(layer, filepath.Join(o.Dir, name)); err != nil {
				return err
			}
			lower = append(lower, name)
		}
		if err := chdir(o.Dir); err != nil {
			return err
		}
	}
	explain(featLayers, "Mount the root: the image's %d layer(s) read-only, under the container's own writable upper dir; root of this user namespace may, with userxattr.", len(lower))
	err := mount("overlay", rootfs, "overlay", 0, overlayOptions(lower, o.Dir))
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (overlayfs in a user namespace needs Linux 5.11; dmesg has overlayfs's reason)", err)
	}
	return err
}

// container is the parent's side of a run from an image.
type container struct {
	store  store
	image  string
	commit string   // --commit
	layers []string // the image's layers' digests, bottom first
	lowers []string // their dirs, top first
	dir    *workDir
	tmpfs  bool
}

// prepareImage, for run --image, makes the container's dir and points
// --rootfs at the overlay's mount point. Without --image it does nothing.
func (r *runCmd) prepareImage(storeDir string, users userNamespace) (*container, error) {
	switch {
	case r.Image == "" && r.Commit != "":
		return nil, errors.New("--commit needs --image: it stores the container's upper dir on top of the image's layers")
	case r.Image == "":
		return nil, nil
	case users.rootless:
		return nil, errors.New("run --image needs root: the store and its layers are root's; without root, use --rootfs")
	}
	s, err := openStore(storeDir, users)
	if err != nil {
		return nil, err
	}
	c := &container{store: s, image: r.Image, commit: r.Commit}
	if c.layers, err = s.image(r.Image); err != nil {
		return nil, err
	}
	if err := checkImageName(r.Commit); r.Commit != "" && err != nil {
		return nil, err
	}
	for i := len(c.layers) - 1; i >= 0; i-- {
		c.lowers = append(c.lowers, s.layerDir(c.layers[i]))
		if _, err := os.Stat(c.lowers[len(c.lowers)-1]); err != nil {
			return nil, fmt.Errorf("image %s: layer %s is not in %s, the layers given to host ids from %d; import the image with this --userns-map", r.Image, c.layers[i], s.layersDir(), users.uids.start)
		}
	}
	// The child mounts the overlay as root of the user namespace, an
	// ordinary user on the host, who must be able to walk to the layers.
	if err := checkReachable(s.layersDir(), true, users); err != nil {
		return nil, err
	}
	explain(featLayers, "Check the filesystem of the store: overlayfs cannot hold an upper dir (the mount would fail with EINVAL).")
	fsType, err := statfs(s.containersDir())
	if err != nil {
		return nil, err
	}
	if c.tmpfs = fsType == unix.OVERLAYFS_SUPER_MAGIC; c.tmpfs && r.Commit != "" {
		return nil, fmt.Errorf("--commit: the store %s is on overlayfs, which can hold neither an upper dir nor a layer's whiteouts; put --store on another filesystem (a docker volume)", s.dir)
	}
	if c.dir, err = s.newWorkDir("the container's"); err != nil {
		return nil, err
	}
	r.Rootfs = filepath.Join(c.dir.path, "merged")
	explain(featLayers, "Make the merged dir, where the child mounts the overlay; the container's root owns it.")
	if err = mkdir(r.Rootfs, 0o755); err == nil {
		err = chown(r.Rootfs, int(users.uids.start), int(users.gids.start))
	}
	if err != nil {
		c.dir.remove()
		return nil, err
	}
	return c, nil
}

// childArgs are the flags that hand the overlay to the child.
func (c *container) childArgs() []string {
	if c == nil {
		return nil
	}
	var args []string
	for _, l := range c.lowers {
		args = append(args, "--overlay-lower="+l)
	}
	args = append(args, "--overlay-dir="+c.dir.path)
	if c.tmpfs {
		args = append(args, "--overlay-tmpfs")
	}
	return args
}

// findCommand looks for the command in the rootfs, or in the image's
// layers, top first: the merged dir is empty on the host's side.
func (c *container) findCommand(rootfs, name string) (string, error) {
	if c == nil {
		return findCommand(rootfs, name)
	}
	for _, layer := range c.lowers {
		if p, err := findCommand(layer, name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in image %s (looked in %s)", name, c.image, containerPath)
}

// exited shows what the container changed, all in its upper dir, and with
// --commit, if the command succeeded, stores the upper dir as a layer on
// top of the image's: a new image.
func (c *container) exited(status int) error {
	if c == nil || c.tmpfs {
		return nil // the tmpfs that held the upper dir is gone with the child
	}
	upper := filepath.Join(c.dir.path, "upper")
	var changes []string
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		info, err := d.Info()
		if err == nil && isWhiteout(info) {
			changes = append(changes, strings.TrimPrefix(p, upper)+" (whiteout: deleted)")
		} else if err == nil && d.IsDir() && isOpaque(p) {
			changes = append(changes, strings.TrimPrefix(p, upper)+" (opaque: hides the layers' dir)")
		} else if err == nil {
			changes = append(changes, strings.TrimPrefix(p, upper))
		}
		return err
	})
	if len(changes) > 0 {
		explain(featLayers, "What the container changed is all in its upper dir %s; the layers are untouched:", upper)
		show("%s", strings.Join(changes, "\n  "))
	}
	if err != nil || c.commit == "" {
		return err
	}
	if status != 0 {
		fmt.Fprintf(os.Stderr, "%s: not committing %s: the command exited with %d\n", programName(), c.commit, status)
		return nil
	}
	explain(featLayers, "Commit: the upper dir becomes a layer. Its name is the sha256 of the tar it makes in an image: a whiteout (character device 0/0) is written as an empty .wh.NAME, an opaque dir gets an entry .wh..wh..opq.")
	digest, err := layerDigest(upper, c.store.users.uids.start)
	if err == nil {
		err = c.store.addLayer(upper, digest)
	}
	if err == nil {
		err = c.store.saveImage(c.commit, append(c.layers, digest), c.dir)
	}
	return err
}

// finish removes the container's dir. Run defers it, so it runs on every
// way out.
func (c *container) finish() {
	if c == nil {
		return
	}
	if err := c.dir.remove(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
	}
}

// isWhiteout tells an overlayfs whiteout: a character device 0/0.
func isWhiteout(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// isOpaque tells whether overlayfs marked dir opaque: with userxattr, in
// user.overlay.opaque.
func isOpaque(dir string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(dir, "user.overlay.opaque", buf)
	return err == nil && string(buf[:n]) == "y"
}
