package main

// rootfs.go makes the directory a container runs on. A root filesystem is
// only a tree of files: build a small one offline, from busybox-static or
// from the host's own binaries and the libraries they load, or unpack one
// that someone else packed (an Alpine minirootfs, a docker export).

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

type rootfsCmd struct {
	Build  rootfsBuildCmd  `cmd:"" help:"Build a small root filesystem in DIR, from busybox-static or from the host's binaries."`
	Import rootfsImportCmd `cmd:"" help:"Unpack a tar or tar.gz (an Alpine minirootfs, a docker export) into DIR."`
}

type rootfsBuildCmd struct {
	FromHost bool   `help:"Copy the host's binaries and their libraries, even if busybox-static is installed."`
	Dir      string `arg:"" name:"dir" type:"path" help:"Directory to build in; created if missing."`
}

type rootfsImportCmd struct {
	File string `arg:"" name:"file" type:"existingfile" help:"Tar archive, plain or gzipped."`
	Dir  string `arg:"" name:"dir" type:"path" help:"Directory to unpack into; created if missing."`
}

func (b *rootfsBuildCmd) Run() error { return buildRootfs(b.Dir, b.FromHost) }

func (i *rootfsImportCmd) Run() error { return importRootfs(i.File, i.Dir) }

// rootfsMarker marks a directory as a rootfs this program made, so a later
// build or import may replace it, and records how it was made.
const rootfsMarker = "etc/box-rootfs"

// hostCommands are the host binaries a --from-host rootfs gets; sh is the
// one it cannot do without.
var hostCommands = []string{"sh", "ls", "ps", "cat", "echo", "id", "hostname", "mount", "umount",
	"sleep", "kill", "top", "env", "mkdir", "rm", "touch", "grep", "true", "false", "uname",
	"chroot", "stat", "cut", "head", "tail", "wc"}

// mountPointDirs are the directories run mounts on, so every rootfs has them.
var mountPointDirs = []rootfsDir{{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"tmp", 0o777 | os.ModeSticky}}

// skeletonDirs are the directories of a built rootfs.
var skeletonDirs = append([]rootfsDir{{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755},
	{"usr/sbin", 0o755}, {"etc", 0o755}, {"root", 0o700}, {"home", 0o755}, {"var", 0o755},
	{"run", 0o755}}, mountPointDirs...)

// rootfsDir is a directory to create in a rootfs, and its mode.
type rootfsDir struct {
	name string
	mode os.FileMode
}

// buildRootfs builds a rootfs in dir: from busybox-static if it is
// installed, from the host's binaries otherwise or when fromHost is set.
func buildRootfs(dir string, fromHost bool) (err error) {
	undo, err := prepareRootfsDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	busybox, why := findStaticBusybox()
	var how string
	if busybox != "" && !fromHost {
		how, err = installBusybox(dir, busybox)
	} else {
		if !fromHost {
			explain(featRoot, "%s; copying host binaries instead", why)
		}
		how, err = installHostBinaries(dir)
	}
	if err != nil {
		return err
	}
	return writeSkeleton(dir, how)
}

// prepareRootfsDir makes dir ready for a new rootfs and returns how to undo
// that if the build fails, so a failure leaves nothing behind. It refuses a
// non-empty directory that is not a rootfs we made: that could be anything.
func prepareRootfsDir(dir string) (undo func(), err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("mkdir %s: %w", dir, err)
		}
		return func() { _ = os.RemoveAll(dir) }, nil
	case err != nil:
		return nil, fmt.Errorf("rootfs %s: %w", dir, err)
	case len(entries) == 0:
		return func() { _ = clearDir(dir) }, nil
	case !isBoxRootfs(dir):
		return nil, fmt.Errorf("%s is not empty and has no %s, so %s did not make it; use a new or empty directory, or remove this one first: rm -rf %s",
			dir, rootfsMarker, programName(), dir)
	}
	// Clearing must not descend into a mount: a leaked /proc fails, and a
	// bind mount of a host directory would lose the host's files.
	if mounts := mountPointsBelow(dir); len(mounts) > 0 {
		return nil, fmt.Errorf("%s has mounts inside it (%s); unmount them first: umount -R %s",
			dir, strings.Join(mounts, ", "), mounts[0])
	}
	explain(featRoot, "%s holds a rootfs made earlier (%s): remove it and start afresh.", dir, rootfsMarker)
	if err := clearDir(dir); err != nil {
		return nil, err
	}
	return func() { _ = clearDir(dir) }, nil
}

