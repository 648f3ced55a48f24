package main

// setup.go prepares what the runtimes run: the box binary, one busybox
// root filesystem, a one-layer image of it for box (when box has images),
// and an OCI bundle of it for runc and crun.

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// imageName is the one-layer image box runs, imported from the rootfs.
const imageName = "bench-busybox:1"

// environment is everything measure needs, prepared once.
type environment struct {
	work     string
	launcher string // bench/launcher, built
	box      string
	rootfs   string
	bundle   string
	run      string // the runtimes' state, below: box, runc, crun
	state    string // "tmpfs" or "disk"
	stateDir string // box's --state-dir, private to the benchmark
	store    string // box's --store
	// boxRoot says what box's root is: an image's overlay, or --rootfs.
	boxRoot string
	// boxFeatures is what one --explain run of box showed it does.
	boxFeatures string
	// rootfsTar is the rootfs packed as a tar, box's one-layer image.
	rootfsTar string
	// boxRunc is the runc-compatible front door of box, if there is one.
	boxRunc string
	// cgroupNote says how crun was made to accept a hybrid host, if it was.
	cgroupNote string
	// notes are rows left out, and why.
	notes    []string
	versions []string
	runtimes []*runtimeUnderTest
	// layerRuns are box on images of each -layers count, measured apart.
	layerRuns []*runtimeUnderTest
	// engineRuns are the -engines rows (podman run), measured apart.
	engineRuns []*runtimeUnderTest
	podman     *podman
}

// prepare builds or finds every runtime and the root filesystem, and
// checks that each runtime runs /bin/true once. On failure it undoes what
// it did, but for files in the work directory.
func prepare(o options, work string) (env *environment, err error) {
	env = &environment{work: work, box: o.box, rootfs: o.rootfs, launcher: filepath.Join(work, "launcher"),
		run: filepath.Join(work, "run"), state: o.state, store: filepath.Join(work, "store")}
	env.stateDir = filepath.Join(env.run, "box")
	if err := os.Mkdir(env.run, 0o755); err != nil {
		return nil, err
	}
	if o.state == "tmpfs" {
		// We run in a mount namespace of our own (see runPrivate).
		if err := unix.Mount("tmpfs", env.run, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
			return nil, fmt.Errorf("mount a tmpfs on %s for the runtimes' state: %w", env.run, err)
		}
	}
	defer func() {
		if err != nil {
			env.close()
			env = nil
		}
	}()
	root, err := moduleRoot()
	if err != nil {
		return env, err
	}
	if err := goBuild(root, "./bench/launcher", env.launcher); err != nil {
		return env, err
	}
	if env.box == "" {
		env.box = filepath.Join(work, "box")
		if err := goBuild(root, "./final", env.box); err != nil {
			return env, err
		}
		// box's container side, which box finds next to itself, and its
		// runc command line for engines.
		for _, helper := range []string{"box-init", "box-runc"} {
			if _, err := os.Stat(filepath.Join(root, "final/cmd", helper)); err == nil {
				if err := goBuild(root, "./final/cmd/"+helper, filepath.Join(work, helper)); err != nil {
					return env, err
				}
			}
		}
	} else if env.box, err = filepath.Abs(env.box); err != nil {
		// box-runc below may be a symbolic link to it, made in another directory.
		return env, err
	}
	if env.rootfs == "" {
		builder := filepath.Join(work, "rootfs-builder")
		if err := goBuild(root, "./steps/01-chroot", builder); err != nil {
			return env, err
		}
		env.rootfs = filepath.Join(work, "rootfs")
		if b, err := exec.Command(builder, "rootfs", "build", env.rootfs).CombinedOutput(); err != nil {
			return env, fmt.Errorf("rootfs build %s: %v\n%s", env.rootfs, err, b)
		}
	}
	if env.rootfs, err = filepath.Abs(env.rootfs); err != nil {
		return env, err
	}
	if _, err := os.Lstat(filepath.Join(env.rootfs, "bin/true")); err != nil {
		return env, fmt.Errorf("rootfs %s has no /bin/true: give a busybox rootfs (a step's \"rootfs build DIR\")", env.rootfs)
	}
	env.boxRunc = o.boxRunc
	if beside := filepath.Join(filepath.Dir(env.box), "box-runc"); env.boxRunc == "" && isProgram(beside) {
		env.boxRunc = beside // make build's, or the one built above
	}
	if env.boxRunc == "" {
		// A box from before final/cmd/box-runc answers to the runc command
		// line when started under a name holding "runc". An older box does
		// not know runc's features command.
		env.boxRunc = filepath.Join(work, "box-runc")
		if err := os.Symlink(env.box, env.boxRunc); err != nil {
			return env, err
		}
		if exec.Command(env.boxRunc, "features").Run() != nil {
			env.notes = append(env.notes, "box-runc: TODO, left out: this box has no runc command line yet (final/oci.go)")
			env.boxRunc = ""
		}
	}
	for _, name := range strings.Split(o.runtimes, ",") {
		if strings.TrimSpace(name) == "" {
			continue // -runtimes "": only the -engines rows
		}
		r, err := env.newRuntime(strings.TrimSpace(name))
		if err != nil {
			return env, err
		}
		if r != nil {
			env.runtimes = append(env.runtimes, r)
		}
	}
	if err := env.prepareEngines(o.engines); err != nil {
		return env, err
	}
	if len(env.runtimes) == 0 && len(env.engineRuns) == 0 {
		return env, errors.New("no runtime to measure: see -runtimes and -engines")
	}
	counts, err := parseLayers(o.layers)
	if err != nil {
		return env, err
	}
	if len(counts) > 0 {
		if err := env.prepareBox(); err != nil {
			return env, err
		}
		if env.boxRoot != "image" {
			env.notes = append(env.notes, "layer rows: left out, this box has no images")
			counts = nil
		}
	}
	for _, n := range counts {
		if err := env.loadLayerImage(n); err != nil {
			return env, err
		}
		args := []string{env.box, "--state-dir", env.stateDir, "--store", env.store, "run", "--rm", layerImage(n), "/bin/true"}
		r, err := newRuntime(fmt.Sprintf("box %d layers", n), env.work, env.launcher, false, func(int) [][]string { return [][]string{args} })
		if err != nil {
			return env, err
		}
		r.layers = n
		env.layerRuns = append(env.layerRuns, r)
	}
	for _, r := range append(env.runtimes, env.layerRuns...) {
		if err := r.check(); err != nil {
			return env, err
		}
	}
	return env, nil
}

