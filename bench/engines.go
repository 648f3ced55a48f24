package main

// engines.go measures box under a container engine: podman run --rm
// IMAGE /bin/true with --runtime box-runc against the same with crun
// (-engines podman). The rows show what a user of an engine waits for,
// and how much of it the runtime is: podman, conmon and podman's own
// cleanup come on top of the runtime's create, start and delete.
//
// podman gets a store, a run root, a temp dir and a containers.conf of
// its own in the work directory, and each row a cgroup parent of its own
// (box-bench-podman-ROW-PID, in every hierarchy), which close removes.
// The rows are measured apart from the runtimes' (podman takes turns only
// with podman) and stay out of the plot, whose scale they would flatten.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// engineReference is the row the podman rows are divided by.
const engineReference = "podman-crun"

// isEngine tells the rows that run a container through podman.
func isEngine(name string) bool { return strings.HasPrefix(name, "podman-") }

// podman is what the podman rows share: its binary, its dirs and config.
type podman struct {
	path    string
	conf    string   // containers.conf, passed as CONTAINERS_CONF
	global  []string // --root, --runroot, --tmpdir, --storage-driver
	parents map[string]string
	// runtimes are the rows' runtimes, which keep their state in their
	// default roots.
	runtimes []string
	dir      string
}

// podmanConf is podman's containers.conf: no network namespace (no CNI
// bridge to set up per run), cgroupfs (no systemd here), events in a
// file (no journald); the ulimits as on a host where podman's defaults
// work; image copies in the work directory, not /var/tmp.
const podmanConf = `[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
image_copy_tmp_dir = %q
`

// prepareEngines sets up the engines named in -engines (only podman so
// far), imports the rootfs as podman's image and checks each row once.
// A missing podman is a note, not an error: the rows are left out.
func (env *environment) prepareEngines(engines string) error {
	for _, name := range strings.Split(engines, ",") {
		switch strings.TrimSpace(name) {
		case "":
		case "podman":
			if err := env.preparePodman(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown engine %q in -engines: only podman is known", name)
		}
	}
	return nil
}

// preparePodman makes podman's dirs and config, imports the image and
// starts the launchers of the rows podman-crun and podman-box.
func (env *environment) preparePodman() error {
	path, err := exec.LookPath("podman")
	if err != nil {
		env.notes = append(env.notes, "podman rows: left out, podman is not installed (apt-get install -y podman)")
		return nil
	}
	type row struct{ name, runtime string }
	var rows []row
	if crun, err := exec.LookPath("crun"); err == nil {
		rows = append(rows, row{engineReference, crun})
	} else {
		env.notes = append(env.notes, "podman-crun: left out, crun is not installed (apt-get install -y crun); podman-box has no ratio")
	}
	if env.boxRunc != "" {
		rows = append(rows, row{"podman-box", env.boxRunc})
	} else {
		env.notes = append(env.notes, "podman-box: left out, this box has no runc command line")
	}
	if len(rows) == 0 {
		return nil
	}
	dir := filepath.Join(env.work, "podman")
	// The store is on the work directory's disk, as /var/lib/containers
	// is; the run root and temp dir are state, on the state tmpfs (or
	// disk, with -state disk), as /run/containers and /run/libpod are.
	p := &podman{path: path, conf: filepath.Join(dir, "containers.conf"), parents: map[string]string{}}
	p.global = []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(env.run, "podman", "runroot"),
		"--tmpdir", filepath.Join(env.run, "podman", "tmp"), "--storage-driver", "overlay"}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p.conf, []byte(fmt.Sprintf(podmanConf, filepath.Join(dir, "tmp"))), 0o644); err != nil {
		return err
	}
	p.dir = dir
	env.podman = p
	if env.rootfsTar == "" {
		env.rootfsTar = filepath.Join(env.work, "rootfs.tar")
		if err := writeTar(env.rootfs, env.rootfsTar); err != nil {
			return err
		}
	}
	if out, err := p.command("import", "-q", env.rootfsTar, imageName).CombinedOutput(); err != nil {
		return fmt.Errorf("podman import %s %s: %v\n%s", env.rootfsTar, imageName, err, strings.TrimSpace(string(out)))
	}
	env.versions = append(env.versions, version(path), version("conmon"))
	for _, row := range rows {
		p.parents[row.name] = fmt.Sprintf("/box-bench-%s-%d", row.name, os.Getpid())
		p.runtimes = append(p.runtimes, row.runtime)
		// The launcher's environment is PATH only; env(1) adds podman's
		// config (one exec more, in both rows alike).
		args := append([]string{"/usr/bin/env", "CONTAINERS_CONF=" + p.conf, path}, p.global...)
		args = append(args, "run", "--rm", "--runtime", row.runtime, "--cgroup-parent", p.parents[row.name], imageName, "/bin/true")
		mask := false
		if row.name == engineReference {
			// crun refuses a hybrid host unless the cgroup2 mount looks
			// empty; podman and everything it starts share the mask.
			mask, env.cgroupNote = crunNeedsMask()
		}
		r, err := newRuntime(row.name, env.work, env.launcher, mask, func(int) [][]string { return [][]string{args} })
		if err != nil {
			return err
		}
		env.engineRuns = append(env.engineRuns, r)
		if err := r.check(); err != nil {
			return err
		}
		env.notes = append(env.notes, fmt.Sprintf("%s: %s", row.name, commandLine(r.argv(0))))
	}
	env.notes = append(env.notes, fmt.Sprintf("  image: the rootfs tar, podman import; containers.conf: %s; the runtimes keep state in their default roots (podman 4.3 gives them no --root; with --runtime-flag root=DIR its cleanup left them behind)", p.conf))
	return nil
}