// mountPointsBelow lists the mount points inside dir, from the fifth field
// of /proc/self/mountinfo, where the kernel escapes spaces as \040.
func mountPointsBelow(dir string) []string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	var below []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 {
			if p := unescape.Replace(fields[4]); strings.HasPrefix(p, abs+"/") {
				below = append(below, p)
			}
		}
	}
	return below
}

// isBoxRootfs tells whether dir has our marker, without following symlinks.
func isBoxRootfs(dir string) bool {
	etc, err := os.Lstat(filepath.Join(dir, "etc"))
	if err != nil || !etc.IsDir() {
		return false
	}
	marker, err := os.Lstat(filepath.Join(dir, rootfsMarker))
	return err == nil && marker.Mode().IsRegular()
}

// clearDir removes everything inside dir but dir itself. RemoveAll never
// follows symlinks, so a link to / inside is removed, not its target.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("clear %s: %w", dir, err)
		}
	}
	return nil
}

// writeSkeleton adds what every Unix system expects to find: the standard
// directories, users and groups for ls and id, a hostname, and our marker.
func writeSkeleton(dir, how string) error {
	if err := makeRootfsDirs(dir, skeletonDirs); err != nil {
		return err
	}
	files := []struct{ name, content string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
		{"etc/hostname", "box\n"},
		{rootfsMarker, how},
	}
	for _, f := range files {
		if err := writeRootfsFile(dir, f.name, f.content); err != nil {
			return err
		}
	}
	return nil
}

// makeRootfsDirs creates the missing dirs below root. An existing entry is
// left alone, even a symlink: it is never followed, so an imported "tmp"
// pointing at the host's / does not get chmod 1777.
func makeRootfsDirs(root string, dirs []rootfsDir) error {
	for _, d := range dirs {
		if err := checkParents(root, d.name); err != nil {
			return err
		}
		p := filepath.Join(root, d.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
		// Chmod, because mkdir(2) applies the umask, which drops the sticky bit of tmp.
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// writeRootfsFile writes a new file at name below root without following a
// symlink on the way: an imported rootfs may have any links.
func writeRootfsFile(root, name, content string) error {
	if err := checkParents(root, name); err != nil {
		return err
	}
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", filepath.Dir(p), err)
	}
	if err := removeEntry(p, false); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// checkParents fails if a directory on the way to name below root is a
// symlink, so that creating name cannot land outside root. Missing
// directories are fine: whoever creates name creates them as directories.
func checkParents(root, name string) error {
	dir := filepath.Dir(name)
	if dir == "." {
		return nil
	}
	p := root
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lstat %s: %w", p, err)
		}
		if info.Mode()&os.ModeSymlink != 0 {
			rel, _ := filepath.Rel(root, p)
			return fmt.Errorf("%s: %s is a symlink; refusing to write through it", name, rel)
		}
	}
	return nil
}

// removeEntry removes what is at p, so an entry can be created in its place
// without following a symlink that was there. A directory stays if keepDir.
func removeEntry(p string, keepDir bool) error {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && info.IsDir() && keepDir) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lstat %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("replace %s: %w", p, err)
	}
	return nil
}

// copyHostFile copies the content of the host file src to dst, with its
// permission bits (not setuid: a container's root does not need them).
func copyHostFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// The busybox rootfs: one static binary is every command.

// findStaticBusybox returns the path of a statically linked busybox, or
// why there is none. A dynamic one would need its libraries copied too.
func findStaticBusybox() (path, why string) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		deps, err := readELFDeps(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", fmt.Sprintf("%s is not usable (%v)", p, err)
		case deps.Interp != "":
			return "", fmt.Sprintf("%s is dynamically linked, not busybox-static (apt install busybox-static)", p)
		}
		return p, ""
	}
	return "", "busybox-static is not installed (apt install busybox-static)"
}

