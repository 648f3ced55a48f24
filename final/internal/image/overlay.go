package image

// overlay.go builds the option string of an overlay mount and makes the
// mount. Reads fall through the lower dirs, top first, to the first that
// has the file; the first write copies the file up into the upper dir; a
// delete leaves a whiteout there (Documentation/filesystems/overlayfs.rst).

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// overlayMount is what one overlay mount is made of.
type overlayMount struct {
	lower []string // top first, as the kernel wants them
	upper string
	work  string // overlayfs's scratch dir, on the upper dir's filesystem
	dir   string // where relative lower dirs start from, or ""
}

// options is the data argument of the mount: the lower dirs top first,
// separated by ':', then the upper and work dirs. redirect_dir and
// metacopy are off, whatever the kernel's defaults: with them on, a rename
// or a chmod would leave in the upper dir a pointer to, or a bare copy of
// the metadata of, a lower file, and the upper dir would no longer say by
// itself what the container changed (changes.go, layertar.go).
func (o overlayMount) options() string {
	return "lowerdir=" + strings.Join(o.lower, ":") + ",upperdir=" + o.upper + ",workdir=" + o.work +
		",redirect_dir=off,metacopy=off"
}

// maxMountData is the longest option string mount(2) takes: the kernel
// copies one page of it, including the final NUL.
var maxMountData = os.Getpagesize() - 1

// shortenLowers names the lower dirs by names, their short links in dir
// (links.go), when their full paths do not fit in the page mount(2)
// copies; the mount then runs from dir, as docker's overlay2 driver does
// from its l/ dir. The links are the store's, made with each layer: none
// is made here. It fails if even the short names do not fit.
func (o *overlayMount) shortenLowers(dir string, names []string) error {
	n := len(o.options())
	if n <= maxMountData {
		return nil
	}
	narrate.Explain(narrate.Layers, "The mount options would be %d bytes, more than the %d mount(2) takes: name the layers by their short links in %s, and mount from there.", n, maxMountData, dir)
	o.lower, o.dir = names, dir
	if n := len(o.options()); n > maxMountData {
		return fmt.Errorf("the image has %d layers: too many for one overlay mount (%d bytes of options, the kernel takes %d)", len(names), n, maxMountData)
	}
	return nil
}

// mount mounts the overlay on target. With relative lower dirs it runs
// from o.dir, and returns to where it was: chdir(2) changes the directory
// of the whole process, which has nothing else to do meanwhile.
func (o overlayMount) mount(target string) error {
	if o.dir != "" {
		back, err := os.Getwd()
		if err != nil {
			back = "/"
		}
		if err := sys.Chdir(o.dir); err != nil {
			return err
		}
		defer func() { _ = sys.Chdir(back) }()
	}
	err := sys.Mount("overlay", target, "overlay", 0, o.options())
	if errors.Is(err, syscall.EINVAL) { // the kernel says why only in dmesg
		return fmt.Errorf("%w (dmesg says why: an upper dir on overlayfs, layers nested too deep, a filesystem without d_type...)", err)
	}
	return err
}