// command is podman with its config and dirs, run from the benchmark.
func (p *podman) command(args ...string) *exec.Cmd {
	cmd := exec.Command(p.path, append(p.global[:len(p.global):len(p.global)], args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

// measureEngines measures the podman rows in each mode, taking turns
// with each other only.
func measureEngines(env *environment, modes []mode, o options) ([][]summary, error) {
	if len(env.engineRuns) == 0 {
		return nil, nil
	}
	results := make([][]summary, len(modes))
	for i, m := range modes {
		samples, err := measure(env.engineRuns, m, o)
		if err != nil {
			return nil, err
		}
		for _, r := range env.engineRuns {
			results[i] = append(results[i], summarize(r.name, samples[r.name]))
		}
	}
	return results, nil
}

// withEngines is the runtimes' rows of each mode followed by the engines'.
func withEngines(results, engines [][]summary) [][]summary {
	if engines == nil {
		return results
	}
	table := make([][]summary, len(results))
	for i := range results {
		table[i] = append(append([]summary(nil), results[i]...), engines[i]...)
	}
	return table
}

// printEngineLegend says what the podman rows' columns hold. Their cpu
// and peak RSS are podman's process tree: podman, conmon --version and
// the runtime's start, which podman runs itself. conmon detaches (its
// first process forks and exits), so conmon, the runtime's create, the
// container and conmon's exit command (podman container cleanup, which
// ran the runtime's delete under strace here) are outside it; the row's
// cgroup parent holds them all, and its cpuacct.usage over every run of
// the row gives their CPU per run.
func printEngineLegend(w io.Writer, env *environment) {
	if len(env.engineRuns) == 0 {
		return
	}
	env.podman.drain()
	fmt.Fprintf(w, "(podman rows: /crun and RSS/crun divided by %s's row. Their cpu and peak RSS are podman's process tree:\n", engineReference)
	fmt.Fprintln(w, " podman, conmon --version, the runtime's start; peak RSS is podman's own. conmon detaches, so conmon, the runtime's")
	fmt.Fprintln(w, " create, the container and conmon's exit command (podman container cleanup, which runs the runtime's delete) are")
	fmt.Fprint(w, " outside the tree; their cpu per run, from the row's cgroup (cpuacct.usage):")
	for i, r := range env.engineRuns {
		usage, err := readInt(filepath.Join("/sys/fs/cgroup/cpuacct", env.podman.parents[r.name], "cpuacct.usage"))
		sep := ","
		if i == len(env.engineRuns)-1 {
			sep = ".)"
		}
		if err != nil || r.calls == 0 {
			fmt.Fprintf(w, " %s unknown%s", r.name, sep)
			continue
		}
		fmt.Fprintf(w, " %s %.2f ms%s", r.name, ms(time.Duration(usage/int64(r.calls))), sep)
	}
	fmt.Fprintln(w)
}

// drain waits, up to 10 s, until no process is left in the rows' cgroup
// parents: conmon and its cleanup command outlive podman run.
func (p *podman) drain() {
	deadline := time.Now().Add(10 * time.Second)
	for _, parent := range p.parents {
		for time.Now().Before(deadline) && len(p.procs(parent)) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// procs lists the pids in parent and its children, in the pids hierarchy
// (every process is in one cgroup of each v1 hierarchy).
func (p *podman) procs(parent string) []string {
	var pids []string
	_ = filepath.WalkDir(filepath.Join("/sys/fs/cgroup/pids", parent), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			if b, err := os.ReadFile(path); err == nil {
				pids = append(pids, strings.Fields(string(b))...)
			}
		}
		return nil
	})
	return pids
}

// engineLeftovers lists what the podman rows left: containers podman
// still knows, and container cgroups (libpod-ID) below the rows' parents.
func (env *environment) engineLeftovers() []string {
	p := env.podman
	if p == nil {
		return nil
	}
	p.drain()
	var left []string
	out, err := p.command("ps", "-aq").Output()
	if err != nil {
		left = append(left, "podman ps: "+err.Error())
	}
	for _, id := range strings.Fields(string(out)) {
		left = append(left, "podman container "+id)
	}
	for _, runtime := range p.runtimes {
		// Their list shows each container's bundle: podman's are in its
		// store, in the work directory.
		out, _ := exec.Command(runtime, "list").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 3 && strings.HasPrefix(f[3], p.dir+"/") {
				left = append(left, fmt.Sprintf("%s container %s", filepath.Base(runtime), f[0]))
			}
		}
	}
	for name, parent := range p.parents {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent, "libpod-*"))
		if len(dirs) > 0 {
			left = append(left, fmt.Sprintf("%s: %d container cgroups such as %s", name, len(dirs), dirs[0]))
		}
		if pids := p.procs(parent); len(pids) > 0 {
			left = append(left, fmt.Sprintf("%s: processes %s in %s", name, strings.Join(pids, " "), parent))
		}
	}
	return left
}

