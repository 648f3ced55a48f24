package rootfs

import (
	"os"
	"path/filepath"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Devices is the device allowlist: the host device nodes a container gets.
// Every other device stays out of reach: /dev is a fresh tmpfs, and every
// writable mount is nodev, so a node made with mknod cannot be opened.
var Devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// devLinks are the usual /dev symlinks.
var devLinks = []struct{ name, target string }{
	{"ptmx", "pts/ptmx"},
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// mountDev builds a minimal /dev on a tmpfs: bind mounts of the allowed
// host devices, a private devpts for terminals, /dev/shm and /dev/mqueue
// for the IPC namespace, and the usual symlinks. The tmpfs goes on root's
// "dev", opened without following symlinks; below it, at dev, in a
// filesystem this process just made, names are safe to use.
func mountDev(root *os.File, dev string) error {
	narrate.Explain(narrate.Security, "Mount a nodev tmpfs on /dev and bind in only the allowed devices: %v.", Devices)
	err := mountOnPoint(root, "dev", func(target *os.File) error {
		return sys.MountOn("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_STRICTATIME, "mode=755,size=65536k")
	})
	if err != nil {
		return err
	}
	// A bind mount keeps the flags of the mount it comes from (the host's
	// /dev, which allows devices), not those of the nodev tmpfs below it.
	for _, name := range Devices {
		target := filepath.Join(dev, name)
		if err := sys.CreateFile(target, 0o666); err != nil {
			return err
		}
		if err := sys.Mount("/dev/"+name, target, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	narrate.Explain(narrate.Terminal, "Mount a new devpts instance, so terminals opened inside are the container's own.")
	pts := filepath.Join(dev, "pts")
	if err := sys.Mkdir(pts, 0o755); err != nil {
		return err
	}
	if err := sys.Mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	narrate.Explain(narrate.IPC, "Mount /dev/shm and /dev/mqueue: shared memory and message queues of the IPC namespace.")
	shm := filepath.Join(dev, "shm")
	if err := sys.Mkdir(shm, 0o1777); err != nil {
		return err
	}
	if err := sys.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	mqueue := filepath.Join(dev, "mqueue")
	if err := sys.Mkdir(mqueue, 0o755); err != nil {
		return err
	}
	if err := sys.Mount("mqueue", mqueue, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	narrate.Explain(narrate.Mount, "Add the usual /dev symlinks.")
	for _, l := range devLinks {
		if err := sys.Symlink(l.target, filepath.Join(dev, l.name)); err != nil {
			return err
		}
	}
	return nil
}