// close stops the runtimes' launchers and unmounts the state tmpfs.
func (env *environment) close() {
	env.closeEngines()
	for _, r := range append(env.runtimes, env.layerRuns...) {
		r.close()
	}
	if env.state == "tmpfs" {
		_ = unix.Unmount(env.run, unix.MNT_DETACH)
	}
}

// newRuntime prepares the runtime called name, or returns nil and a note
// for one that is not there yet (box-runc).
func (env *environment) newRuntime(name string) (*runtimeUnderTest, error) {
	switch name {
	case "box", "box-userns-host", "box-no-init", "box-as-crun":
		if err := env.prepareBox(); err != nil {
			return nil, err
		}
		args := []string{env.box, "--state-dir", env.stateDir, "--store", env.store, "run", "--rm"}
		switch name {
		case "box-userns-host":
			args = append(args, "--userns", "host")
		case "box-no-init":
			args = append(args, "--no-init")
		case "box-as-crun":
			// What crun's bundle asks for (runc spec): no user namespace,
			// no syscall filter, the rootfs directory itself as the root.
			args = append(args, "--userns", "host", "--security-opt", "seccomp=unconfined", "--rootfs", env.rootfs, "/bin/true")
			return newRuntime(name, env.work, env.launcher, false, func(int) [][]string { return [][]string{args} })
		}
		if env.boxRoot == "rootfs" {
			args = append(args, "--rootfs", env.rootfs)
		} else {
			args = append(args, imageName)
		}
		args = append(args, "/bin/true")
		return newRuntime(name, env.work, env.launcher, false, func(int) [][]string { return [][]string{args} })
	case "crun", "runc", "crun-oci", "runc-oci", "box-runc":
		tool := strings.TrimSuffix(name, "-oci")
		path, err := exec.LookPath(tool)
		if tool == "box-runc" {
			if env.boxRunc == "" {
				return nil, nil // a note says why
			}
			if _, err := os.Stat(env.boxRunc); err != nil {
				return nil, fmt.Errorf("-box-runc %s: %w", env.boxRunc, err)
			}
			path = env.boxRunc
		} else if err != nil {
			return nil, fmt.Errorf("%s is not installed: apt-get install -y runc crun (or leave it out with -runtimes)", tool)
		}
		if err := env.prepareBundle(); err != nil {
			return nil, err
		}
		if name == tool || tool == "box-runc" {
			env.versions = append(env.versions, version(path))
		}
		maskCgroup2 := false
		if tool == "crun" {
			maskCgroup2, env.cgroupNote = crunNeedsMask()
		}
		root := filepath.Join(env.run, tool)
		prefix := fmt.Sprintf("bench-%s-%d-", name, os.Getpid())
		if name == tool && tool != "box-runc" {
			return newRuntime(name, env.work, env.launcher, maskCgroup2, func(i int) [][]string {
				return [][]string{{path, "--root", root, "run", "--bundle", env.bundle, fmt.Sprintf("%s%d", prefix, i)}}
			})
		}
		// The OCI path, as a container engine drives it: create, start,
		// and delete --force (an engine waits for the exit through its
		// shim, which a benchmark has not; /bin/true is gone by then).
		return newRuntime(name, env.work, env.launcher, maskCgroup2, func(i int) [][]string {
			id := fmt.Sprintf("%s%d", prefix, i)
			return [][]string{
				{path, "--root", root, "create", "--bundle", env.bundle, id},
				{path, "--root", root, "start", id},
				{path, "--root", root, "delete", "--force", id},
			}
		})
	}
	return nil, fmt.Errorf("unknown runtime %q in -runtimes: choose from box, box-userns-host, box-no-init, box-as-crun, crun, runc, crun-oci, runc-oci, box-runc", name)
}