// closeEngines removes what the podman rows made outside the work
// directory: any container left (after a failure), through the launcher
// of podman-crun, whose mount namespace crun needs, and the rows' cgroup
// parents; then it stops their launchers. The store and the run root go
// with the work directory and the state tmpfs.
func (env *environment) closeEngines() {
	p := env.podman
	if p == nil {
		return
	}
	for _, r := range env.engineRuns {
		if r.requests != nil {
			args := append([]string{"/usr/bin/env", "CONTAINERS_CONF=" + p.conf, p.path}, p.global...)
			_, _ = r.launch([][]string{append(args, "rm", "--all", "--force", "--time", "0")})
			break
		}
	}
	for _, r := range env.engineRuns {
		r.close()
	}
	p.drain()
	p.unmount(filepath.Join(env.work, "podman"), filepath.Join(env.run, "podman"))
	for _, parent := range p.parents {
		// Children first: conmon's cgroup and any libpod-ID, then the
		// parent, in every hierarchy podman made it in.
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent, "*"))
		for _, dir := range dirs {
			if info, err := os.Stat(dir); err == nil && info.IsDir() {
				if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
					fmt.Fprintf(os.Stderr, "bench: remove cgroup %s: %v\n", dir, err)
				}
			}
		}
		tops, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent))
		for _, dir := range tops {
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(os.Stderr, "bench: remove cgroup %s: %v\n", dir, err)
			}
		}
	}
	env.podman = nil
}

// unmount detaches every mount below the dirs, deepest first, in the
// benchmark's mount namespace: podman's overlay driver binds its store
// onto itself, and a podman run that failed may leave a container's root
// mounted; either would keep the work directory from being removed.
func (p *podman) unmount(dirs ...string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		// Field 5 is the mount point.
		if f := strings.Fields(line); len(f) > 4 {
			for _, dir := range dirs {
				if f[4] == dir || strings.HasPrefix(f[4], dir+"/") {
					points = append(points, f[4])
				}
			}
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			fmt.Fprintf(os.Stderr, "bench: unmount %s: %v\n", points[i], err)
		}
	}
}

// readInt reads a file holding one decimal number.
func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