// installBusybox copies busybox to /bin/busybox and links every applet to
// it, as Debian's busybox-static does: busybox looks at argv[0] to know
// which command to be.
func installBusybox(dir, busybox string) (how string, err error) {
	explain(featRoot, "Build %s from %s: one static binary, no libraries, every command a symlink to it.", dir, busybox)
	if err := copyHostFile(busybox, filepath.Join(dir, "bin/busybox")); err != nil {
		return "", err
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		return "", err
	}
	for _, a := range applets {
		p := filepath.Join(dir, a)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("mkdir %s: %w", filepath.Dir(p), err)
		}
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return "", fmt.Errorf("symlink %s: %w", p, err)
		}
	}
	explain(featRoot, "Linked %d commands to /bin/busybox.", len(applets))
	return fmt.Sprintf("built by %s rootfs build from busybox-static (%s)\n", programName(), busybox), nil
}

// busyboxApplets asks busybox for its applets with their install paths;
// an older busybox without --list-full gets them all in /bin.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err == nil {
		return parseApplets(string(out), "")
	}
	out, err = exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list applets of %s: %w", busybox, err)
	}
	return parseApplets(string(out), "bin/")
}

// parseApplets reads one applet path per line, skipping busybox itself and
// any path that would leave the rootfs.
func parseApplets(out, prefix string) ([]string, error) {
	var applets []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := rootfsRelPath(prefix + line)
		if err != nil {
			return nil, fmt.Errorf("busybox applet: %w", err)
		}
		if p != "bin/busybox" && p != "." {
			applets = append(applets, p)
		}
	}
	return applets, nil
}

// The host rootfs: the host's binaries and the libraries they load, which
// is what ldd(1) lists, found the way the dynamic linker finds them.

// installHostBinaries copies hostCommands, each at its host path, with its
// dynamic linker and libraries.
func installHostBinaries(dir string) (how string, err error) {
	explain(featRoot, "Copy host binaries into %s with what each loads at start: the ELF's DT_NEEDED libraries and PT_INTERP dynamic linker, as ldd shows.", dir)
	if err := copyUsrMerge(dir); err != nil {
		return "", err
	}
	paths, missing := findHostCommands(hostCommands)
	if slices.Contains(missing, "sh") {
		return "", fmt.Errorf("sh not found on the host in %s; a rootfs needs a shell", containerPath)
	}
	if len(missing) > 0 {
		explain(featRoot, "Not on this host, so left out: %s.", strings.Join(missing, ", "))
	}
	c := hostCopier{root: dir, dirs: libraryDirs(), copied: map[string]bool{}}
	for _, p := range paths {
		if err := c.copyProgram(p); err != nil {
			return "", err
		}
	}
	explain(featRoot, "Copied %d binaries and %d libraries.", len(paths), len(c.copied)-len(paths))
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return fmt.Sprintf("built by %s rootfs build --from-host from host binaries: %s\n", programName(), strings.Join(names, " ")), nil
}

// findHostCommands finds each command in the container's PATH on the host,
// not in the user's PATH, which may hold shims and toolchains.
func findHostCommands(names []string) (paths, missing []string) {
	for _, name := range names {
		found := ""
		for _, dir := range filepath.SplitList(containerPath) {
			if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
				found = p
				break
			}
		}
		if found == "" {
			missing = append(missing, name)
			continue
		}
		paths = append(paths, found)
	}
	return paths, missing
}

// copyUsrMerge repeats the host's merged /usr links (/bin -> usr/bin, /lib64
// -> usr/lib64), so /bin/sh and /usr/bin/sh stay the same file inside. The
// links are made relative: an absolute one would lead our copies to the host.
func copyUsrMerge(dir string) error {
	var merged []string
	for _, name := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		info, err := os.Lstat("/" + name)
		if err != nil || info.Mode()&os.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink("/" + name)
		if err != nil {
			return fmt.Errorf("readlink /%s: %w", name, err)
		}
		rel := strings.TrimPrefix(filepath.Join("/", target), "/")
		if rel == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", filepath.Join(dir, rel), err)
		}
		if err := os.Symlink(rel, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("symlink %s: %w", filepath.Join(dir, name), err)
		}
		merged = append(merged, "/"+name+" -> "+rel)
	}
	if len(merged) > 0 {
		explain(featRoot, "The host has a merged /usr (%s): make the same links, so every binary keeps its host path.", strings.Join(merged, ", "))
	}
	return nil
}

