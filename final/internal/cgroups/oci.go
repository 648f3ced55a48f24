package cgroups

// oci.go places an OCI container's cgroup where its config.json says
// (linux.cgroupsPath) instead of box-<id>: engines choose the path
// (podman /libpod_parent/libpod-<id>, docker /docker/<id>) and read the
// container's usage there themselves.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// File is a value to write into a control file of a container's cgroup,
// like memory.max; in v1 the name's prefix picks the hierarchy.
type File struct {
	Name, Value string
	// Why is the sentence narrated before the write; "" goes on with the
	// last one.
	Why string
	// Field is the config.json field the value comes from, for errors
	// (linux.resources.blockIO.weight).
	Field string
	// Else is written instead where the kernel has no file Name: the same
	// knob under another name (blkio.bfq.weight for blkio.weight).
	Else *File
}

// CreateAt makes the cgroup at path, sets its device rules and writes
// files, in order. An absolute path is from the root of each hierarchy,
// as runc reads it; a relative one is below our own cgroup. Directories
// that exist are used as they are. n is the cgroup version (Detect).
func CreateAt(n int, path string, devices []Device, files []File) (cg *Cgroup, err error) {
	v, err := versionOf(n)
	if err != nil {
		return nil, err
	}
	parents, err := v.parents()
	if err != nil {
		return nil, err
	}
	// Resources may need controllers box's own containers do not.
	if n == 1 {
		parents, err = ociV1Parents(parents, files)
	} else if len(parents) == 1 {
		parents[0], err = ociV2Controllers(parents[0], files, !filepath.IsAbs(path))
	}
	if err != nil {
		return nil, err
	}
	cg = &Cgroup{Version: n}
	defer func() {
		if err != nil {
			_, _ = cg.Remove()
			cg = nil
		}
	}()
	narrate.Explain(narrate.Cgroup, "Make the container's cgroup at %s, the path config.json gives (linux.cgroupsPath).", path)
	for _, p := range parents {
		top := p.Path
		if filepath.IsAbs(path) {
			top = hierarchyRoot(p.Path, n)
		}
		dir := filepath.Join(top, path)
		if err := mkdirAll(dir); err != nil {
			return cg, err
		}
		if n == 2 {
			if err := enableAlong(top, dir, p.Controllers); err != nil {
				return cg, err
			}
		} else if contains(p.Controllers, "cpuset") {
			if err := fillCpusets(top, filepath.Dir(dir)); err != nil {
				return cg, err
			}
		}
		cg.Dirs = append(cg.Dirs, Dir{Path: dir, Controllers: p.Controllers})
	}
	if err := v.configure(cg, Limits{}, devices); err != nil {
		return cg, err
	}
	for _, f := range files {
		if err := writeResource(cg, f); err != nil {
			return cg, err
		}
	}
	return cg, nil
}

// hierarchyRoot is the mount point of the hierarchy dir is in.
func hierarchyRoot(dir string, version int) string {
	if version == 2 {
		return Root
	}
	// The topmost directory still on the hierarchy's cgroup filesystem:
	// usually /sys/fs/cgroup/<controllers>, but a hierarchy may be
	// mounted anywhere.
	for {
		parent := filepath.Dir(dir)
		var st unix.Statfs_t
		if parent == dir || unix.Statfs(parent, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			return dir
		}
		dir = parent
	}
}

// mkdirAll makes dir and its missing parents, narrating each one made.
func mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	err := sys.Mkdir(dir, 0o755)
	if os.IsExist(err) {
		return nil
	}
	return err
}

// enableAlong hands controllers down every directory from top to dir's
// parent in v2: a controller reaches a cgroup only through its parent.
func enableAlong(top, dir string, controllers []string) error {
	rel, err := filepath.Rel(top, filepath.Dir(dir))
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil
	}
	path := top
	for _, part := range strings.Split(rel, "/") {
		if part == "." {
			continue
		}
		path = filepath.Join(path, part)
		if err := enableControllers(path, controllers); err != nil {
			return err
		}
	}
	return nil
}

// fillCpusets gives each cpuset from below top down to dir the CPUs and
// memory nodes of its parent where it has none: a new v1 cpuset starts
// empty, and its children copy from it.
func fillCpusets(top, dir string) error {
	rel, err := filepath.Rel(top, dir)
	if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
		return nil
	}
	path := top
	for _, part := range strings.Split(rel, "/") {
		parent := path
		path = filepath.Join(path, part)
		for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := os.ReadFile(filepath.Join(path, name))
			if err != nil || strings.TrimSpace(string(b)) != "" {
				continue
			}
			from, err := os.ReadFile(filepath.Join(parent, name))
			if err != nil {
				return fmt.Errorf("read %s: %w", filepath.Join(parent, name), err)
			}
			if err := sys.WriteFile(filepath.Join(path, name), strings.TrimSpace(string(from))); err != nil {
				return err
			}
		}
	}
	return nil
}