// prepareBox imports the rootfs as a one-layer image if box has images
// (box import), and records what one --explain run shows box doing.
func (env *environment) prepareBox() error {
	if env.boxRoot != "" {
		return nil
	}
	env.boxRoot = "rootfs"
	if exec.Command(env.box, "import", "--help").Run() == nil {
		tarball := filepath.Join(env.work, "rootfs.tar")
		if err := writeTar(env.rootfs, tarball); err != nil {
			return err
		}
		env.rootfsTar = tarball
		cmd := exec.Command(env.box, "--store", env.store, "import", tarball, imageName)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("box import: %v\n%s", err, b)
		}
		env.boxRoot = "image"
	}
	args := []string{"--explain", "--state-dir", env.stateDir, "--store", env.store, "run", "--rm"}
	if env.boxRoot == "rootfs" {
		args = append(args, "--rootfs", env.rootfs)
	} else {
		args = append(args, imageName)
	}
	out, err := exec.Command(env.box, append(args, "/bin/true")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("box --explain run: %v\n%s", err, out)
	}
	env.boxFeatures = features(string(out))
	return nil
}

// features sums up an --explain narration: which kernel features box used.
func features(narration string) string {
	var cgroupDirs, overlays int
	clone := ""
	for _, line := range strings.Split(narration, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "mkdir(\"/sys/fs/cgroup/"):
			cgroupDirs++
		case strings.HasPrefix(line, "mount(\"overlay\""):
			overlays++
		case strings.HasPrefix(line, "clone(flags=") && strings.Contains(line, "CLONE_NEW") && clone == "":
			// clone(flags=CLONE_PIDFD|CLONE_NEWNS|...|SIGCHLD) = PID: the
			// namespaces are the CLONE_NEW flags.
			f, _, _ := strings.Cut(strings.TrimPrefix(line, "clone(flags="), ")")
			var ns []string
			for _, flag := range strings.Split(f, "|") {
				if strings.HasPrefix(flag, "CLONE_NEW") {
					ns = append(ns, flag)
				}
			}
			clone = strings.Join(ns, "|")
		}
	}
	cgroup := "no cgroup"
	if cgroupDirs > 0 {
		cgroup = fmt.Sprintf("a cgroup (%d dirs)", cgroupDirs)
	}
	overlay := "no overlay"
	if overlays > 0 {
		overlay = "an overlay root"
	}
	return fmt.Sprintf("%s, %s, namespaces %s", cgroup, overlay, clone)
}