// elfDeps is what the dynamic linker must load before a program can run.
type elfDeps struct {
	Needed  []string // DT_NEEDED: library names (sonames), in load order
	Interp  string   // PT_INTERP: the dynamic linker; empty if static
	RunPath []string // DT_RUNPATH, or the older DT_RPATH: where to look first
	Class   elf.Class
	Machine elf.Machine
}

// readELFDeps reads the dependencies of the ELF file at path, as ldd does
// without running anything.
func readELFDeps(path string) (elfDeps, error) {
	f, err := elf.Open(path)
	if err != nil {
		return elfDeps{}, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	deps := elfDeps{Class: f.Class, Machine: f.Machine}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return elfDeps{}, fmt.Errorf("read PT_INTERP of %s: %w", path, err)
		}
		deps.Interp = string(bytes.TrimRight(b, "\x00"))
	}
	if deps.Needed, err = f.ImportedLibraries(); err != nil {
		return elfDeps{}, fmt.Errorf("read DT_NEEDED of %s: %w", path, err)
	}
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	if len(runpath) == 0 {
		runpath, _ = f.DynString(elf.DT_RPATH)
	}
	for _, rp := range runpath {
		for _, d := range filepath.SplitList(rp) {
			// $ORIGIN is the directory of the object itself (ld.so(8)).
			d = strings.NewReplacer("${ORIGIN}", filepath.Dir(path), "$ORIGIN", filepath.Dir(path)).Replace(d)
			deps.RunPath = append(deps.RunPath, d)
		}
	}
	return deps, nil
}

// isELF tells whether the file at path starts with the ELF magic number;
// a script does not, and has no libraries to find.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, len(elf.ELFMAG))
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == elf.ELFMAG
}

// describeDeps is the narration of one binary's dependencies.
func describeDeps(path string, d elfDeps) string {
	switch {
	case d.Interp == "" && len(d.Needed) == 0:
		return path + " is statically linked: it needs no libraries"
	case len(d.Needed) == 0:
		return fmt.Sprintf("%s needs only %s (PT_INTERP)", path, d.Interp)
	case d.Interp == "":
		return fmt.Sprintf("%s needs %s (DT_NEEDED)", path, strings.Join(d.Needed, ", "))
	}
	return fmt.Sprintf("%s needs %s (DT_NEEDED) and %s (PT_INTERP)", path, strings.Join(d.Needed, ", "), d.Interp)
}

// standardLibraryDirs are where the dynamic linker looks when nothing else
// says where, for Debian's multiarch and for other distributions.
var standardLibraryDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// libraryDirs are the standard dirs, then those of ld.so.conf, which name
// the multiarch dirs of other architectures.
func libraryDirs() []string {
	seen := map[string]bool{}
	var dirs []string
	for _, d := range append(append([]string{}, standardLibraryDirs...), ldSoConfDirs("/etc/ld.so.conf.d/*.conf")...) {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// ldSoConfDirs reads the directories listed in the ld.so.conf files that
// match pattern: one per line, # starts a comment.
func ldSoConfDirs(pattern string) []string {
	files, _ := filepath.Glob(pattern)
	var dirs []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "/") {
				dirs = append(dirs, filepath.Clean(line))
			}
		}
	}
	return dirs
}

// resolveLibrary finds the file of the library name that an object with
// deps loads: in its run path, then in dirs. A candidate must be of the
// same ELF class and machine: /usr/lib may hold 32-bit libraries.
func resolveLibrary(name string, deps elfDeps, dirs []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	search := append(append([]string{}, deps.RunPath...), dirs...)
	for _, d := range search {
		p := filepath.Join(d, name)
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		ok := f.Class == deps.Class && f.Machine == deps.Machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("library %s not found in %s", name, strings.Join(search, ":"))
}

// hostCopier copies host files into a rootfs at their host paths, each once.
type hostCopier struct {
	root   string
	dirs   []string
	copied map[string]bool
}

// copyProgram copies the program at path with everything it loads.
func (c *hostCopier) copyProgram(path string) error {
	if !isELF(path) {
		explain(featRoot, "%s is not an ELF binary: copied as it is.", path)
		return c.copy(path)
	}
	deps, err := readELFDeps(path)
	if err != nil {
		return err
	}
	explain(featRoot, "%s", describeDeps(path, deps))
	if err := c.copy(path); err != nil {
		return err
	}
	return c.copyDeps(deps)
}

// copyDeps copies the dynamic linker and the libraries of deps, and theirs.
func (c *hostCopier) copyDeps(deps elfDeps) error {
	paths := []string{}
	if deps.Interp != "" {
		paths = append(paths, deps.Interp)
	}
	for _, name := range deps.Needed {
		p, err := resolveLibrary(name, deps, c.dirs)
		if err != nil {
			return err
		}
		paths = append(paths, p)
	}
	for _, p := range paths {
		if c.copied[p] {
			continue
		}
		if err := c.copy(p); err != nil {
			return err
		}
		libDeps, err := readELFDeps(p)
		if err != nil {
			return err
		}
		if err := c.copyDeps(libDeps); err != nil {
			return err
		}
	}
	return nil
}

// copy copies the host file at path to the same path in the rootfs. A
// symlink's content is copied under the link's name, which is the name the
// dynamic linker asks for.
func (c *hostCopier) copy(path string) error {
	c.copied[path] = true
	return copyHostFile(path, filepath.Join(c.root, path))
}

// importRootfs unpacks the tar archive file into dir, then adds the
// directories run mounts on and our marker.
func importRootfs(file, dir string) (err error) {
	explain(featRoot, "Unpack %s into %s: an image's root filesystem is only files in a tar, with their modes and owners.", file, dir)
	undo, err := prepareRootfsDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	x := tarExtractor{root: dir}
	if err := x.extractFile(file); err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	if err := makeRootfsDirs(dir, mountPointDirs); err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	if err := writeRootfsFile(dir, rootfsMarker, fmt.Sprintf("imported by %s rootfs import from %s\n", programName(), file)); err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	explain(featRoot, "Unpacked %d files, %d directories and %d links into %s.", x.files, len(x.dirs), x.links, dir)
	if x.skippedDevices > 0 {
		explain(featRoot, "Skipped %d device nodes: mknod(2) needs CAP_MKNOD, and run mounts its own /dev anyway.", x.skippedDevices)
	}
	if x.unowned > 0 {
		explain(featRoot, "%d entries are owned by you, not by their owner in the archive: chown(2) needs root.", x.unowned)
	}
	return nil
}

// tarExtractor unpacks a tar archive below root, never writing outside it.
type tarExtractor struct {
	root           string
	dirs           []*tar.Header // modes and times are set last, see finishDirs
	files, links   int
	skippedDevices int
	unowned        int
}

// extractFile unpacks the archive in file, gzipped or not.
func (x *tarExtractor) extractFile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, tar.ErrHeader) {
			return fmt.Errorf("not a tar or tar.gz archive (%w)", err)
		}
		if err != nil {
			return err
		}
		if err := x.extract(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

// compressedMagic are the compressions we recognize but do not unpack.
var compressedMagic = []struct{ magic, tool string }{
	{"\xfd7zXZ\x00", "xz"},
	{"\x28\xb5\x2f\xfd", "zstd"},
	{"BZh", "bzip2"},
}

// decompress looks at the first bytes, not the file name, to tell gzip from
// a plain tar: docker export writes a plain tar whatever it is called.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	if bytes.HasPrefix(magic, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(br)
	}
	for _, c := range compressedMagic {
		if bytes.HasPrefix(magic, []byte(c.magic)) {
			return nil, fmt.Errorf("the archive is %s-compressed; unpack it first (%s -d) or give a tar or tar.gz", c.tool, c.tool)
		}
	}
	return br, nil
}

// rootfsRelPath cleans an entry name into a path relative to the rootfs.
// An absolute name is taken as relative, as tar does; a name that climbs
// out with ".." is refused.
func rootfsRelPath(name string) (string, error) {
	rel := filepath.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("entry %q points outside the rootfs; refusing it", name)
	}
	return rel, nil
}