// prepareBundle makes the OCI bundle runc and crun run: the template of
// "runc spec" (or "crun spec"), made non-interactive, running /bin/true on
// the shared rootfs, which it may write to as box's may.
func (env *environment) prepareBundle() error {
	if env.bundle != "" {
		return nil
	}
	bundle := filepath.Join(env.work, "bundle")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		return err
	}
	var made bool
	for _, tool := range []string{"runc", "crun"} {
		if path, err := exec.LookPath(tool); err == nil {
			cmd := exec.Command(path, "spec")
			cmd.Dir = bundle
			if cmd.Run() == nil {
				made = true
				break
			}
		}
	}
	if !made {
		return errors.New("neither runc spec nor crun spec made a config.json: apt-get install -y runc crun")
	}
	file := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	process, ok := spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s has no process object", file)
	}
	process["terminal"] = false
	process["args"] = []string{"/bin/true"}
	spec["root"] = map[string]any{"path": env.rootfs, "readonly": false}
	if b, err = json.MarshalIndent(spec, "", "\t"); err != nil {
		return err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return err
	}
	env.bundle = bundle
	return nil
}

// crunNeedsMask tells whether crun needs the cgroup2 mount's controllers
// hidden: crun 1.8 refuses a hybrid host ("cgroups in hybrid mode not
// supported, drop all controllers from cgroupv2") when the cgroup2 mount
// at /sys/fs/cgroup/unified lists any controller.
func crunNeedsMask() (bool, string) {
	b, err := os.ReadFile(hybridControllers)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return false, ""
	}
	return true, fmt.Sprintf("crun runs in a private mount namespace with /dev/null over %s (it held %q; crun 1.8 refuses a hybrid host otherwise)",
		hybridControllers, strings.TrimSpace(string(b)))
}

// hybridControllers lists the controllers of a hybrid host's cgroup2 mount.
const hybridControllers = "/sys/fs/cgroup/unified/cgroup.controllers"

// version is the first line of PATH --version.
func version(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return filepath.Base(path) + " (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

// writeTar packs the directory dir into a tar file: directories, regular
// files and symlinks, with their modes and owners.
func writeTar(dir, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		case info.IsDir(), info.Mode().IsRegular():
		default:
			return nil // devices, sockets: the runtimes make /dev themselves
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pack %s into %s: %w", dir, file, err)
	}
	return nil
}

// checkLeftovers fails if a runtime left a container behind: box's state
// directory, runc's and crun's lists, or a mount below the work directory.
func (env *environment) checkLeftovers() error {
	var left []string
	if entries, err := os.ReadDir(filepath.Join(env.stateDir, "containers")); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				left = append(left, "box state "+e.Name())
			}
		}
	}
	for _, tool := range []string{"runc", "crun", "box-runc"} {
		path, err := exec.LookPath(tool)
		if tool == "box-runc" {
			path, err = env.boxRunc, nil
			if path == "" {
				continue
			}
		}
		if err != nil {
			continue
		}
		out, _ := exec.Command(path, "--root", filepath.Join(env.run, tool), "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			if strings.HasPrefix(id, "bench-") && strings.HasSuffix(strings.TrimSuffix(strings.TrimRight(id, "0123456789"), "-"), fmt.Sprint(os.Getpid())) {
				left = append(left, tool+" container "+id)
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// Field 5 is the mount point; the state tmpfs is ours.
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], env.work+"/") && f[4] != env.run {
				left = append(left, "mount "+f[4])
			}
		}
	}
	left = append(left, env.engineLeftovers()...)
	if len(left) > 0 {
		return fmt.Errorf("runtimes left behind: %s", strings.Join(left, ", "))
	}
	return nil
}

// isProgram tells whether path is an executable file (not a symbolic
// link: box's older builds linked box-runc to box).
func isProgram(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