// extract creates the entry hdr below root. It checks that no directory on
// the way is a symlink and replaces whatever is at the entry's own path, so
// an earlier entry "etc -> /" cannot make "etc/passwd" write to the host.
func (x *tarExtractor) extract(hdr *tar.Header, r io.Reader) error {
	name, err := rootfsRelPath(hdr.Name)
	if err != nil || name == "." {
		return err // "." is the rootfs itself, which exists
	}
	if err := checkParents(x.root, name); err != nil {
		return err
	}
	p := filepath.Join(x.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", filepath.Dir(p), err)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.makeDir(p, hdr)
	case tar.TypeReg:
		err = x.writeFile(p, hdr, r)
	case tar.TypeSymlink:
		err = x.symlink(p, hdr)
	case tar.TypeLink:
		return x.hardlink(p, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if made, err := x.mknod(p, hdr); err != nil || !made {
			return err
		}
	default:
		return nil // pax and GNU extension records carry no file
	}
	if err != nil {
		return err
	}
	return x.setAttrs(p, hdr)
}

// makeDir creates a directory, or keeps one already there; its mode, owner
// and time wait for finishDirs.
func (x *tarExtractor) makeDir(p string, hdr *tar.Header) error {
	if err := removeEntry(p, true); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	x.dirs = append(x.dirs, hdr)
	return nil
}

// writeFile creates a new file: O_EXCL and O_NOFOLLOW make sure it is a new
// file at p and not the target of a link.
func (x *tarExtractor) writeFile(p string, hdr *tar.Header, r io.Reader) error {
	if err := removeEntry(p, false); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	x.files++
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// symlink creates a symlink. Its target may be anything, even absolute: it
// is resolved inside the container, and we never follow it here.
func (x *tarExtractor) symlink(p string, hdr *tar.Header) error {
	if err := removeEntry(p, false); err != nil {
		return err
	}
	if err := os.Symlink(hdr.Linkname, p); err != nil {
		return fmt.Errorf("symlink %s: %w", p, err)
	}
	x.links++
	return nil
}

// hardlink links p to an earlier entry, which must be inside the rootfs and
// not reached through a symlink. link(2) does not follow a symlink at the
// target itself: it links the symlink.
func (x *tarExtractor) hardlink(p string, hdr *tar.Header) error {
	target, err := rootfsRelPath(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link %s: %w", hdr.Name, err)
	}
	if err := checkParents(x.root, target); err != nil {
		return fmt.Errorf("hard link %s: %w", hdr.Name, err)
	}
	if err := removeEntry(p, false); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(x.root, target), p); err != nil {
		return fmt.Errorf("hard link %s: %w", hdr.Name, err)
	}
	x.links++
	return nil
}

// mknod creates a device node or fifo; made is false for a device we may
// not create, which is skipped.
func (x *tarExtractor) mknod(p string, hdr *tar.Header) (made bool, err error) {
	if err := removeEntry(p, false); err != nil {
		return false, err
	}
	kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	err = unix.Mknod(p, kind|uint32(hdr.Mode&0o777), int(dev))
	if errors.Is(err, unix.EPERM) && hdr.Typeflag != tar.TypeFifo {
		x.skippedDevices++
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mknod %s: %w", p, err)
	}
	x.files++
	return true, nil
}

// setAttrs gives p the owner, mode and time of hdr. The owner comes first:
// chown(2) clears the setuid bit. Nothing here follows a symlink.
func (x *tarExtractor) setAttrs(p string, hdr *tar.Header) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
		x.unowned++ // not root, or the id is not mapped in our user namespace
	} else if err != nil {
		return fmt.Errorf("chown %s: %w", p, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		mode := hdr.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	if hdr.ModTime.IsZero() {
		return nil
	}
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", p, err)
	}
	return nil
}

// finishDirs sets the attributes of directories last: adding entries to a
// directory changes its mtime, and a read-only one must be filled first. A
// directory replaced by a later entry is skipped.
func (x *tarExtractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		name, _ := rootfsRelPath(x.dirs[i].Name)
		if err := checkParents(x.root, name); err != nil {
			continue
		}
		p := filepath.Join(x.root, name)
		if info, err := os.Lstat(p); err != nil || !info.IsDir() {
			continue
		}
		if err := x.setAttrs(p, x.dirs[i]); err != nil {
			return err
		}
	}
	return nil
}
